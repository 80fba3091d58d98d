#!/usr/bin/env bash
# Homography benchmarks on the shared HPatches sequences and the Roto-360-layout set
# generated from them: writes results/hpatches/ and results/hpatches-roto360/.
# Features and generated images go to outputs/compare/ (git-ignored); reruns resume.
#   scripts/benchmarks.sh                 # CPU: 3-level RELF pyramid, shipped weights
#   scripts/benchmarks.sh --methods sift,relf,relf-multi   # the paper's 9-level pyramid
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${RELF_SHARED_DATA:-../shared/data}"
exec nice relf-hloc compare --dataset "$DATA/hpatches" "$@"
