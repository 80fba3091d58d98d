"""``relf-hloc demo``: the command line of ``relf_hloc.demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..confs import EXTRACTORS, MAX_KEYPOINTS
from ..demo import METHODS, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", type=Path, default=Path("outputs/demo"), help="output folder")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated extractor confs, from {', '.join(EXTRACTORS)}")
    parser.add_argument("--num-cameras", type=int, default=12)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0, help="scene seed (camera placement, rolls)")
    parser.add_argument("--max-keypoints", type=int, default=MAX_KEYPOINTS)
    parser.add_argument("--weights", type=Path, help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="untrained RELF network (pipeline check only: its numbers mean nothing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="render and compute everything again (default: reuse what matches)")


def run(args) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    main(args.outputs, methods, args.num_cameras, args.width, args.height, args.seed,
         args.max_keypoints, args.weights, args.random_weights, args.overwrite)
    return 0
