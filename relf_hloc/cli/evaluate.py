"""``relf-hloc evaluate <benchmark>``: one nested subcommand per benchmark.

    relf-hloc evaluate homography --dataset DIR --layout hpatches|roto360 --features F.h5 --outputs DIR
    relf-hloc evaluate homography --dataset PAIRS.txt --layout pairs --features F.h5 --outputs DIR
"""

from __future__ import annotations

import argparse

from ..checks import input_path, numbers, output_path
from ..benchmarks import homography
from ..datasets.homography import LAYOUTS


def add_homography_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, type=input_path("dataset"),
                        help="dataset folder, or a pairs file of 'image0 image1 H_file' lines (--layout pairs)")
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--features", required=True, type=input_path("features"), help="hloc features file (.h5)")
    parser.add_argument("--outputs", required=True, type=output_path("folder"), help="output folder")
    parser.add_argument("--label", default=None, help="method name in tables (default: features file stem)")
    parser.add_argument("--sequences", default=None, help="comma-separated sequences (default: all)")
    parser.add_argument("--angles", default=None, type=numbers(int, low=0, high=359),
                        help="comma-separated Roto-360 angles (default: all)")


def run_homography(args) -> int:
    homography.main(args.dataset, args.layout, args.features, args.outputs, args.label,
                    args.sequences.split(",") if args.sequences else None,
                    args.angles)
    return 0


BENCHMARKS = {  # name: (add_arguments, run, one-line help)
    "homography": (add_homography_arguments, run_homography,
                   "MMA@1..10 px of a features file on an HPatches or Roto-360 folder, or a pairs file"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (add, run_, help_) in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add(p)
        p.set_defaults(benchmark_run=run_)


def run(args) -> int:
    return args.benchmark_run(args)
