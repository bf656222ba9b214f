#!/usr/bin/env bash
# Bundles the device check into one ESM file (koffi stays external: it is carried with its native addon).
# Usage (from the repo root): scripts/cuda/bundle.sh   → .device/cuda/check.mjs
set -euo pipefail
node_modules/.bin/esbuild scripts/cuda/check.ts --bundle --platform=node --format=esm --target=node20 \
  --external:koffi --outfile=.device/cuda/check.mjs --log-level=warning
ls -la .device/cuda/check.mjs
