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
    parser.add_argument("--mode", default=None, choices=["exhaustive", "sequential", "query", "retrieval"],
                        help="exhaustive (default), sequential, query: each query with every "
                             "database image (default when --queries is given), or retrieval: each image "
                             "(each query with --queries) with its --num-matched most similar by global "
                             "descriptor (--features written by relf-hloc extract --global)")
    parser.add_argument("--window", type=int, default=5, help="sequential: images after each one")
    parser.add_argument("--queries", type=Path, help="queries file (names first on each line), for --mode query "
                        "or retrieval")
    parser.add_argument("--num-matched", type=int, default=10,
                        help="retrieval: database images per image (hloc's num_matched)")
    parser.add_argument("--db-descriptors", type=Path,
                        help="retrieval with --queries: features file of the database (default: --features)")


def run(args) -> int:
    mode = args.mode or ("query" if args.queries else "exhaustive")
    main(args.output, args.images, mode, args.window, features=args.features, queries=args.queries,
         num_matched=args.num_matched, db_descriptors=args.db_descriptors)
    return 0
