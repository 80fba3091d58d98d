"""``relf-hloc demo``: the command line of ``relf_hloc.demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checks import input_path, number, output_path
from ..confs import EXTRACTORS, MAX_KEYPOINTS
from ..demo import METHODS, main
from ..images import MIN_SIZE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", type=output_path("folder"), default=Path("outputs/demo"), help="output folder")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated extractor confs, from {', '.join(EXTRACTORS)}")
    parser.add_argument("--num-cameras", type=number(int, low=2), default=12)
    parser.add_argument("--width", type=number(int, low=MIN_SIZE), default=640)
    parser.add_argument("--height", type=number(int, low=MIN_SIZE), default=480)
    parser.add_argument("--seed", type=number(int, low=0), default=0, help="scene seed (camera placement, rolls)")
    parser.add_argument("--max-keypoints", type=number(int, low=1), default=MAX_KEYPOINTS)
    parser.add_argument("--weights", type=input_path("checkpoint"),
                        help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="untrained RELF network (pipeline check only: its numbers mean nothing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="render and compute everything again (default: reuse what matches)")


def run(args) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    main(args.outputs, methods, args.num_cameras, args.width, args.height, args.seed,
         args.max_keypoints, args.weights, args.random_weights, args.overwrite)
    return 0
