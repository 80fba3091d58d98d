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
from pathlib import Path

from relf_hloc.confs import BENCHMARK_KEYPOINTS, extractor_conf
from relf_hloc.benchmarks.compare import homography_sets, score
from relf_hloc.eval.homography import summarize
from relf_hloc.io import write_text


def row(conf, root, pairs, cache: Path) -> dict:
    """Repeatability, MMA at 3 and 5 px, points and seconds of one extractor conf."""
    records, _, seconds = score(conf, root, pairs, cache, relf_keypoints="own", overwrite=True, progress=False)
    summary = summarize(records)
    return {"rep": summary["repeatability"], "mma3": summary["mma"]["3"], "mma5": summary["mma"]["5"],
            "points": summary["total_points"], "s": seconds}


def main(argv=None) -> int:
    """Score each DoG / learned detector pair on the homography data; print or write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["relf-fast:relf-det-fast"],
                        help="DOG_CONF:LEARNED_CONF pairs")
    parser.add_argument("--max-keypoints", type=int, default=BENCHMARK_KEYPOINTS)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("outputs/detector"))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    sets = homography_sets(args.data / "hpatches", args.cache)
    head = " | ".join(f"{s} rep@3 | {s} MMA@3 | {s} MMA@5 | {s} kpts" for s in sets)
    lines = [f"| conf | detector | {head} | s/img |", "|---|---|" + "---|" * (4 * len(sets) + 1)]
    for pair in args.pairs:
        for name in pair.split(":"):
            conf = extractor_conf(name, args.max_keypoints)
            results = [row(conf, root, pairs, args.cache / layout) for root, layout, pairs in sets.values()]
            cells = " | ".join(f"{r['rep']:.1f} | {r['mma3']:.2f} | {r['mma5']:.2f} | {r['points']:.0f}"
                               for r in results)
            seconds = sum(r["s"] for r in results) / len(results)
            detector = conf["model"].get("detector", {"name": "sift"})["name"]
            lines.append(f"| {name} | {detector} | {cells} | {seconds:.2f} |")
            print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        command = f"python scripts/benchmark_detector.py {' '.join(argv or sys.argv[1:])}"
        write_text(args.output, f"`{command}`\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
