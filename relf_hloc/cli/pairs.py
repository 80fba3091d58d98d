"""``relf-hloc pairs``: the command line of ``relf_hloc.steps.pairs``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..steps.pairs import main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=input_path("images"), help="image folder")
    src.add_argument("--features", type=input_path("features"), help="take the image names of a features file")
    parser.add_argument("--output", required=True, type=output_path("pairs"), help="pairs file to write")
    parser.add_argument("--mode", default=None, choices=["exhaustive", "sequential", "query", "retrieval"],
                        help="exhaustive (default), sequential, query: each query with every "
                             "database image (default when --queries is given), or retrieval: each image "
                             "(each query with --queries) with its --num-matched most similar by global "
                             "descriptor (--features written by relf-hloc extract --global)")
    parser.add_argument("--window", type=number(int, low=1), default=5,
                        help="sequential: images after each one, in natural name order (frame_2 before frame_10)")
    parser.add_argument("--queries", type=input_path("queries"),
                        help="queries file (names first on each line), for --mode query or retrieval")
    parser.add_argument("--num-matched", type=number(int, low=1), default=10,
                        help="retrieval: database images per image (hloc's num_matched)")
    parser.add_argument("--db-descriptors", type=input_path("features"),
                        help="retrieval with --queries: features file of the database (default: --features)")


def run(args) -> int:
    mode = args.mode or ("query" if args.queries else "exhaustive")
    main(args.output, args.images, mode, args.window, features=args.features, queries=args.queries,
         num_matched=args.num_matched, db_descriptors=args.db_descriptors)
    return 0
