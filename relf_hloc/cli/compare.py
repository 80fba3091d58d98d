"""``relf-hloc compare``: the command line of ``relf_hloc.benchmarks.compare``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..checks import input_path, number, numbers, output_path
from ..benchmarks.compare import DEFAULT_METHODS, default_conf, main
from ..confs import EXTRACTORS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    csv = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    d = default_conf
    parser.add_argument("--dataset", required=True, type=input_path("dataset"),
                        help="HPatches- or Roto-360-layout folder")
    parser.add_argument("--results", default=Path("results"), type=output_path("folder"),
                        help="results root: writes <results>/<name>[-roto360]/ (default: results)")
    parser.add_argument("--cache", default=Path("outputs/compare"), type=output_path("folder"),
                        help="features files and generated images (default: outputs/compare)")
    parser.add_argument("--layout", default="both", choices=("both", "hpatches", "roto360"),
                        help="benchmarks to run from an HPatches folder (default: both)")
    parser.add_argument("--name", default=None, help="dataset name in results/ (default: folder name)")
    parser.add_argument("--methods", type=csv, default=d["methods"],
                        help=f"comma-separated extractor confs, from {','.join(EXTRACTORS)} "
                             f"(default: {','.join(DEFAULT_METHODS)})")
    parser.add_argument("--max-keypoints", type=number(int, low=1), default=d['max_keypoints'],
                        help=f"keypoints per image for every method (default: {d['max_keypoints']}, as the paper)")
    parser.add_argument("--relf-keypoints", default=d['relf_keypoints'], choices=("sift", "own"),
                        help="RELF keypoints: the SIFT baseline's (default) or the conf's own detector")
    parser.add_argument("--weights", default=None,
                        help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF with random weights (untrained, for comparison); rows say 'untrained'")
    parser.add_argument("--device", default=d['device'], help="RELF device (cpu or cuda)")
    parser.add_argument("--sequences", type=csv, default=None, help="comma-separated sequences (default: all)")
    parser.add_argument("--step", type=number(int, low=1, high=360), default=d['step'],
                        help=f"Roto-360 angle step (default: {d['step']})")
    parser.add_argument("--angles", type=numbers(int, low=0, high=359), default=None,
                        help="only these Roto-360 angles, e.g. 0,90,180 (default: every step)")


def run(args) -> int:
    argv = sys.argv[sys.argv.index("compare") + 1:] if "compare" in sys.argv else []
    opts = {k: v for k, v in vars(args).items() if k in default_conf and k != "command"}  # args.command is cli's
    opts["command"] = "relf-hloc compare " + " ".join(shlex.quote(a) for a in argv)
    main(args.dataset, args.results, args.cache, args.layout, opts)
    return 0
