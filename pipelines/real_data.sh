#!/usr/bin/env bash
# Real-data SfM check (README table): SIFT and RELF, upright and randomly rotated,
# on hloc's Sacre Coeur photos and on Strecha fountain-P11 (with ground truth).
# Writes outputs/real_data/results.md. RELF uses the shipped weights (RANDOM_WEIGHTS=--random-weights: untrained).
# CPU: about 15-30 min on 2 shared cores. Outputs go to outputs/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${RELF_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
RANDOM_WEIGHTS=${RANDOM_WEIGHTS-}  # set to --random-weights for an untrained network

nice $PY pipelines/sfm_real_data.py --data "$DATA" --scenes sacre_coeur,fountain-P11 --outputs outputs/real_data \
    --methods sift,relf-fast $RANDOM_WEIGHTS --rotations none,random --seeds 0,1,2
