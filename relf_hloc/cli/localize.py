"""``relf-hloc localize``: the command line of ``relf_hloc.steps.localize``."""

from __future__ import annotations

import argparse
import json

from ..checks import input_path, number, output_path
from ..steps.localize import log_path, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=input_path("model"), required=True, help="COLMAP model folder")
    parser.add_argument("--queries", type=input_path("queries"), required=True,
                        help="'name MODEL W H PARAMS...' per line (or bare names with --images)")
    parser.add_argument("--features", type=input_path("features"), required=True)
    parser.add_argument("--matches", type=input_path("matches"), required=True)
    parser.add_argument("--pairs", type=input_path("pairs"),
                        help="query-database pairs (default: all model images with matches)")
    parser.add_argument("--images", type=input_path("images"), help="query image folder (to guess cameras)")
    parser.add_argument("--output", type=output_path("poses"), required=True, help="poses file to write")
    parser.add_argument("--min-inliers", type=number(int, low=4), default=12,
                        help="a pose needs at least 4 inliers")
    parser.add_argument("--ransac-thresh", type=number(float, above=0), default=12.0, help="pixels")


def run(args) -> int:
    out = main(args.model, args.queries, args.features, args.matches, args.output,
               pairs=args.pairs, image_dir=args.images, min_inliers=args.min_inliers,
               ransac_thresh=args.ransac_thresh)
    log = json.loads(log_path(out).read_text())
    for name, entry in log["queries"].items():
        cam = entry["camera"]
        camera = f"{cam['source']} {cam['model']} {cam['width']}x{cam['height']} {cam['params']}"
        status = "localized" if entry["status"] == "localized" else f"failed ({entry['reason']})"
        print(f"  {name}: {status}; camera {camera}")
    print(f"localized {log['localized']} / {log['total']} queries -> {out} "
          f"(log {log_path(out)})")
    return 0 if log["localized"] else 1
