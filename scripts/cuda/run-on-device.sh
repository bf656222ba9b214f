#!/usr/bin/env bash
# The remote command for the GPU machine (after scripts/cuda/bundle.sh here). Carry:
#   .device node_modules/koffi node_modules/@koromix
# Writes $OUT/cuda-report.json, $OUT/cuda-report.md, $OUT/check.log, $OUT/gemm-timing-cache.json.
set -uo pipefail
source .device/env.sh
node --version
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$OUT/nvidia-smi.txt"
KILN_KERNEL_DIR=src/backends/cuda/kernels timeout 300 node .device/cuda/check.mjs 2>&1 | tee "$OUT/check.log"
exit "${PIPESTATUS[0]}"
