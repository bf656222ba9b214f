#!/usr/bin/env bash
# Bundles issue 8's device entry and the kiln CLI into .device/cuda/ (beside cuda/index.js, which the
# backend registry imports by a computed path). koffi stays external (carried with its native addon).
# Usage (repo root): scripts/tp/bundle.sh
set -euo pipefail
B="node_modules/.bin/esbuild --bundle --platform=node --format=esm --target=node20 --external:koffi --log-level=warning"
BANNER="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
mkdir -p .device/cuda
$B scripts/tp/tp-entry.ts --outfile=.device/cuda/tp-entry.mjs --banner:js="$BANNER"
$B scripts/cuda/kiln-entry.ts --outfile=.device/cuda/kiln.mjs --banner:js="$BANNER"
$B src/backends/cuda/index.ts --outfile=.device/cuda/cuda/index.js
ls -la .device/cuda/
