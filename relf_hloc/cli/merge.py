"""``relf-hloc merge``: the command line of ``relf_hloc.steps.merge``."""

from __future__ import annotations

import argparse

from ..checks import input_path, output_path
from ..steps.merge import main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inputs", nargs="+", required=True, type=input_path("features or matches"),
                        help="shard files")
    parser.add_argument("--output", required=True, type=output_path("records"), help="merged file (.h5)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args) -> int:
    main(args.inputs, args.output, args.overwrite)
    return 0
