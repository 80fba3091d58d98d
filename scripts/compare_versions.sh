#!/usr/bin/env bash
# Features and matches files of two versions of the code, compared file by file (a refactoring
# must leave them equal).
#   bash scripts/compare_versions.sh REV IMAGE_DIR [OUT_DIR]
# Extracts with every OpenCV conf and the RELF confs below (300 keypoints), matches relf-fast
# (relf-nn) and sift (nn-ratio), with the code at REV (a temporary git worktree) and with the
# working tree, then runs scripts/compare_features.py on the two folders.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$1 images=$(realpath "$2") out=$(realpath -m "${3:-outputs/compare_versions}")
tree=$(mktemp -d)
git worktree add -q --detach "$tree" "$rev"
trap 'git worktree remove --force "$tree"' EXIT
run() {  # $1: code tree, $2: output folder
  local py="python -m relf_hloc.cli"
  for conf in sift rootsift orb relf-fast relf-fast-multi relf-det-fast relf-single; do
    (cd "$1" && $py extract --images "$images" --output "$2/$conf.h5" --conf "$conf" --max-keypoints 300 > /dev/null)
  done
  (cd "$1" && $py pairs --images "$images" --output "$2/pairs.txt" > /dev/null)
  (cd "$1" && $py match --pairs "$2/pairs.txt" --features "$2/relf-fast.h5" --output "$2/matches-relf-fast.h5" \
      --conf relf-nn > /dev/null)
  (cd "$1" && $py match --pairs "$2/pairs.txt" --features "$2/sift.h5" --output "$2/matches-sift.h5" \
      --conf nn-ratio > /dev/null)
}
rm -rf "$out" && mkdir -p "$out/before" "$out/after"
run "$tree" "$out/before"
run "$PWD" "$out/after"
python scripts/compare_features.py "$out/before" "$out/after"
