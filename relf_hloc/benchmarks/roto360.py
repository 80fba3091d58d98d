"""Generate a Roto-360-layout set from HPatches-layout sequences.

Image 1 of each sequence is rotated about its centre by 0, step, ..., 360 - step degrees
(counter-clockwise as displayed, OpenCV's ``getRotationMatrix2D`` convention) and written
as ``<out>/<seq>/1_rot<deg>.jpg`` with the exact reference->target homography in
``1_rot<deg>.txt``. ``1_rot0.jpg`` is the reference (image 1 re-encoded as JPEG).

Canvas: the output canvas is enlarged to the bounding box of the rotated image, so the
whole image stays visible and no content is lost at any angle; uncovered corners are black.
With the pixel centre at integer coordinates the image covers [-0.5, w - 0.5] x
[-0.5, h - 0.5]; its centre ((w-1)/2, (h-1)/2) maps to the centre of the new canvas.
Multiples of 90 degrees use exact cosines and sines, so those targets are exact pixel
permutations of the reference (before JPEG coding).

    relf-hloc make-roto360 --hpatches DIR --output DIR [--sequences a,b] [--step 10]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from ..images import read_image
from .datasets import _sequence_dirs, hpatches_root, write_homography

JPEG_QUALITY = 95


def _cos_sin(angle_deg: float) -> Tuple[float, float]:
    if float(angle_deg) % 90 == 0:  # exact values: 90-degree targets are pixel permutations
        k = int(angle_deg // 90) % 4
        return (1.0, 0.0, -1.0, 0.0)[k], (0.0, 1.0, 0.0, -1.0)[k]
    a = math.radians(angle_deg)
    return math.cos(a), math.sin(a)


def rotation_homography(angle_deg: float, width: int, height: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Homography [3, 3] rotating a ``width`` x ``height`` image about its centre by
    ``angle_deg`` (counter-clockwise on screen) onto an enlarged canvas, and that canvas's
    (width, height)."""
    c, s = _cos_sin(angle_deg)
    # Bounding box of the rotated pixel area; the tolerance keeps float noise from adding a pixel.
    new_w = int(math.ceil(abs(c) * width + abs(s) * height - 1e-6))
    new_h = int(math.ceil(abs(s) * width + abs(c) * height - 1e-6))
    # y points down, so a counter-clockwise turn on screen is [[c, s], [-s, c]].
    R = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    to_origin = np.array([[1.0, 0.0, -(width - 1) / 2], [0.0, 1.0, -(height - 1) / 2], [0.0, 0.0, 1.0]])
    to_canvas = np.array([[1.0, 0.0, (new_w - 1) / 2], [0.0, 1.0, (new_h - 1) / 2], [0.0, 0.0, 1.0]])
    return to_canvas @ R @ to_origin, (new_w, new_h)


def rotate_image(image: np.ndarray, angle_deg: float) -> Tuple[np.ndarray, np.ndarray]:
    """Rotated image [H', W', C] (black where uncovered) and its homography [3, 3]."""
    h, w = image.shape[:2]
    H, size = rotation_homography(angle_deg, w, h)
    # warpAffine samples dst(x) = src(H^-1 x) with the same pixel-centre convention.
    rotated = cv2.warpAffine(image, H[:2], size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return rotated, H


def main(hpatches_dir, output_dir, sequences: Optional[Sequence[str]] = None, step: int = 10,
         overwrite: bool = False) -> Path:
    """Write ``<output_dir>/<seq>/1_rot<deg>.{jpg,txt}`` for every sequence; returns output_dir.

    Existing complete outputs (image and homography) are kept unless ``overwrite``.
    """
    if step <= 0 or 360 % step:
        raise ValueError(f"--step must divide 360, got {step}")
    root = hpatches_root(hpatches_dir)
    output_dir = Path(output_dir)
    seq_dirs = _sequence_dirs(root, sequences)
    angles = list(range(0, 360, step))
    written = 0
    for seq in tqdm(seq_dirs, desc="make-roto360", unit="seq"):
        reference = seq / "1.ppm"
        if not reference.is_file():
            raise FileNotFoundError(f"{reference}: image 1 of sequence '{seq.name}' not found")
        image = cv2.cvtColor(read_image(reference), cv2.COLOR_RGB2BGR)
        out = output_dir / seq.name
        out.mkdir(parents=True, exist_ok=True)
        for deg in angles:
            jpg, txt = out / f"1_rot{deg}.jpg", out / f"1_rot{deg}.txt"
            if jpg.is_file() and txt.is_file() and not overwrite:
                continue
            rotated, H = rotate_image(image, deg)
            tmp = out / f".1_rot{deg}.tmp.jpg"
            if not cv2.imwrite(str(tmp), rotated, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise RuntimeError(f"{jpg}: cannot write image")
            tmp.replace(jpg)
            write_homography(txt, H)  # written last: its presence marks the pair complete
            written += 1
    print(f"make-roto360: {len(seq_dirs)} sequences x {len(angles)} angles in {output_dir} "
          f"({written} written, {len(seq_dirs) * len(angles) - written} already there)")
    return output_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hpatches", required=True, type=Path, help="HPatches-layout folder")
    parser.add_argument("--output", required=True, type=Path, help="Roto-360-layout output folder")
    parser.add_argument("--sequences", default=None,
                        help="comma-separated sequence names (default: all)")
    parser.add_argument("--step", type=int, default=10, help="angle step in degrees (divides 360)")
    parser.add_argument("--overwrite", action="store_true")


def run(args) -> int:
    sequences = args.sequences.split(",") if args.sequences else None
    main(args.hpatches, args.output, sequences, args.step, args.overwrite)
    return 0
