"""Where RELF's matches lose the pixel: descriptor variants on the same SIFT keypoints, one change at a time.

    python scripts/precision_study.py [--conf relf-fast] [--data ../shared/data] [--step 30]
        [--keypoints 1500] [--cache outputs/precision] [--output results/precision_study.md]

Every variant describes the same keypoints (OpenCV SIFT, one per location, the strongest
``--keypoints``) of the dev sets (HPatches viewpoint pairs of the shared sequences, and the
Roto-360-layout set made from them, every ``--step`` degrees) and is matched by mutual nearest
neighbour alone and with Lowe's ratio 0.8. Per variant and set: MMA@1/@3/@10 (% of matches,
mean over pairs), matches per pair, correct matches at 1 px per pair, and the localisation
error of the matches within 10 px (median / 90th percentile, px; means over pairs, as
``relf-hloc compare``). Variants:
- ``relf``: the conf's descriptor; ``relf, stage 4 x0.5`` / ``fine x2``: the coarsest stage's
  fields (stride 16) weighted down, or the three finest weighted up, before normalising;
- ``rootsift (SIFT orientation)``: RootSIFT as the SIFT baseline computes it;
  ``rootsift (RELF orientation)``: at the same scale, turned by RELF's orientation;
- ``relf + rootsift w``: the conf's ``rootsift`` part (``RELF.add_rootsift``) with share w.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from relf_hloc.benchmarks.compare import homography_sets
from relf_hloc.confs import get_conf
from relf_hloc.eval.homography import error_stats, match_precisions, offsets
from relf_hloc.features.detectors import detect_sift
from relf_hloc.features.opencv import normalise_float
from relf_hloc.features.relf import RELF, rootsift_at
from relf_hloc.images import read_image
from relf_hloc.io import write_text
from relf_hloc.matchers.nearest_neighbor import mutual_nn

STAGES = (512, 256, 128, 64, 64)  # fields of the fused descriptor, coarsest stage first (reresnet.WIDTHS)


def describe(relf: RELF, image: np.ndarray, max_keypoints: int) -> dict:
    """Keypoints, RELF descriptors and orientations, and RootSIFT in both orientations."""
    kpts, _, cv_kpts = detect_sift(image, max_keypoints)
    tensor = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    out = relf.describe({"image": tensor, "keypoints": torch.from_numpy(kpts)[None]})
    ori = out["orientations"][0].numpy()
    sizes = np.array([k.size for k in cv_kpts], np.float32)
    own = rootsift_at(image, kpts, sizes, np.mod(360 - np.array([k.angle for k in cv_kpts]), 360))
    return {"keypoints": kpts.astype(np.float64), "relf": out["descriptors"][0].numpy(),
            "rs_sift": own, "rs_relf": rootsift_at(image, kpts, sizes, ori)}


def weighted(desc: np.ndarray, weights) -> np.ndarray:
    """Each stage's block of the fused descriptor scaled, then unit length."""
    blocks = np.split(desc, np.cumsum(STAGES)[:-1], axis=1)
    return normalise_float(np.concatenate([b * w for b, w in zip(blocks, weights)], 1), "sift")


def hybrid(f: dict, w: float) -> np.ndarray:
    """RELF and RootSIFT (RELF orientation) as ``RELF.add_rootsift`` joins them, share w."""
    return np.concatenate([f["relf"] * (1 - w) ** 0.5, f["rs_relf"] * w ** 0.5], 1)


VARIANTS = {
    "relf": lambda f: f["relf"],
    "relf, stage 4 x0.5": lambda f: weighted(f["relf"], (0.5, 1, 1, 1, 1)),
    "relf, fine x2": lambda f: weighted(f["relf"], (1, 1, 2, 2, 2)),
    "rootsift (SIFT orientation)": lambda f: f["rs_sift"],
    "rootsift (RELF orientation)": lambda f: f["rs_relf"],
    **{f"relf + rootsift {w}": (lambda f, w=w: hybrid(f, w)) for w in (0.3, 0.5, 0.7)},
}


def score(pairs, feats, variant, ratio) -> list:
    """[MMA@1, @3, @10, matches, correct@1, median, p90] means over pairs."""
    rows = []
    for p in pairs:
        f0, f1 = feats[p.name0], feats[p.name1]
        m0, _ = mutual_nn(VARIANTS[variant](f0), VARIANTS[variant](f1), ratio=ratio)
        idx = np.nonzero(m0 >= 0)[0]
        matches = np.stack([idx, m0[idx]], 1)
        mma = match_precisions(f0["keypoints"], f1["keypoints"], matches, p.H, (1, 3, 10))
        off = offsets(f0["keypoints"], f1["keypoints"], matches, p.H)
        err = np.linalg.norm(off, axis=1)
        stats = error_stats(off[err <= 10]) or {"median": np.nan, "p90": np.nan}
        rows.append([*mma, len(matches), int((err <= 1).sum()), stats["median"], stats["p90"]])
    return list(np.nanmean(np.array(rows, float), 0))


def main(argv=None) -> int:
    """Score every variant on both dev sets; print (and write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default="relf-fast")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--step", type=int, default=30, help="Roto-360 angle step (degrees)")
    parser.add_argument("--keypoints", type=int, default=1500)
    parser.add_argument("--cache", type=Path, default=Path("outputs/precision"))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    relf = RELF({**get_conf(args.conf)["model"], "rootsift": None})
    sets = homography_sets(args.data / "hpatches", args.cache, args.step)
    head = ("| set | variant | matcher | MMA@1 | MMA@3 | MMA@10 | matches/pair | correct@1px/pair | "
            "loc. error of matches <= 10 px: median / p90 (px) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, (root, _, pairs) in sets.items():
        feats = {n: describe(relf, read_image(root / n), args.keypoints)
                 for n in sorted({n for p in pairs for n in (p.name0, p.name1)})}
        for variant in VARIANTS:
            for label, ratio in (("mutual NN", None), ("ratio 0.8", 0.8)):
                r = score(pairs, feats, variant, ratio)
                lines.append(f"| {name} | {variant} | {label} | {r[0]:.1f} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.0f} | "
                             f"{r[4]:.0f} | {r[5]:.2f} / {r[6]:.2f} |")
                print(lines[-1], flush=True)
    text = (f"`python scripts/precision_study.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n\n"
            + "\n".join(lines) + "\n")
    if args.output:
        write_text(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
