"""The ``relf-hloc`` command line: one subcommand per module of this package.

Each module holds the wiring of one command, ``add_arguments(parser)`` and ``run(args) -> int``
(the exit code), and calls the library (the steps in ``relf_hloc.steps``, the drivers); no
step module parses arguments. Modules are imported only when their command runs, so
``relf-hloc --help`` stays fast.
"""

import argparse
import importlib
import sys

from .. import log

COMMANDS = {
    # name: (module, one-line help)
    "demo": ("relf_hloc.cli.demo",
             "render a scene with known cameras, run SfM with RELF and SIFT on it and score both (no download)"),
    "extract": ("relf_hloc.cli.extract",
                "extract local features (RELF or an OpenCV baseline) of a folder of images into an hloc HDF5 file"),
    "pairs": ("relf_hloc.cli.pairs", "write an image pairs file (exhaustive or sequential)"),
    "match": ("relf_hloc.cli.match", "match features of image pairs (mutual nearest neighbour, optional ratio test)"),
    "export": ("relf_hloc.cli.export",
               "export RELF's network to ONNX (fp32 or calibrated int8) for the onnxruntime backends"),
    "merge": ("relf_hloc.cli.merge", "merge shards of a features or matches file (extract/match --shard K/N) into one"),
    "sfm": ("relf_hloc.cli.sfm",
            "run extract, pairs, match and COLMAP reconstruction on a folder; write the model and report.json"),
    "localize": ("relf_hloc.cli.localize", "localize query images against a COLMAP model (poses in hloc format + log)"),
    "query": ("relf_hloc.cli.query",
              "localize new photos against an sfm output: extract, retrieve, match, estimate poses (one call)"),
    "triangulate": ("relf_hloc.cli.triangulate", "triangulate 3D points from known camera poses (a COLMAP model)"),
    "visualize": ("relf_hloc.cli.visualize", "plot keypoints, matches (PNG) or a 3D model (plotly HTML)"),
    "make-roto360": ("relf_hloc.cli.make_roto360",
                     "generate a Roto-360-layout set (rotated image 1 + homographies) from HPatches"),
    "evaluate": ("relf_hloc.cli.evaluate", "evaluate features on a benchmark (evaluate homography ...)"),
    "compare": ("relf_hloc.cli.compare", "run baselines and RELF on a benchmark folder and write results/<dataset>/"),
    "benchmark": ("relf_hloc.cli.benchmark",
                  "pose accuracy benchmarks on scenes with ground-truth cameras (benchmark pose ...)"),
    "train": ("relf_hloc.cli.train", "self-supervised training of RELF from a folder of images (YAML config)"),
}


class HelpFormatter(argparse.HelpFormatter):
    """--help shows every default: the option's own words when it names it, else the value."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def add_log_options(parser: argparse.ArgumentParser, default) -> None:
    """-v / -q: the level of the package logger (before or after the command's name)."""
    parser.add_argument("-v", dest="log_verbose", action="count", default=default,
                        help="more messages: -v adds debug messages")
    parser.add_argument("-q", dest="log_quiet", action="count", default=default,
                        help="fewer messages: -q warnings and errors only, -qq errors only")


def build_parser(argv):
    parser = argparse.ArgumentParser(prog="relf-hloc", description=__doc__.splitlines()[0])
    add_log_options(parser, 0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_,
                           formatter_class=HelpFormatter)
        add_log_options(p, argparse.SUPPRESS)  # the top level's count goes on
        if name == wanted:  # import only the module of the command being run
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(func=mod.run)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), "")
    try:  # Ctrl-C while the command's modules import (the first second) ends like any other
        from ..checks import check_args
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse's usage errors (2) and --help (0), as an exit code
            return int(e.code or 0)
        log.configure(args.log_verbose - args.log_quiet)
        check_args(parser, args)
        if getattr(args, "threads", None):
            from .options import use_threads
            use_threads(args.threads)
        return int(args.func(args) or 0)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"relf-hloc {command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"relf-hloc {command}: interrupted; rerun to resume", file=sys.stderr)
        return 130
