#!/usr/bin/env bash
# Train RELF on the lent GPU machine (see ../shared/docs/environment.md).
#
# 1. Here (CPU machine, network to PyPI):
#      bash scripts/train_gpu.sh prepare
#    downloads the wheels the GPU machine lacks into .whl/ and writes a data subset
#    (training images + downscaled HPatches) into outputs/gpu_data/ (both git-ignored,
#    about 50 MiB together: under the 64 MiB carry limit).
# 2. Then ONE device call (the `run` tool), e.g. timeout_s 600:
#      command: bash scripts/train_gpu.sh device
#      carry:   [".whl", "outputs/gpu_data"]
#    It installs the wheels into .site, trains with configs/train/gpu.yaml (time budget
#    in the config, train.time_budget_s) and leaves best.pth, last.pth, train.csv,
#    val.csv, config.yaml and train.log in $OUT/gpu.
#    To fine-tune the shipped CPU-trained weights instead of starting from scratch:
#      command: EXTRA="--set model.init_weights=shipped" bash scripts/train_gpu.sh device
# 3. Ship: python scripts/export_weights.py $OUT/gpu (fp16 into relf_hloc/weights/), then
#    bash scripts/refresh_results.sh to rerun every README benchmark.
#
# Test the device step on CPU with a tiny budget (no GPU needed):
#      OUT=/tmp/gpu_out DEVICE=cpu EXTRA="--max-steps 2 --set train.batch_size=1 \
#        --set train.num_workers=0 --set val.at_start=false" bash scripts/train_gpu.sh device
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-}
DATA=outputs/gpu_data
NUM_IMAGES=${NUM_IMAGES:-600}   # training images carried (about 32 MiB)

prepare() {
    PY=${PYTHON:-/work/venv/bin/python}
    rm -rf .whl && mkdir -p .whl
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl e2cnn==0.2.3 kornia==0.9.0 kornia_rs==0.2.0 sympy==1.14.0 mpmath==1.3.0 PyYAML==6.0.2
    rm -rf "$DATA" && mkdir -p "$DATA"
    # An evenly spread subset of the training images (the same folders as on CPU) and
    # HPatches downscaled to the validation size, homographies adapted.
    "$PY" - "$DATA" "$NUM_IMAGES" <<'EOF'
import shutil, sys
from pathlib import Path
import cv2
import numpy as np
from relf_hloc.datasets.homography import load_hpatches, write_homography
from relf_hloc.images import list_images, read_image
from relf_hloc.train.validation import resize_long_side

out, num = Path(sys.argv[1]), int(sys.argv[2])
src = Path("../shared/data/train_images")
names = list_images(src)
for name in [names[i] for i in np.linspace(0, len(names) - 1, num).round().astype(int)]:
    (out / "train_images" / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / name, out / "train_images" / name)
scales = {}
for pair in load_hpatches("../shared/data/hpatches"):
    for name in (pair.name0, pair.name1):
        if name not in scales:
            image, scales[name] = resize_long_side(read_image(Path("../shared/data/hpatches") / name), 480)
            (out / "hpatches" / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / "hpatches" / name), image[:, :, ::-1])
    H = scales[pair.name1] @ pair.H @ np.linalg.inv(scales[pair.name0])
    write_homography(out / "hpatches" / pair.sequence / f"H_1_{Path(pair.name1).stem}", H)
print(f"prepared {num} training images and {len(scales)} HPatches images in {out}")
EOF
    du -sh .whl "$DATA"
}

device() {
    OUT=${OUT:?OUT must name the results folder}
    DEVICE=${DEVICE:-cuda}
    if [ -d .whl ] && ! python3 -c "import e2cnn, kornia, yaml" 2>/dev/null; then
        python3 -m pip install --no-index --no-deps --quiet --target .site .whl/*.whl
    fi
    export PYTHONPATH="$PWD:$PWD/.site:${PYTHONPATH:-}"
    [ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    mkdir -p "$OUT/gpu"
    # shellcheck disable=SC2086
    python3 -m relf_hloc.cli train --config configs/train/gpu.yaml --outputs "$OUT/gpu" \
        --device "$DEVICE" ${EXTRA:-} 2>&1 | tr '\r' '\n' | grep --line-buffered -v -E '(step/s|s/step)' \
        | tee "$OUT/gpu/train.log" | tail -40
    python3 scripts/plot_training.py "$OUT/gpu" || true
}

case "$MODE" in
    prepare) prepare ;;
    device) device ;;
    *) echo "usage: bash scripts/train_gpu.sh prepare|device" >&2; exit 2 ;;
esac
