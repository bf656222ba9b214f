#!/usr/bin/env bash
# Bundles the whole-model device check and the kiln CLI (koffi stays external: it is carried with its
# native addon). The CUDA backend is a separate bundle at cuda/index.js because the backend registry
# imports it by a computed path. Usage (repo root): scripts/cuda/bundle-model-check.sh
set -euo pipefail
B="node_modules/.bin/esbuild --bundle --platform=node --format=esm --target=node20 --external:koffi --log-level=warning"
$B scripts/cuda/model-check.ts --outfile=.device/cuda/model-check.mjs
$B scripts/cuda/kiln-entry.ts --outfile=.device/cuda/kiln.mjs \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
$B src/backends/cuda/index.ts --outfile=.device/cuda/cuda/index.js
# kiln serve's engine worker (worker-client.ts starts ./engine-worker.js beside the bundle)
$B src/server/engine-worker.ts --outfile=.device/cuda/engine-worker.js \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
ls -la .device/cuda/
