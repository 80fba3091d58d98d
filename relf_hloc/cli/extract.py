"""``relf-hloc extract``: the command line of ``relf_hloc.steps.extract``."""

from __future__ import annotations

import argparse

from ..checks import input_path, number, output_path
from ..confs import AUTO_BACKEND, BACKENDS, EXTRACTORS, extractor_conf
from ..steps.distributed import extract_ray
from .. import retrieval
from ..steps.extract import main, with_global
from .options import add_ray_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, type=input_path("images"), help="image folder")
    parser.add_argument("--output", required=True, type=output_path("features"), help="features file (.h5)")
    parser.add_argument("--conf", default="relf",
                        help=f"named conf ({', '.join(EXTRACTORS)}) or a .yaml file (default: relf)")
    parser.add_argument("--max-keypoints", type=number(int, low=1), help="keypoints per image (default: the conf's)")
    parser.add_argument("--resize-max", type=number(int, low=32),
                        help="bring each image's longer side down to this many pixels "
                        "first (hloc's preprocessing.resize_max; keypoints stay in original pixels)")
    parser.add_argument("--keypoints-from", type=input_path("features"),
                        help="RELF: describe the keypoints of this hloc features file instead of detecting")
    parser.add_argument("--weights", type=input_path("checkpoint"),
                        help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    parser.add_argument("--backend", choices=[*BACKENDS, AUTO_BACKEND],
                        help="RELF's network runtime (default: the conf's: torch, or auto for the SfM confs); the ONNX "
                        "Runtime ones are CPU only (optional extra: pip install 'relf-hloc[onnx]'); auto: "
                        "onnxruntime-int8 on the CPU where it is installed, else torch")
    parser.add_argument("--overwrite", action="store_true", help="recompute images already in the file")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF: untrained network (tests only; prints a warning)")
    add_ray_arguments(parser)
    parser.add_argument("--shard", metavar="K/N", help="only the K-th (from 0) of N slices of the sorted "
                        "images, into its own file; join the shards with relf-hloc merge")
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="leave out unreadable images (listed in the summary) instead of stopping")
    parser.add_argument("--global", dest="global_", nargs="?", const=retrieval.DEFAULT_AGGREGATION,
                        choices=retrieval.AGGREGATIONS, metavar="AGGREGATION",
                        help="also write a rotation-invariant global descriptor per image (dataset "
                        f"global_descriptor, for pairs --mode retrieval): {' or '.join(retrieval.AGGREGATIONS)} "
                        f"(default when given: {retrieval.DEFAULT_AGGREGATION})")


def run(args) -> int:
    conf = extractor_conf(args.conf, args.max_keypoints, args.weights, args.random_weights,
                          args.keypoints_from, args.backend)
    conf = with_global(conf, args.global_)
    if args.resize_max is not None:
        conf["preprocessing"] = {**(conf.get("preprocessing") or {}), "resize_max": args.resize_max}
    if args.ray is not None:
        if args.shard:
            raise ValueError("--ray and --shard: choose one (Ray makes its own shards)")
        extract_ray(conf, args.images, args.output, args.ray or None, args.workers,
                 device=args.device, overwrite=args.overwrite, skip_bad_images=args.skip_bad_images)
        return 0
    main(conf, args.images, args.output, device=args.device, overwrite=args.overwrite,
         skip_bad_images=args.skip_bad_images, shard=args.shard)
    return 0
