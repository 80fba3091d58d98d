"""``relf-hloc train``: the command line of ``relf_hloc.train.trainer``."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..checks import input_path, number, output_path
from ..confs import merge
from ..train.trainer import load_config, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=input_path("conf"), help="training config (YAML)")
    parser.add_argument("--outputs", type=output_path("folder"), default=None,
                        help="output folder (default: outputs/train/<config name>)")
    parser.add_argument("--resume", type=input_path("checkpoint"), default=None,
                        help="checkpoint to resume from: last.pth, or exported weights "
                        "(best.pth: the schedule goes on at its step, the optimiser starts afresh)")
    parser.add_argument("--max-steps", type=number(int, low=1), default=None,
                        help="stop after this step (the schedule still spans train.max_steps)")
    parser.add_argument("--init-weights", default=None, metavar="PTH",
                        help="fine-tune: start from these weights ('shipped' = the package's); "
                             "override model.init_weights")
    parser.add_argument("--data-root", type=input_path("images"), default=None, help="override data.root")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="override train.device")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config entry, e.g. --set data.homography=paper (repeatable)")


def apply_overrides(conf: dict, overrides) -> dict:
    """Apply 'a.b.c=value' strings (value parsed as YAML) to a resolved config."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. data.homography=paper")
        nested = yaml.safe_load(value)
        for part in reversed(key.split(".")):
            nested = {part: nested}
        conf = merge(conf, nested)
    return conf


def run(args) -> int:
    conf = apply_overrides(load_config(args.config), args.overrides)
    if args.data_root is not None:
        conf["data"]["root"] = str(args.data_root)
    if args.device is not None:
        conf["train"]["device"] = args.device
    if args.init_weights is not None:
        conf["model"]["init_weights"] = args.init_weights
    output = args.outputs or Path("outputs/train") / args.config.stem
    train(conf, output, args.resume, args.max_steps)
    return 0
