#!/usr/bin/env bash
# Rerun every benchmark whose numbers the README reports for the shipped weights, after
# new weights are exported (python scripts/export_weights.py RUN_DIR). Feature caches
# name the weights by content (weights_tag), so nothing stale is reused; the baselines'
# caches are kept. Logs go to outputs/refresh/. CPU: about 30 min on 2 cores.
#   bash scripts/refresh_results.sh [STEP ...]     # steps: homography untrained relf9 demo pose sacre invariance
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${RELF_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
STEPS=${*:-homography untrained relf9 demo pose sacre invariance}
mkdir -p outputs/refresh
log() { echo "== $1 ($(date +%H:%M:%S)) -> outputs/refresh/$1.log"; }

for step in $STEPS; do
    log "$step"
    case "$step" in
        homography)  # results/hpatches, results/hpatches-roto360
            bash scripts/benchmarks.sh > outputs/refresh/homography.log 2>&1 ;;
        untrained)  # the untrained rows of the homography tables: results/untrained/
            bash scripts/benchmarks.sh --methods relf-fast,relf-fast-multi --random-weights \
                --results results/untrained > outputs/refresh/untrained.log 2>&1 ;;
        relf9)  # the paper's 9-level pyramid: results/relf-9level/
            bash scripts/benchmarks.sh --methods sift,relf --results results/relf-9level \
                > outputs/refresh/relf9.log 2>&1 ;;
        demo)  # README demo table: outputs/demo/report.json
            nice relf-hloc demo > outputs/refresh/demo.log 2>&1 ;;
        pose)  # results/pose/fountain-P11, fountain-P11-pyramids and templeSparseRing
            nice relf-hloc benchmark pose --scene "$DATA/strecha/fountain-P11" --format strecha \
                --rotation random --seed 0 --methods relf-fast,sift --outputs results/pose/fountain-P11 \
                --work outputs/pose-work/fountain-P11 > outputs/refresh/pose.log 2>&1
            nice relf-hloc benchmark pose --scene "$DATA/strecha/fountain-P11" --format strecha \
                --rotation random --seed 0 --methods relf,relf-fast,sift --outputs results/pose/fountain-P11-pyramids \
                --work outputs/pose-work/fountain-P11-pyramids >> outputs/refresh/pose.log 2>&1
            nice relf-hloc benchmark pose --scene "$DATA/middlebury/templeSparseRing" --format middlebury \
                --rotation random --seed 0 --methods relf-fast,sift --sfm-max-seconds 120 \
                --outputs results/pose/templeSparseRing --work outputs/pose-work/templeSparseRing \
                >> outputs/refresh/pose.log 2>&1 ;;
        sacre)  # README SfM table
            nice $PY pipelines/sfm_real_data.py --data "$DATA" --scenes sacre_coeur --outputs outputs/sacre_coeur \
                --methods sift,relf-fast,relf --rotations none,random --seeds 0,1,2 > outputs/refresh/sacre.log 2>&1
            cp outputs/sacre_coeur/results.md results/sfm/sacre_coeur.md
            cp outputs/sacre_coeur/results.json results/sfm/sacre_coeur.json ;;
        invariance)  # README invariance figures
            { $PY scripts/invariance_report.py; $PY scripts/invariance_report.py --confs relf-fast --no-snap; } \
                > outputs/refresh/invariance.log 2>&1 ;;
        *) echo "unknown step '$step' (homography untrained relf9 demo pose sacre invariance)" >&2; exit 2 ;;
    esac
    tail -n 3 "outputs/refresh/$step.log"
done
