"""Image pairs to match: exhaustive, sequential (a window of k), or read from a file.

    relf-hloc pairs --images DIR --output pairs.txt [--mode sequential --window 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Tuple

from .. import io
from ..images import list_images

Pair = Tuple[str, str]


def exhaustive(names: List[str]) -> List[Pair]:
    """Every unordered pair once, in name order."""
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def sequential(names: List[str], window: int = 5) -> List[Pair]:
    """Each image with the ``window`` images that follow it (video-like order)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return [(a, names[j]) for i, a in enumerate(names)
            for j in range(i + 1, min(i + 1 + window, len(names)))]


def main(output, images=None, mode: str = "exhaustive", window: int = 5,
         names: Optional[List[str]] = None, features=None) -> Path:
    """Write pairs of ``names`` (or of the images in ``images``, or of a features file)."""
    if names is None:
        names = list_images(images) if images is not None else io.list_names(features)
    io.check_names(names, images or features)
    if mode == "exhaustive":
        pairs = exhaustive(names)
    elif mode == "sequential":
        pairs = sequential(names, window)
    else:
        raise ValueError(f"unknown pairs mode '{mode}' (exhaustive or sequential)")
    io.write_pairs(output, pairs)
    print(f"pairs: {len(pairs)} {mode} pairs of {len(names)} images -> {output}")
    return Path(output)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="image folder")
    src.add_argument("--features", type=Path, help="take the image names of a features file")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--mode", default="exhaustive", choices=["exhaustive", "sequential"])
    parser.add_argument("--window", type=int, default=5, help="sequential: images after each one")


def run(args) -> int:
    main(args.output, args.images, args.mode, args.window, features=args.features)
    return 0
