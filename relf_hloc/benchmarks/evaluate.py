"""``relf-hloc evaluate <benchmark>``: one nested subcommand per benchmark module."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    # name: (module exposing add_arguments / run, one-line help)
    "homography": ("relf_hloc.benchmarks.homography",
                   "MMA@1..10 px of a features file on an HPatches or Roto-360 folder"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module, help_) in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(benchmark_run=mod.run)


def run(args) -> int:
    return args.benchmark_run(args)
