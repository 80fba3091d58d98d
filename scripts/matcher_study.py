"""How to match RELF descriptors for SfM: mutual NN, with a ratio test, with a similarity floor.

    python scripts/matcher_study.py [--images ../shared/data/sacre_coeur] [--confs relf-fast,relf]
        [--seeds 0,1,2] [--outputs outputs/matcher_study]

For each extractor conf and matcher variant: ``relf-hloc sfm`` on the photos (features
extracted once per conf, matched per variant), registered images and points for each mapper
seed (one thread: repeatable), and the median fundamental-matrix inliers (USAC-MAGSAC, 1 px)
per pair. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from relf_hloc import sfm
from relf_hloc.confs import extractor_conf, with_options
from relf_hloc.io import read_features, read_json, read_matches, read_pairs

VARIANTS = {
    "mutual NN": {},
    "ratio 0.9": {"ratio_threshold": 0.9},
    "ratio 0.95": {"ratio_threshold": 0.95},
    "similarity >= 0.7": {"min_score": 0.7},
}


def inliers(out: Path, report: dict) -> float:
    feats, matches = out / report["features"]["file"], out / report["matches"]["file"]
    counts = []
    for a, b in read_pairs(out / report["pairs"]["file"]):
        m, _ = read_matches(matches, a, b)
        if len(m) < 8:
            counts.append(0)
            continue
        k0 = read_features(feats, a, ["keypoints"])["keypoints"][m[:, 0]]
        k1 = read_features(feats, b, ["keypoints"])["keypoints"][m[:, 1]]
        _, mask = cv2.findFundamentalMat(k0, k1, cv2.USAC_MAGSAC, 1.0, 0.999, 10000)
        counts.append(0 if mask is None else int(mask.sum()))
    return float(np.median(counts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/data/sacre_coeur"))
    parser.add_argument("--confs", default="relf-fast")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--outputs", type=Path, default=Path("outputs/matcher_study"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| conf | matcher | registered per seed | points (seed 0) | F-inliers/pair (median) |")
    print("|---|---|---|---|---|")
    for name in args.confs.split(","):
        conf = extractor_conf(name)
        for label, options in VARIANTS.items():
            matcher = with_options("relf-nn", **options)
            matcher["output"] = "matches-" + label.replace(" ", "").replace(">=", "min").replace(".", "")
            registered, points, report = [], None, None
            for seed in seeds:
                out = args.outputs / name  # features shared by the variants; matches named by variant
                try:
                    path = sfm.main(conf, args.images, out, matcher,
                                    mapper_options={"random_seed": seed, "num_threads": 1})
                except RuntimeError:
                    path = out / "report.json"
                report = read_json(path)
                registered.append(report.get("registered", 0))
                points = points if points is not None else report.get("points")
            print(f"| {name} | {label} | {'/'.join(map(str, registered))} of {report['total']} | {points} | "
                  f"{inliers(args.outputs / name, report):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
