"""Same-card peer baselines for issue 6: Hugging Face transformers on Llama-3-8B shapes.

Runs on the GPU machine (python3 with torch + transformers, no network), in phases, each its own
process so that one hang (torch.compile) cannot lose the others' numbers:
  --phase ceilings  the card's own ceilings (device-to-device copy bandwidth, a large BF16 GEMM);
  --phase eager     ceilings, then HF eager `generate` (batch-1 decode, TTFT, offline throughput)
                    and `generate_batch` (continuous batching) when this transformers has it;
  --phase compile   static cache + torch.compile at batch 1 (transformers' own decode compile when
                    it has CompileConfig, else torch.compile(model.forward)); the compile time is
                    measured and, if the budget runs out first, the JSON says so with the time spent.
Random BF16 weights, fixed seeds. Writes one JSON document (--out), rewritten after every scenario,
whose figures go into docs/PERFORMANCE.md beside Kiln's same-run numbers.

Usage: python3 scripts/bench/hf_peers.py --out $OUT/hf_peers.json [--phase eager] [--layers 32] [--budget_s 140]
Every scenario is bounded by the time budget; offline throughput runs a prefix of the requests
and says how many it measured (never extrapolated beyond the measured requests' own rate).
"""
import argparse
import json
import signal
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


def decode_rate(model, ctx, new, iters=2, **kw):
    x = ids(1, ctx, ctx)
    t_first = timed(lambda: gen(model, x, 1, **kw), warmup=1, iters=iters)
    t_all = timed(lambda: gen(model, x, new, **kw), warmup=1, iters=iters)
    return {"context": ctx, "new_tokens": new, "ttft_ms": t_first, "decode_tok_s": (new - 1) / ((t_all - t_first) / 1e3)}


def offline(model, isl, osl, num_requests, batch, deadline):
    """Batches of `batch` requests until all are done or the deadline passes (at least one batch)."""
    done, t0 = 0, time.perf_counter()
    while done < num_requests and (done == 0 or time.perf_counter() < deadline):
        b = min(batch, num_requests - done)
        gen(model, ids(b, isl, done), osl)
        done += b
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    return {"isl": isl, "osl": osl, "requests_asked": num_requests, "requests_measured": done, "batch": batch,
            "seconds": secs, "output_tok_s": done * osl / secs}


class BudgetSpent(Exception):
    pass


class Stamps:
    """A generate() streamer that timestamps each new token (reading the ids waits for the GPU)."""

    def __init__(self):
        self.times = []
        self.prompt_seen = False

    def put(self, value):
        if not self.prompt_seen:  # generate() first puts the prompt
            self.prompt_seen = True
            return
        value.cpu()
        self.times.append(time.perf_counter())

    def end(self):
        pass


def stamped(model, x, new):
    """One generate() call: (TTFT ms, steady decode tok/s over the tokens after the second)."""
    s = Stamps()
    t0 = time.perf_counter()
    gen(model, x, new, streamer=s)
    t = s.times
    return (t[0] - t0) * 1e3, (len(t) - 2) / (t[-1] - t[1])


