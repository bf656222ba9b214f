"""Same-card peer baselines for issue 6: Hugging Face transformers on Llama-3-8B shapes.

Runs on the GPU machine (python3 with torch + transformers, no network). Measures the card's
own ceilings first (device-to-device copy bandwidth, a large BF16 GEMM), then HF transformers:
eager `generate`, static cache + torch.compile at batch 1, and `generate_batch` (continuous
batching) when this transformers version has it. Random BF16 weights, fixed seeds. Writes one
JSON document (--out) whose figures go into docs/PERFORMANCE.md beside Kiln's same-run numbers.
First run: 2026-11-24 on an H100 (docs/bench/h100-hf-peers.json); torch.compile with a static
cache did not finish compiling inside that call's limit, so give it its own call.

Usage: python3 scripts/bench/hf_peers.py --out $OUT/hf_peers.json [--layers 32] [--budget_s 420]
Every scenario is bounded by the time budget; offline throughput runs a prefix of the requests
and says how many it measured (never extrapolated beyond the measured requests' own rate).
"""
import argparse
import json
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def timed(fn, warmup=1, iters=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def ceilings():
    n = 1 << 29  # 512 Mi bf16 elements = 1 GiB per buffer
    src = torch.randn(n, dtype=torch.bfloat16, device="cuda")
    dst = torch.empty_like(src)
    ms = timed(lambda: dst.copy_(src), warmup=3, iters=20)
    copy_gbs = 2 * src.numel() * 2 / (ms / 1e3) / 1e9
    del src, dst
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    ms = timed(lambda: a @ b, warmup=3, iters=10)
    gemm_tflops = 2 * 8192 ** 3 / (ms / 1e3) / 1e12
    del a, b
    torch.cuda.empty_cache()
    return {"copy_GBps": copy_gbs, "bf16_gemm_8192_TFLOPs": gemm_tflops}


def llama3_8b(layers):
    return LlamaConfig(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=layers,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=8192,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
    )


def make_model(layers):
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(llama3_8b(layers))
    torch.set_default_dtype(torch.float32)
    model.eval()
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = None
    return model


def ids(batch, length, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(256, 128000, (batch, length), generator=g).cuda()


@torch.inference_mode()
def gen(model, x, new, **kw):
    return model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new, min_new_tokens=new, do_sample=False, **kw)


def decode_rate(model, ctx, new, **kw):
    x = ids(1, ctx, ctx)
    t_first = timed(lambda: gen(model, x, 1, **kw), warmup=1, iters=3)
    t_all = timed(lambda: gen(model, x, new, **kw), warmup=1, iters=3)
    return {"context": ctx, "new_tokens": new, "ttft_ms": t_first, "decode_tok_s": (new - 1) / ((t_all - t_first) / 1e3)}


def offline(model, isl, osl, num_requests, batch, deadline):
    done, t0 = 0, time.perf_counter()
    while done < num_requests and time.perf_counter() < deadline:
        b = min(batch, num_requests - done)
        gen(model, ids(b, isl, done), osl)
        done += b
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    return {"isl": isl, "osl": osl, "requests_asked": num_requests, "requests_measured": done, "batch": batch,
            "seconds": secs, "output_tok_s": done * osl / secs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--budget_s", type=float, default=420)
    ap.add_argument("--skip_compile", action="store_true", help="skip the torch.compile scenario (minutes of compiling)")
    args = ap.parse_args()
    start = time.perf_counter()
    report = {"torch": torch.__version__, "transformers": transformers.__version__,
              "device": torch.cuda.get_device_name(0), "layers": args.layers, "results": {}}
    report["ceilings"] = ceilings()
    print(json.dumps(report["ceilings"]), flush=True)
    model = make_model(args.layers)
    r = report["results"]

    def save():
        report["wall_s"] = time.perf_counter() - start
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)

    def run(name, fn):
        if time.perf_counter() - start > args.budget_s:
            r[name] = {"skipped": "time budget spent"}
            return
        try:
            r[name] = fn()
        except Exception as e:  # a peer that cannot run a scenario is recorded, not fatal
            r[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(name, json.dumps(r[name]), flush=True)
        save()  # after every scenario, so a run cut short still leaves its measurements

    run("eager_decode_ctx128", lambda: decode_rate(model, 128, 128))
    run("eager_decode_ctx2048", lambda: decode_rate(model, 2048, 128))
    run("eager_ttft_1024", lambda: {"ttft_ms": timed(lambda: gen(model, ids(1, 1024, 7), 1), warmup=1, iters=5)})
    deadline = lambda share: time.perf_counter() + share * max(0.0, args.budget_s - (time.perf_counter() - start))
    run("eager_offline_128_128", lambda: offline(model, 128, 128, 1024, 64, deadline(0.2)))
    run("eager_offline_2048_128", lambda: offline(model, 2048, 128, 512, 16, deadline(0.25)))
    run("eager_offline_1000_1000", lambda: offline(model, 1000, 1000, 512, 64, deadline(0.3)))
    if hasattr(model, "generate_batch"):
        def cb():
            from transformers import GenerationConfig
            reqs = [ids(1, 128, i)[0].tolist() for i in range(256)]
            cfg = GenerationConfig(max_new_tokens=128, do_sample=False, eos_token_id=None, pad_token_id=0)
            t0 = time.perf_counter()
            out = model.generate_batch(inputs=reqs, generation_config=cfg)
            secs = time.perf_counter() - t0
            return {"isl": 128, "osl": 128, "requests_measured": len(reqs), "seconds": secs,
                    "output_tok_s": sum(len(o.generated_tokens) for o in out.values()) / secs}
        run("generate_batch_128_128", cb)
    else:
        r["generate_batch_128_128"] = {"skipped": "this transformers has no generate_batch"}

    def compiled():
        model.generation_config.cache_implementation = "static"
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
        return decode_rate(model, 128, 128)
    if args.skip_compile:
        r["compile_static_decode_ctx128"] = {"skipped": "--skip_compile"}
    else:
        run("compile_static_decode_ctx128", compiled)
    save()
    print("wrote", args.out, flush=True)


if __name__ == "__main__":
    main()
