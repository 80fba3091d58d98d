"""``relf-hloc pairs``: the command line of ``relf_hloc.pipeline.pairs``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..pipeline.pairs import main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="image folder")
    src.add_argument("--features", type=Path, help="take the image names of a features file")
    parser.add_argument("--output", required=True, type=Path, help="pairs file to write")
    parser.add_argument("--mode", default=None, choices=["exhaustive", "sequential", "query"],
                        help="exhaustive (default), sequential, or query: each query with every "
                             "database image (default when --queries is given)")
    parser.add_argument("--window", type=int, default=5, help="sequential: images after each one")
    parser.add_argument("--queries", type=Path, help="queries file (names first on each line), for --mode query")


def run(args) -> int:
    mode = args.mode or ("query" if args.queries else "exhaustive")
    main(args.output, args.images, mode, args.window, features=args.features, queries=args.queries)
    return 0
