"""``relf-hloc match``: the command line of ``relf_hloc.steps.match``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..confs import MATCHERS, with_options
from ..steps.distributed import match_ray
from ..steps.match import main
from .options import add_ray_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", required=True, type=input_path("pairs"), help="pairs file: 'name0 name1' per line")
    parser.add_argument("--features", required=True, type=input_path("features"), help="hloc features file")
    parser.add_argument("--output", required=True, type=output_path("matches"), help="matches file (.h5)")
    parser.add_argument("--conf", default="relf-nn",
                        help=f"named matcher conf ({', '.join(MATCHERS)}) or a .yaml file (default: relf-nn)")
    parser.add_argument("--ratio", type=number(float, above=0, high=1),
                        help="ratio test on L2 distances (default: the conf's)")
    parser.add_argument("--min-score", type=number(float, low=-1, high=1),
                        help="minimum descriptor similarity (default: none)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    add_ray_arguments(parser)
    parser.add_argument("--shard", metavar="K/N", help="only the K-th (from 0) of N slices of the pairs, "
                        "into its own file; join the shards with relf-hloc merge")
    parser.add_argument("--overwrite", action="store_true")


def run(args) -> int:
    conf = with_options(args.conf, ratio_threshold=args.ratio, min_score=args.min_score, device=args.device)
    if args.ray is not None:
        if args.shard:
            raise ValueError("--ray and --shard: choose one (Ray makes its own shards)")
        match_ray(conf, args.pairs, args.features, args.output, args.ray or None, args.workers,
                 overwrite=args.overwrite)
        return 0
    main(conf, args.pairs, args.features, args.output, args.overwrite, shard=args.shard)
    return 0