def compiled_decode(model, mode, budget_s, note, new=64):
    """Static cache + torch.compile at batch 1, context 128: compile time, then the decode rate.
    Every call uses the same max_new_tokens (the static cache's length is prompt + max_new_tokens, and
    another length recompiles); TTFT and decode rate come from per-token timestamps (a streamer).
    SIGALRM ends it when the budget is spent; `note` records progress so a kill still leaves a trace."""
    def on_alarm(signum, frame):
        raise BudgetSpent()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(budget_s)))
    t0 = time.perf_counter()
    out = {"mode": mode, "context": 128, "new_tokens": new, "budget_s": budget_s}
    try:
        model.generation_config.cache_implementation = "static"
        try:
            from transformers import CompileConfig  # transformers compiles the decode step itself
            model.generation_config.compile_config = CompileConfig(mode=mode, fullgraph=True)
            out["strategy"] = "generation_config.compile_config (decode step compiled by transformers)"
        except ImportError:
            model.forward = torch.compile(model.forward, mode=mode, fullgraph=True)
            out["strategy"] = "torch.compile(model.forward)"
        note(dict(out, status="compiling"))
        x = ids(1, 128, 128)
        stamped(model, x, new)  # compiles
        from torch._dynamo.utils import counters
        if int(counters["stats"]["unique_graphs"]) == 0:  # this transformers did not compile on its own
            model.forward = torch.compile(model.forward, mode=mode, fullgraph=True)
            out["strategy"] = "torch.compile(model.forward) (the compile_config path compiled nothing)"
            note(dict(out, status="compiling"))
            stamped(model, x, new)
        out["compile_s"] = time.perf_counter() - t0
        out["dynamo_unique_graphs"] = int(counters["stats"]["unique_graphs"])
        note(dict(out, status="compiled, measuring"))
        stamped(model, x, new)  # CUDA graphs of reduce-overhead are recorded on the first calls after compiling
        runs = [stamped(model, x, new) for _ in range(3)]
        out["ttft_ms"] = sorted(r[0] for r in runs)[1]
        out["decode_tok_s"] = sorted(r[1] for r in runs)[1]
        out["dynamo_unique_graphs_after"] = int(counters["stats"]["unique_graphs"])
        out["status"] = "ok"
    except BudgetSpent:
        out["status"] = "budget spent"
        out["spent_s"] = time.perf_counter() - t0
    finally:
        signal.alarm(0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--phase", choices=["ceilings", "eager", "compile"], default="eager")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--budget_s", type=float, default=140)
    ap.add_argument("--compile_mode", default="reduce-overhead", help="torch.compile mode for --phase compile")
    args = ap.parse_args()
    start = time.perf_counter()
    report = {"phase": args.phase, "torch": torch.__version__, "transformers": transformers.__version__,
              "device": torch.cuda.get_device_name(0), "layers": args.layers, "budget_s": args.budget_s, "results": {}}
    r = report["results"]

    def save():
        report["wall_s"] = time.perf_counter() - start
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)

    if args.phase in ("ceilings", "eager"):
        report["ceilings"] = ceilings()
        print(json.dumps(report["ceilings"]), flush=True)
        save()
    if args.phase == "ceilings":
        return
    model = make_model(args.layers)
    if args.phase == "compile":
        def note(partial):
            r["compile_static_decode_ctx128"] = partial
            save()
        note({"status": "starting"})
        r["compile_static_decode_ctx128"] = compiled_decode(model, args.compile_mode, args.budget_s - (time.perf_counter() - start), note)
        print("compile_static_decode_ctx128", json.dumps(r["compile_static_decode_ctx128"]), flush=True)
        save()
        return
    eager(model, args, start, r, save)
    save()
    print("wrote", args.out, flush=True)


def eager(model, args, start, r, save):
    def left():
        return max(0.0, args.budget_s - (time.perf_counter() - start))

    def run(name, fn):
        if left() <= 0:
            r[name] = {"skipped": "time budget spent"}
            return
        try:
            r[name] = fn()
        except Exception as e:  # a peer that cannot run a scenario is recorded, not fatal
            r[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(name, json.dumps(r[name]), flush=True)
        save()  # after every scenario, so a run cut short still leaves its measurements

    run("eager_decode_ctx128", lambda: decode_rate(model, 128, 64))
    run("eager_decode_ctx2048", lambda: decode_rate(model, 2048, 64))
    run("eager_ttft_1024", lambda: {"ttft_ms": timed(lambda: gen(model, ids(1, 1024, 7), 1), warmup=1, iters=3)})
    deadline = lambda share: time.perf_counter() + share * left()
    run("eager_offline_128_128", lambda: offline(model, 128, 128, 1024, 64, deadline(0.15)))
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
    run("eager_offline_2048_128", lambda: offline(model, 2048, 128, 512, 16, deadline(0.3)))
    # One 1000/1000 batch of 64 took 84 s on an H100 (2026-11-25): run it only if a batch fits what is left.
    per_step = r.get("eager_offline_128_128", {}).get("seconds", 0) / max(1, r.get("eager_offline_128_128", {}).get("requests_measured", 0) / 64) / 128
    estimate = 2.5 * per_step * 1000
    if per_step > 0 and estimate > left():
        r["eager_offline_1000_1000"] = {"skipped": f"one batch of 64 needs about {estimate:.0f} s (2.5 x the 128/128 step time x 1000 steps); {left():.0f} s of the budget left"}
    else:
        run("eager_offline_1000_1000", lambda: offline(model, 1000, 1000, 512, 64, deadline(1.0)))


if __name__ == "__main__":
    main()
