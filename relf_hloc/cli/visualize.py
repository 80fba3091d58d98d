"""``relf-hloc visualize``: the command line of ``relf_hloc.visualize``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..visualize import plot_keypoints, plot_matches, plot_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    p = sub.add_parser("keypoints", help="keypoints of a model image coloured by track length")
    p.add_argument("--model", type=input_path("model"), required=True)
    p.add_argument("--images", type=input_path("images"), required=True)
    p.add_argument("--name", required=True, help="image name in the model")
    p.add_argument("--color-by", default="track_length", choices=["track_length", "visibility"])
    p.add_argument("--features", type=input_path("features"),
                   help="features file: draw each keypoint's scale and orientation")
    p.add_argument("--output", type=output_path("picture"), required=True, help="PNG file")
    p = sub.add_parser("matches", help="matches between two images")
    p.add_argument("--images", type=input_path("images"), required=True)
    p.add_argument("--features", type=input_path("features"), required=True)
    p.add_argument("--matches", type=input_path("matches"), required=True)
    p.add_argument("--pair", nargs=2, required=True, metavar=("NAME0", "NAME1"))
    p.add_argument("--max-lines", type=number(int, low=1), default=300)
    p.add_argument("--output", type=output_path("picture"), required=True, help="PNG file")
    p = sub.add_parser("model", help="interactive 3D view of a model")
    p.add_argument("--model", type=input_path("model"), required=True)
    p.add_argument("--max-points", type=number(int, low=1), default=50000)
    p.add_argument("--output", type=output_path("html"), required=True, help="HTML file")


def run(args) -> int:
    if args.what == "keypoints":
        out = plot_keypoints(args.model, args.images, args.name, args.output, args.color_by, args.features)
    elif args.what == "matches":
        out = plot_matches(args.images, args.features, args.matches, *args.pair, args.output,
                           args.max_lines)
    else:
        out = plot_model(args.model, args.output, args.max_points)
    print(f"visualize {args.what}: wrote {out}")
    return 0
