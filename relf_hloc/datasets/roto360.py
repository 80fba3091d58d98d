"""Generate a Roto-360-layout set from HPatches-layout sequences.

Image 1 of each sequence is rotated about its centre by 0, step, ..., 360 - step degrees
(counter-clockwise as displayed, OpenCV's ``getRotationMatrix2D`` convention) and written
as ``<out>/<seq>/1_rot<deg>.jpg`` with the exact reference->target homography in
``1_rot<deg>.txt``. ``1_rot0.jpg`` is the reference (image 1 re-encoded as JPEG).

Canvas (``relf_hloc.geometry.rotation_homography``): the output canvas is enlarged to the bounding
box of the rotated image, so the
whole image stays visible and no content is lost at any angle; uncovered corners are black.
With the pixel centre at integer coordinates the image covers [-0.5, w - 0.5] x
[-0.5, h - 0.5]; its centre ((w-1)/2, (h-1)/2) maps to the centre of the new canvas.
Multiples of 90 degrees use exact cosines and sines, so those targets are exact pixel
permutations of the reference (before JPEG coding).

    relf-hloc make-roto360 --hpatches DIR --outputs DIR [--sequences a,b] [--step 10]
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from tqdm import tqdm

from ..log import logger
from ..images import read_image, rotate_image, write_image
from .homography import hpatches_root, sequence_dirs, write_homography


def main(hpatches_dir, output_dir, sequences: Optional[Sequence[str]] = None, step: int = 10,
         overwrite: bool = False) -> Path:
    """Write ``<output_dir>/<seq>/1_rot<deg>.{jpg,txt}`` for every sequence; returns output_dir.

    Existing complete outputs (image and homography) are kept unless ``overwrite``.
    """
    if step <= 0 or 360 % step:
        raise ValueError(f"--step must divide 360, got {step}")
    root = hpatches_root(hpatches_dir)
    output_dir = Path(output_dir)
    seq_dirs = sequence_dirs(root, sequences)
    angles = list(range(0, 360, step))
    written = 0
    for seq in tqdm(seq_dirs, desc="make-roto360", unit="seq"):
        reference = seq / "1.ppm"
        if not reference.is_file():
            raise FileNotFoundError(f"{reference}: image 1 of sequence '{seq.name}' not found")
        image = read_image(reference)
        out = output_dir / seq.name
        for deg in angles:
            jpg, txt = out / f"1_rot{deg}.jpg", out / f"1_rot{deg}.txt"
            if jpg.is_file() and txt.is_file() and not overwrite:
                continue
            rotated, H = rotate_image(image, deg)
            write_image(jpg, rotated)
            write_homography(txt, H)  # written last: its presence marks the pair complete
            written += 1
    logger.info(f"make-roto360: {len(seq_dirs)} sequences x {len(angles)} angles in {output_dir} "
                f"({written} written, {len(seq_dirs) * len(angles) - written} already there)")
    return output_dir
