"""``relf-hloc benchmark``: the command line of ``relf_hloc.benchmarks.pose``."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..checks import input_path, number, output_path
from ..benchmarks.pose import default_conf, main
from ..confs import EXTRACTORS
from ..datasets import scenes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``relf-hloc benchmark pose ...``: the pose benchmark as a nested subcommand."""
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    add_pose_arguments(sub.add_parser("pose", help=__doc__.splitlines()[0], description=__doc__.splitlines()[0],
                                      formatter_class=parser.formatter_class))


def add_pose_arguments(parser: argparse.ArgumentParser) -> None:
    d = default_conf
    parser.add_argument("--scene", required=True, type=input_path("scene"), help="scene folder")
    parser.add_argument("--format", required=True, choices=scenes.FORMATS)
    parser.add_argument("--outputs", required=True, type=output_path("folder"),
                        help="output folder: results.json, results.md, plots")
    parser.add_argument("--work", type=output_path("folder"), default=None,
                        help="folder for the rotated images, features, matches and models "
                             "(default: OUTPUTS/work; reruns resume from it)")
    parser.add_argument("--rotation", default=d["rotation"],
                        help="none, 90 (multiples of 90), random (uniform [0, 360)) or a comma list "
                             "of angles; the upright scene is also run unless --no-upright")
    parser.add_argument("--seed", type=number(int, low=0), default=d["seed"], help="seed of the angles and pair subset")
    parser.add_argument("--methods", default=d["methods"],
                        help=f"comma list of extractor confs ({', '.join(EXTRACTORS)}) or "
                             "LABEL=FEATURES.h5 ({work} and {variant} in the path are replaced by the work folder and "
                             "the variant's subfolder name, e.g. 'mine={work}/{variant}/mine.h5', extracted "
                             "from {work}/{variant}/images)")
    parser.add_argument("--no-upright", dest="upright", action="store_false",
                        help="skip the upright reference run")
    parser.add_argument("--metrics", default=",".join(d["metrics"]), type=lambda s: s.split(","),
                        help="comma list of pose, sfm, loc")
    parser.add_argument("--max-images", type=number(int, low=2), default=None, help="evenly spaced subset of images")
    parser.add_argument("--max-pairs", type=number(int, low=1), default=None, help="seeded random subset of pairs")
    parser.add_argument("--max-size", type=number(int, low=32), default=d["max_size"],
                        help="downscale images to this longer side before rotating")
    parser.add_argument("--max-keypoints", type=number(int, low=1), default=d["max_keypoints"])
    parser.add_argument("--ratio", type=number(float, above=0, high=1), default=None,
                        help="ratio test when matching LABEL=FEATURES.h5 methods (default: plain mutual NN; "
                             "confs use their default matcher)")
    parser.add_argument("--ransac-px", type=number(float, above=0), default=d["ransac_px"],
                        help="essential-matrix RANSAC threshold in pixels")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF with untrained random weights (results labelled 'untrained')")
    parser.add_argument("--sfm-max-seconds", type=number(float, above=0), default=d["sfm_max_seconds"],
                        help="cap on COLMAP's incremental mapping per method and variant "
                             "(the largest model found by then is scored)")
    parser.add_argument("--weights", default=None,
                        help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--device", default=d["device"], choices=["cpu", "cuda"])


def command_line(args) -> str:
    """The command as typed (from the console entry point), else rebuilt from args."""
    if sys.argv[1:3] == ["benchmark", "pose"]:
        return "relf-hloc " + shlex.join(sys.argv[1:])
    options = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, list) else v}"
               for k, v in sorted(vars(args).items())
               if k not in ("command", "benchmark", "func") and v not in (None, False)]
    return "relf-hloc benchmark pose " + shlex.join(options)


def run(args) -> int:
    conf = {k: getattr(args, k) for k in default_conf}
    main(conf, args.scene, args.format, args.outputs, args.work, command_line(args))
    return 0
