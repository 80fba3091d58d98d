"""``relf-hloc export``: RELF's network as an ONNX file (fp32 or calibrated int8), for shipping
it or for the onnxruntime backends (``relf_hloc.features.onnx``).

    relf-hloc export [--weights W.pth] [--backend onnxruntime|onnxruntime-int8] [--outputs DIR]
"""

from __future__ import annotations

import argparse

from ..checks import input_path, output_path
from ..confs import BACKENDS, DEFAULT_WEIGHTS
from ..features import onnx
from ..features.checkpoint import load_checkpoint
from ..features.relf import WIDTHS, exported_network, network_tag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=input_path("checkpoint"), default=None,
                        help="checkpoint (default: the shipped weights)")
    parser.add_argument("--backend", default="onnxruntime-int8", choices=BACKENDS[1:])
    parser.add_argument("--outputs", type=output_path("folder"), default=None,
                        help="folder for the .onnx file (default: the user's cache folder)")


def run(args) -> int:
    weights = str(args.weights or DEFAULT_WEIGHTS)
    backbone = load_checkpoint(weights)[1]["backbone"]
    path = onnx.model_file(weights, network_tag(weights, backbone), args.backend,
                           lambda: exported_network(weights, 16, WIDTHS, backbone=backbone), args.outputs)
    print(f"export: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
