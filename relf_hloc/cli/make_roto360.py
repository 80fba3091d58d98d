"""``relf-hloc make-roto360``: the command line of ``relf_hloc.datasets.roto360``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..datasets.roto360 import main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hpatches", required=True, type=input_path("dataset"), help="HPatches-layout folder")
    parser.add_argument("--outputs", required=True, type=output_path("folder"), help="Roto-360-layout output folder")
    parser.add_argument("--sequences", default=None,
                        help="comma-separated sequence names (default: all)")
    parser.add_argument("--step", type=number(int, low=1, high=360), default=10,
                        help="angle step in degrees (divides 360)")
    parser.add_argument("--overwrite", action="store_true")


def run(args) -> int:
    sequences = args.sequences.split(",") if args.sequences else None
    main(args.hpatches, args.outputs, sequences, args.step, args.overwrite)
    return 0
