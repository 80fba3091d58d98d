#!/usr/bin/env bash
# Real-data SfM check (README table): SIFT and RELF, upright and randomly rotated,
# on hloc's Sacre Coeur photos and on Strecha fountain-P11 (with ground truth).
# RELF uses the shipped weights (RANDOM_WEIGHTS=--random-weights: untrained).
# CPU: about 15-30 min on 2 shared cores. Outputs go to outputs/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${RELF_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
RANDOM_WEIGHTS=${RANDOM_WEIGHTS-}  # set to --random-weights for an untrained network

nice $PY pipelines/sfm_real_data.py --images "$DATA/sacre_coeur" --outputs outputs/sacre_coeur \
    --methods sift,relf-fast $RANDOM_WEIGHTS --seeds 0,1,2
nice $PY pipelines/sfm_real_data.py --scene "$DATA/strecha/fountain-P11" --format strecha \
    --max-size 1024 --outputs outputs/fountain-P11 --methods sift,relf-fast $RANDOM_WEIGHTS --seeds 0,1,2
