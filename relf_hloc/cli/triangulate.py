"""``relf-hloc triangulate``: the command line of ``relf_hloc.steps.triangulation``."""

from __future__ import annotations

import argparse

import pycolmap

from ..checks import input_path, number, output_path
from ..steps import colmap as cu
from ..steps.triangulation import main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", type=input_path("model"), required=True,
                        help="COLMAP model (text or binary) with the known poses")
    parser.add_argument("--images", type=input_path("images"), required=True, help="image folder")
    parser.add_argument("--pairs", type=input_path("pairs"), required=True)
    parser.add_argument("--features", type=input_path("features"), required=True)
    parser.add_argument("--matches", type=input_path("matches"), required=True)
    parser.add_argument("--outputs", type=output_path("folder"), required=True, help="output model folder")
    parser.add_argument("--verification", choices=["poses", "colmap"], default="poses",
                        help="epipolar check with the known poses (default) or COLMAP's RANSAC")
    parser.add_argument("--max-epipolar-error", type=number(float, above=0), default=4.0, help="pixels")
    parser.add_argument("--mapper-option", action="append", default=[], metavar="KEY=VALUE",
                        help="IncrementalPipelineOptions key (repeatable)")
    parser.add_argument("--verbose", action="store_true")


def run(args) -> int:
    rec = main(args.outputs, args.reference, args.images, args.pairs, args.features,
               args.matches, verification=args.verification,
               max_epipolar_error=args.max_epipolar_error,
               mapper_options=cu.parse_option_args(args.mapper_option,
                                                   pycolmap.IncrementalPipelineOptions()),
               verbose=args.verbose)
    s = cu.model_summary(rec)
    print(f"triangulated {s['points']} points in {s['registered']} images, track length "
          f"{s['mean_track_length']:.2f}, reprojection {s['mean_reprojection_error_px']:.3f} px "
          f"-> {args.outputs}")
    return 0
