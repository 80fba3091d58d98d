#!/usr/bin/env bash
# The long training run of the winning recipe (configs/train/long.yaml): resumable, and it
# survives losing its run folder. Every validation exports the latest weights to
# training/long_run/last.pth and every improvement to best.pth (float16, committed),
# so on a new machine the run goes on from last.pth: same schedule position, best score and
# logs (train.csv, val.csv, train.log), a fresh optimiser state.
#   bash scripts/long_run.sh [--max-steps N] [--set key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/long}
COMMITTED=training/long_run
if [ -f "$OUT/last.pth" ]; then
  start=(--resume "$OUT/last.pth")
elif [ -f "$COMMITTED/last.pth" ] || [ -f "$COMMITTED/best.pth" ]; then
  mkdir -p "$OUT"
  for f in train.csv val.csv train.log; do cp "$COMMITTED/$f" "$OUT/$f"; done
  weights=$COMMITTED/last.pth; [ -f "$weights" ] || weights=$COMMITTED/best.pth
  start=(--resume "$weights")
else
  start=()  # the config's init_weights: training/cpu_long/best.pth
fi
# the logs go with the committed last.pth, also when the trainer is stopped or fails
copy_logs() { for f in config.yaml train.csv val.csv train.log; do [ ! -f "$OUT/$f" ] || cp "$OUT/$f" "$COMMITTED/$f"; done; }
trap copy_logs EXIT
relf-hloc train --config configs/train/long.yaml --outputs "$OUT" "${start[@]}" "$@"
