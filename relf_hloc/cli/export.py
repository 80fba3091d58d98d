"""``relf-hloc export``: RELF's network as an ONNX file (fp32 or calibrated int8), for shipping
it or for the onnxruntime backends (``relf_hloc.features.onnx``).

    relf-hloc export [--weights W.pth] [--backend onnxruntime|onnxruntime-int8] [--outputs DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..confs import DEFAULT_WEIGHTS
from ..features import onnx, weights_tag
from ..features.relf import WIDTHS, exported_network


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, default=None, help="checkpoint (default: the shipped weights)")
    parser.add_argument("--backend", default="onnxruntime-int8", choices=onnx.BACKENDS[1:])
    parser.add_argument("--outputs", type=Path, default=None,
                        help="folder for the .onnx file (default: the user's cache folder)")


def run(args) -> int:
    weights = str(args.weights or DEFAULT_WEIGHTS)
    path = onnx.model_file(weights, weights_tag(weights), args.backend,
                           lambda: exported_network(weights, 16, WIDTHS), args.outputs)
    print(f"export: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
