#!/usr/bin/env bash
# Bundles what scripts/cuda/run-bench-suite.sh and scripts/bench/run-quant.sh run on the GPU machine:
# the device-sampling check, the kiln CLI, the bench serve entry/merge/summary helpers, the per-op
# profiler (scripts/cuda/profile-ops.ts) and the CUDA backend (loaded by a computed
# path, so a separate bundle at cuda/index.js). Usage (repo root): scripts/cuda/bundle-bench-suite.sh
set -euo pipefail
B="node_modules/.bin/esbuild --bundle --platform=node --format=esm --target=node20 --external:koffi --log-level=warning"
R="--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
$B scripts/cuda/check-device-sampling.ts --outfile=.device/cuda/sampling-check.mjs "$R"
$B scripts/cuda/kiln-entry.ts --outfile=.device/cuda/kiln.mjs "$R"
$B scripts/cuda/serve-entry.ts --outfile=.device/cuda/serve.mjs "$R"
$B scripts/cuda/serve-merge.ts --outfile=.device/cuda/serve-merge.mjs "$R"
$B scripts/cuda/bench-summary.ts --outfile=.device/cuda/bench-summary.mjs
$B scripts/cuda/profile-ops.ts --outfile=.device/cuda/profile-ops.mjs "$R"
$B src/backends/cuda/index.ts --outfile=.device/cuda/cuda/index.js
ls -la .device/cuda/
