"""The learned detector against DoG: the same RELF descriptors and keypoint budget, in one run.

    python scripts/benchmark_detector.py [--pairs relf-fast:relf-det-fast relf:relf-det]
        [--max-keypoints 1500] [--data ../shared/data] [--cache outputs/detector] [--output results/detector.md]

Each pair of confs is a DoG conf (RELF describing OpenCV DoG keypoints) and the conf with
the learned detector (keypoints, orientations and descriptors from one network pass). Sets:
the Roto-360-layout set made from the shared HPatches (image 1 of every sequence rotated
every 10 degrees) and the shared HPatches viewpoint pairs. Figures: repeatability at 3 px
(SuperPoint's definition, keypoints inside the other view), MMA@3/5 of mutual nearest
neighbours, keypoints per image, and extraction seconds per image (features recomputed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from relf_hloc.confs import BENCHMARK_KEYPOINTS, extractor_conf
from relf_hloc.datasets import roto360
from relf_hloc.datasets.homography import image_names, load_pairs
from relf_hloc.eval.homography import evaluate_pairs, summarize
from relf_hloc.features import features_tag
from relf_hloc.io import write_text
from relf_hloc.pipeline import extract


def score(conf, root, layout, pairs, cache: Path) -> dict:
    names = image_names(pairs)
    path = cache / layout / f"{features_tag(conf)}.h5"
    start = time.time()
    extract.main(conf, root, path, names=names, overwrite=True, progress=False)
    seconds = (time.time() - start) / len(names)
    summary = summarize(evaluate_pairs(pairs, path))
    return {"rep": summary["repeatability"], "mma3": summary["mma"]["3"], "mma5": summary["mma"]["5"],
            "points": summary["total_points"], "s": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["relf-fast:relf-det-fast"],
                        help="DOG_CONF:LEARNED_CONF pairs")
    parser.add_argument("--max-keypoints", type=int, default=BENCHMARK_KEYPOINTS)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("outputs/detector"))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    hp = args.data / "hpatches"
    roto = roto360.main(hp, args.cache / "roto360-images", step=10)
    sets = {"Roto-360": (roto, "roto360", load_pairs(roto, "roto360")),
            "HPatches": (hp, "hpatches", load_pairs(hp, "hpatches"))}
    head = " | ".join(f"{s} rep@3 | {s} MMA@3 | {s} MMA@5 | {s} kpts" for s in sets)
    lines = [f"| conf | detector | {head} | s/img |", "|---|---|" + "---|" * (4 * len(sets) + 1)]
    for pair in args.pairs:
        for name in pair.split(":"):
            conf = extractor_conf(name, args.max_keypoints)
            results = [score(conf, *spec, args.cache) for spec in sets.values()]
            cells = " | ".join(f"{r['rep']:.1f} | {r['mma3']:.2f} | {r['mma5']:.2f} | {r['points']:.0f}"
                               for r in results)
            seconds = sum(r["s"] for r in results) / len(results)
            lines.append(f"| {name} | {conf['model'].get('detector', {'name': 'sift'})['name']} | {cells} | {seconds:.2f} |")
            print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        command = f"python scripts/benchmark_detector.py {' '.join(argv or sys.argv[1:])}"
        write_text(args.output, f"`{command}`\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
