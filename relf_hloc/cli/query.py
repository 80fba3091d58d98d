"""``relf-hloc query``: the command line of ``relf_hloc.query``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..io import read_json
from ..steps.localize import log_path
from ..query import format_summary, main
from .options import add_ray_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sfm", type=input_path("sfm"), required=True, help="the --outputs folder of relf-hloc sfm")
    parser.add_argument("--images", type=input_path("images"), required=True, help="folder of the query photos")
    parser.add_argument("--outputs", type=output_path("folder"), required=True,
                        help="folder for pairs, matches, poses.txt (+ .log.json) and report.json")
    parser.add_argument("--queries", type=input_path("queries"),
                        help="hloc queries file, 'name MODEL W H PARAMS...' per line (default: every image of "
                             "--images, cameras guessed from EXIF)")
    parser.add_argument("--num-matched", type=number(int, low=1), default=10,
                        help="model images per query, by rotation-invariant retrieval (every registered image "
                             "when the model has no more; default: 10)")
    parser.add_argument("--min-inliers", type=number(int, low=4), default=12, help="a pose needs at least 4 inliers")
    parser.add_argument("--ransac-thresh", type=number(float, above=0), default=12.0, help="pixels")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    add_ray_arguments(parser, "extract and match")


def run(args) -> int:
    report_path = main(args.sfm, args.images, args.outputs, args.queries, args.num_matched, args.min_inliers,
                       args.ransac_thresh, device=args.device, ray=args.ray, workers=args.workers)
    report = read_json(report_path)
    poses = args.outputs / report["poses"]
    for name, entry in read_json(log_path(poses))["queries"].items():
        if entry["status"] != "localized":
            print(f"  {name}: failed ({entry['reason']})")
    print(format_summary(report))
    print(f"poses: {poses}  report: {report_path}")
    return 0 if report["localized"] else 1
