"""Check (c) of issue 5 phase 2, HF side: a Llama-3-8B-shaped model (hidden 4096, intermediate
14336, 32 heads / 8 KV heads, head_dim 128, vocab 128256) with NUM_LAYERS layers and random weights
(HF's own init: normal std 0.02, norms 1, torch seed 0), saved as safetensors for Kiln to convert,
plus HF transformers BF16 next-token top-1 at every position of seeded random prompts.
HF runs in bfloat16 (sdpa); its logits are taken in float32 from the final bf16 hidden state
(h.float() @ W.float().T), as the Kiln CUDA context computes them (bf16 GEMM, f32 output), so the
comparison is not blurred by HF rounding its logits to bf16. Also HF in float32 on the same (bf16-exact)
weights, the reference for both. Usage: python3 hf_llama8b.py OUT_DIR [LAYERS]"""
import json, os, sys, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
layers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
os.makedirs(out, exist_ok=True)
cfg = LlamaConfig(
    vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=layers,
    num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=131072,
    rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001,
    rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    initializer_range=0.02)
t0 = time.time()
torch.manual_seed(0)
with torch.device("cuda"):
    init = LlamaForCausalLM(cfg)
# Saved as bf16, then reloaded with from_pretrained as users load models: `.to(bfloat16)` on a live
# model would also round the rotary inv_freq buffer to bf16 (HF keeps it float32 when loading).
init.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
del init
print(f"saved {layers}-layer model to {out} in {time.time() - t0:.1f} s", flush=True)
model = LlamaForCausalLM.from_pretrained(out, dtype=torch.bfloat16, attn_implementation="sdpa").cuda().eval()
rot = getattr(model.model, "rotary_emb", None)
print(f"HF BF16: rotary inv_freq {getattr(getattr(rot, 'inv_freq', None), 'dtype', '?')}, attention {getattr(model.config, '_attn_implementation', '?')}", flush=True)

g = torch.Generator().manual_seed(1)
num_prompts = 24
lens = torch.randint(16, 201, (num_prompts,), generator=g).tolist()
prompts = [torch.randint(0, cfg.vocab_size, (n,), generator=g).tolist() for n in lens]
W = model.lm_head.weight.float()
res = []
with torch.no_grad():
    for p in prompts:
        ids = torch.tensor([p], device="cuda")
        h = model.model(input_ids=ids).last_hidden_state[0]  # bf16 [L, H], after the final norm
        logits = h.float() @ W.T
        top2 = logits.topk(2, dim=-1)
        bf16_top1 = model(input_ids=ids).logits[0].argmax(-1)
        res.append({"input_ids": p, "top1": top2.indices[:, 0].tolist(),
                    "margin": (top2.values[:, 0] - top2.values[:, 1]).tolist(),
                    "bf16_logits_top1": bf16_top1.tolist()})
# The same weights in float32 (bf16 values upcast exactly), computed in float32: the reference both
# HF BF16 and Kiln are measured against, so HF BF16's own agreement gives the bf16 noise floor.
del model
torch.cuda.empty_cache()
model = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="sdpa").cuda().eval()
with torch.no_grad():
    for p, r in zip(prompts, res):
        logits = model(input_ids=torch.tensor([p], device="cuda")).logits[0].float()
        top2 = logits.topk(2, dim=-1)
        r["f32_top1"] = top2.indices[:, 0].tolist()
        r["f32_margin"] = (top2.values[:, 0] - top2.values[:, 1]).tolist()
json.dump({"versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
           "layers": layers, "prompts": res}, open(os.path.join(out, "hf_top1.json"), "w"))
print(f"HF reference: {num_prompts} prompts, {sum(lens)} positions, in {time.time() - t0:.1f} s", flush=True)
