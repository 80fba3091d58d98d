"""Retrieval recall per scene, upright against rolled, with and without the keypoints on the black
fill of a rolled canvas (issue: do rolled photos lose retrieval recall, and is the fill the cause?).

    python scripts/retrieval_per_scene.py --work outputs/localization --output results/retrieval_per_scene.md

Reads the features that ``pipelines/localization.py`` extracted (``--conf``, default relf-fast-rs)
of every variant of every scene (``<work>/<scene>/work``), so it extracts nothing. Global
descriptor: VLAD over the RELF part (``relf_hloc.retrieval``). Overlap (the truth of a pair) and
recall@K as in ``scripts/benchmark_retrieval.py``. "without fill": the keypoints within 7 px of a
canvas pixel (all channels <= 8, the fill of ``relf_hloc.images.rotate_image``) left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_retrieval import overlapping_pairs  # noqa: E402

from relf_hloc import io, retrieval  # noqa: E402
from relf_hloc.datasets import scenes  # noqa: E402
from relf_hloc.images import read_image  # noqa: E402

SCENES = {"fountain-P11": ("strecha/fountain-P11", "strecha"), "Herz-Jesus-P8": ("strecha/Herz-Jesus-P8", "strecha"),
          "entry-P10": ("strecha/entry-P10", "strecha"),
          "templeSparseRing": ("middlebury/templeSparseRing", "middlebury")}
KS = (3, 5, 10)


def off_fill(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """[N] bool: keypoints farther than 7 px from the canvas fill of a rolled image."""
    near = cv2.dilate((image.max(2) <= 8).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    k = keypoints.round().astype(int)
    return ~near[k[:, 1].clip(0, image.shape[0] - 1), k[:, 0].clip(0, image.shape[1] - 1)]


def recall(work: Path, features: Path, names, variant: str, truth, drop_fill: bool):
    """{K: recall (%)} of the retrieval pairs of one variant, and the share of keypoints on the fill."""
    desc, on_fill = [], []
    for name in names:
        key = f"{variant}/images/{Path(name).with_suffix('.png').as_posix()}"
        d = io.read_descriptors(features, key)
        keep = off_fill(read_image(work / key), io.read_features(features, key, ["keypoints"])["keypoints"])
        on_fill.append(1 - keep.mean())
        desc.append(retrieval.global_descriptor(d[keep] if drop_fill else d, "vlad"))
    found = {k: {frozenset(p) for p in retrieval.collection_pairs(names, np.stack(desc), k)} for k in KS}
    return {k: 100 * len(found[k] & truth) / len(truth) for k in KS}, 100 * float(np.mean(on_fill))


def main(argv=None) -> int:
    """Write the per-scene table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--work", type=Path, default=Path("outputs/localization"))
    p.add_argument("--conf", default="relf-fast-rs")
    p.add_argument("--output", type=Path, default=Path("results/retrieval_per_scene.md"))
    args = p.parse_args(argv)
    lines = ["| scene | photos | overlapping pairs | queries | keypoints on the fill (%) | "
             + " | ".join(f"recall@{k}" for k in KS) + " |", "|---" * (5 + len(KS)) + "|"]
    for name, (folder, fmt) in SCENES.items():
        work = args.work / name / "work"
        features = next((work / "features").glob(f"{args.conf}-*.h5"), None)
        if features is None:
            print(f"{name}: no {args.conf} features in {work}/features (run pipelines/localization.py)")
            continue
        scene = scenes.read_scene(args.data / folder, fmt)
        truth = overlapping_pairs(scene.views)
        for variant in ("upright", "rolled", "rolled-90"):
            for drop in ((False, True) if variant == "rolled" else (False,)):
                rec, fill = recall(work, features, scene.names, variant, truth, drop)
                label = variant + (", without fill keypoints" if drop else "")
                lines.append(f"| {name} | {len(scene)} | {len(truth)} | {label} | {fill:.1f} | "
                             + " | ".join(f"{rec[k]:.1f}" for k in KS) + " |")
    command = "python scripts/retrieval_per_scene.py " + " ".join(sys.argv[1:] if argv is None else argv)
    io.write_text(args.output, f"# Retrieval recall per scene, upright and rolled ({args.conf}, VLAD)\n\n"
                  f"`{command}`\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
