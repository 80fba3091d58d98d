#!/usr/bin/env bash
# The long training run of the winning recipe (configs/train/long.yaml): resumable, and it
# survives losing its run folder. Every improvement of the validation score is exported to
# relf_hloc/weights/long_run/best.pth (float16, committed), so on a new machine the run goes on
# from that file: same schedule position and logs (train.csv, val.csv, train.log), a fresh
# optimiser state.
#   bash scripts/long_run.sh [--max-steps N] [--set key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/long}
BEST=relf_hloc/weights/long_run/best.pth
if [ -f "$OUT/last.pth" ]; then
  start=(--resume "$OUT/last.pth")
elif [ -f "$BEST" ]; then
  mkdir -p "$OUT"
  for f in train.csv val.csv train.log; do cp "relf_hloc/weights/long_run/$f" "$OUT/$f"; done
  start=(--resume "$BEST")
else
  start=()  # the config's init_weights: relf_hloc/weights/cpu_long/best.pth
fi
relf-hloc train --config configs/train/long.yaml --outputs "$OUT" "${start[@]}" "$@"
for f in config.yaml train.csv val.csv train.log; do [ -f "$OUT/$f" ] && cp "$OUT/$f" "relf_hloc/weights/long_run/$f"; done
