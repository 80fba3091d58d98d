"""``relf-hloc sfm``: the command line of ``relf_hloc.sfm``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..confs import AUTO_BACKEND, BACKENDS, EXTRACTORS, MATCHERS, default_matcher, extractor_conf, with_options
from ..io import read_json
from ..sfm import format_summary, main
from .options import add_colmap_arguments, add_ray_arguments, colmap_options_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=input_path("images"), required=True, help="image folder")
    parser.add_argument("--outputs", type=output_path("folder"), required=True, help="output folder")
    parser.add_argument("--conf", default="relf-rs",
                        help=f"extractor conf ({', '.join(EXTRACTORS)}) or a .yaml file (default: relf-rs, "
                             "RELF (256 PCA components) + RootSIFT at 8192 keypoints, ONNX Runtime int8 where "
                             "installed; relf-fast-rs: 3 pyramid levels)")
    parser.add_argument("--matcher", default=None,
                        help=f"matcher conf ({', '.join(MATCHERS)}; default: relf-ratio for RELF, "
                             "nn-ratio for the OpenCV methods; nn-ratio-spaced for symmetric scenes)")
    parser.add_argument("--max-keypoints", type=number(int, low=1), help="keypoints per image (default: the conf's)")
    parser.add_argument("--weights", type=input_path("checkpoint"), help="RELF checkpoint (default: shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF with an untrained network (labelled as such in report.json)")
    parser.add_argument("--pairs", default="exhaustive", choices=["exhaustive", "sequential", "retrieval"],
                        help="retrieval: each image with its --num-matched most similar by a rotation-invariant "
                        "global descriptor (default: exhaustive)")
    parser.add_argument("--num-matched", type=number(int, low=1), default=10,
                        help="retrieval pairs: images per image (default: 10)")
    parser.add_argument("--window", type=number(int, low=1), default=5,
                        help="sequential pairs: images after each (default: 5)")
    parser.add_argument("--ratio", type=number(float, above=0, high=1),
                        help="matching ratio test (default: the matcher conf's)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    parser.add_argument("--backend", choices=[*BACKENDS, AUTO_BACKEND],
                        help="RELF's network runtime (default: the conf's; auto: onnxruntime-int8 on the CPU where "
                             "ONNX Runtime is installed, pip install 'relf-hloc[onnx]', else torch)")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute features and matches instead of resuming")
    add_ray_arguments(parser, "extract and match")
    add_colmap_arguments(parser)


def run(args) -> int:
    conf = extractor_conf(args.conf, args.max_keypoints, args.weights, args.random_weights, backend=args.backend)
    matcher = with_options(args.matcher or default_matcher(conf, "sfm"), ratio_threshold=args.ratio)
    options = {"matcher": matcher, "pairs": args.pairs, "window": args.window, "num_matched": args.num_matched,
               "device": args.device, "overwrite": args.overwrite, "ray": args.ray, "workers": args.workers,
               **colmap_options_from_args(args)}
    if args.threads:
        options["mapper_options"] = {"num_threads": args.threads, **options["mapper_options"]}
    report_path = main(conf, args.images, args.outputs, options)
    report = read_json(report_path)
    print(format_summary(report))
    print(f"model: {args.outputs / 'sfm'}  report: {report_path}")
    return 0
