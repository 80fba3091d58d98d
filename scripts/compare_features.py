"""Compare hloc features (or matches) files made by two versions of the code, image by image.

    python scripts/compare_features.py BEFORE_DIR AFTER_DIR [FILE.h5 ...]

For each file name present in both folders: the image (or pair) groups must be the same;
keypoints, scores, orientations and the other arrays equal; descriptors equal within float16
rounding (both files store float16). Prints one line per file and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from relf_hloc.io import read_datasets


def compare(a: Path, b: Path) -> str:
    """One line: whether two HDF5 files hold the same datasets, and their largest difference."""
    da, db = read_datasets(a), read_datasets(b)
    if set(da) != set(db):
        before, after = sorted(set(da) - set(db))[:3], sorted(set(db) - set(da))[:3]
        return f"DIFFERENT datasets: only before {before}, only after {after}"
    worst = 0.0
    for key in da:
        x, y = da[key], db[key]
        if x.shape != y.shape:
            return f"DIFFERENT shape of {key}: {x.shape} vs {y.shape}"
        if key.endswith("descriptors"):
            diff = float(np.abs(x.astype(np.float32) - y.astype(np.float32)).max(initial=0))
            step = float(np.spacing(np.abs(x).astype(np.float16)).max(initial=0))  # one fp16 step
            if diff > step:
                return f"DIFFERENT {key}: max |diff| {diff:.2e} > one float16 step {step:.2e}"
            worst = max(worst, diff)
        elif not np.array_equal(x, y):
            return f"DIFFERENT {key}: {np.count_nonzero(x != y)} of {x.size} values differ"
    return f"equal ({len(da)} datasets; descriptors max |diff| {worst:.1e})"


def main(argv=None) -> int:
    """Compare the HDF5 files of two folders; 0 when all are equal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("files", nargs="*", help="file names (default: every .h5 in both folders)")
    args = parser.parse_args(argv)
    files = args.files or sorted(p.name for p in args.before.glob("*.h5") if (args.after / p.name).is_file())
    if not files:
        print(f"no .h5 file in both {args.before} and {args.after}")
        return 1
    failed = 0
    for name in files:
        verdict = compare(args.before / name, args.after / name)
        failed += verdict.startswith("DIFFERENT")
        print(f"{name}: {verdict}")
    print(f"{len(files)} files: {len(files) - failed} equal, {failed} different")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
