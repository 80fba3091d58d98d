#!/usr/bin/env bash
# The training-recipe study: fine-tune the 15,500-step weights (training/cpu_long/,
# configs/train/finetune.yaml) with each variant of configs/train/study/ (same seed, same steps
# x pixels), one after another so machine noise hits all alike; then score every best.pth with
# those weights and SIFT in one run (python scripts/score_weights.py --weights
# training/cpu_long/best.pth runs/study/*/best.pth).
#   bash scripts/recipe_study.sh [VARIANT ...]     # default: every file in configs/train/study/
#   STUDY=teacher bash scripts/recipe_study.sh     # the teacher study: configs/train/teacher/, runs/teacher/
# Resumable: a finished variant is skipped, a stopped one resumes from its last.pth.
set -euo pipefail
cd "$(dirname "$0")/.."
study=${STUDY:-study}
runs=${RUNS:-runs/$study}
mkdir -p "$runs"
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=($(ls "configs/train/$study" | sed 's/\.yaml$//'))
for v in "${variants[@]}"; do
  out="$runs/$v"
  if [ -f "$out/done" ]; then echo "study: $v done"; continue; fi
  resume=()
  [ -f "$out/last.pth" ] && resume=(--resume "$out/last.pth")
  echo "study: training $v"
  relf-hloc train --config "configs/train/$study/$v.yaml" --outputs "$out" "${resume[@]}" >> "$runs/$v.log" 2>&1
  touch "$out/done"
done
