"""``relf-hloc benchmark``: the command lines of ``relf_hloc.benchmarks.pose`` and
``relf_hloc.benchmarks.localization``."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..benchmarks import localization, pose
from ..checks import input_path, number, output_path
from ..confs import EXTRACTORS
from ..datasets import scenes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``relf-hloc benchmark pose ...``: the pose benchmark as a nested subcommand."""
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, module, add in (("pose", pose, add_pose_arguments),
                              ("localization", localization, add_localization_arguments)):
        help_ = module.__doc__.splitlines()[0]
        add(sub.add_parser(name, help=help_, description=help_, formatter_class=parser.formatter_class))


def add_scene_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scene", required=True, type=input_path("scene"), help="scene folder")
    parser.add_argument("--format", required=True, choices=scenes.FORMATS)
    parser.add_argument("--outputs", required=True, type=output_path("folder"),
                        help="output folder: results.json, results.md, plots")
    parser.add_argument("--work", type=output_path("folder"), default=None,
                        help="folder for the rotated images, features, matches and models "
                             "(default: OUTPUTS/work; reruns resume from it)")


def add_localization_arguments(parser: argparse.ArgumentParser) -> None:
    d = localization.default_conf
    add_scene_arguments(parser)
    parser.add_argument("--methods", default=d["methods"],
                        help=f"comma list of extractor confs ({', '.join(EXTRACTORS)}) and 'colmap' (COLMAP's own "
                             "SIFT features and matches)")
    parser.add_argument("--every", default=d["every"],
                        help="reference models of every N-th upright photo, a comma list (default: 2,3)")
    parser.add_argument("--rotation", default=d["rotation"],
                        help="query variants besides upright: random (any angle, enlarged canvas), 90 (multiples "
                             "of 90 degrees); comma list (default: random,90)")
    parser.add_argument("--seed", type=number(int, low=0), default=d["seed"], help="seed of the angles")
    parser.add_argument("--max-size", type=number(int, low=32), default=d["max_size"],
                        help="downscale images to this longer side")
    parser.add_argument("--min-inliers", type=number(int, low=4), default=d["min_inliers"],
                        help="PnP inliers to count as localized")
    parser.add_argument("--device", default=d["device"], choices=["cpu", "cuda"])


def add_pose_arguments(parser: argparse.ArgumentParser) -> None:
    d = pose.default_conf
    add_scene_arguments(parser)
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
    if sys.argv[1:3] == ["benchmark", args.benchmark]:
        return "relf-hloc " + shlex.join(sys.argv[1:])
    options = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, list) else v}"
               for k, v in sorted(vars(args).items())
               if k not in ("command", "benchmark", "func") and v not in (None, False)]
    return f"relf-hloc benchmark {args.benchmark} " + shlex.join(options)


def run(args) -> int:
    module = {"pose": pose, "localization": localization}[args.benchmark]
    conf = {k: getattr(args, k) for k in module.default_conf}
    module.main(conf, args.scene, args.format, args.outputs, args.work, command_line(args))
    return 0
