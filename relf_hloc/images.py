"""Reading, writing and rotating images and listing image folders, with errors that name the file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

from .geometry import rotation_homography
from .io import atomic_write
from .log import logger

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIZE = 32


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file."""


def list_images(root) -> List[str]:
    """Image paths relative to ``root`` (POSIX, sorted): the names hloc and COLMAP use.

    Symlinked subfolders are followed, as symlinked files are (a link back into a folder above
    it is refused by name). Hidden files and folders (a leading '.', such as the AppleDouble
    ``._name.jpg`` files macOS leaves beside copied images) are left out, with a note."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: image folder not found")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    names, hidden = [], []
    for folder, dirs, files in os.walk(root, followlinks=True):
        here = Path(folder)
        for d in [d for d in dirs if (here / d).is_symlink()]:
            target = (here / d).resolve()
            if target == here.resolve() or target in here.resolve().parents:
                raise ValueError(f"{here / d}: a symbolic link to {target}, a folder above it (a loop); remove it")
        hidden += [(here / d).relative_to(root).as_posix() for d in dirs if d.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if Path(f).suffix.lower() in IMAGE_EXTENSIONS:
                (hidden if f.startswith(".") else names).append((here / f).relative_to(root).as_posix())
    if hidden:
        logger.warning(f"note: {root}: {len(hidden)} hidden file(s) or folder(s) left out (names starting with "
                       f"'.', such as the '._name.jpg' AppleDouble files of macOS), e.g. '{hidden[0]}'")
    if not names:
        raise FileNotFoundError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
    return sorted(names)


def natural_key(name: str) -> List:
    """Sort key of names in natural order, numbers by value: frame_2 before frame_10 (the order of
    the frames of a video, whether or not their numbers are zero-padded)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _check_file(path: Path) -> None:
    """A missing, empty or truncated file (libjpeg would fill a truncated JPEG with grey
    and only warn)."""
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    size = path.stat().st_size
    if size == 0:
        raise ImageError(f"{path}: image file is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(3)
    if head == b"\xff\xd8\xff" and not jpeg_complete(path.read_bytes()):
        raise ImageError(f"{path}: truncated JPEG (no end-of-image marker): the file is incomplete")


def jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG's image ends (an end-of-image marker after its first scan). Data after the
    marker (the video of a motion photo, a drone's metadata) is allowed; the marker of an EXIF
    thumbnail, inside a segment before the scan, does not count."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0xDA:  # start of scan: the image ends at the next end-of-image marker
            return b"\xff\xd9" in data[i:]
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return False


def read_image(path, grayscale: bool = False) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3] (or [H, W] if grayscale).

    Grayscale files are replicated to 3 channels, an alpha channel is dropped and
    16-bit images are scaled to 8 bits. EXIF orientation is ignored, as in hloc
    and COLMAP. Raises ImageError for a missing, empty, truncated, corrupt or tiny file.
    """
    path = Path(path)
    _check_file(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ImageError(f"{path}: cannot decode image (corrupt or unsupported format)")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if min(image.shape[:2]) < MIN_SIZE:
        raise ImageError(f"{path}: image is {image.shape[1]}x{image.shape[0]} px, "
                         f"smaller than the {MIN_SIZE} px minimum")
    if grayscale:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


def image_size(path) -> Tuple[int, int]:
    """(width, height) from the file's header (PIL), without decoding the pixels."""
    from PIL import Image
    with Image.open(path) as image:
        return image.size


def write_image(path, image: np.ndarray, jpeg_quality: int = 95) -> Path:
    """Write a uint8 RGB [H, W, 3] image atomically (format from the suffix)."""
    jpeg = Path(path).suffix.lower() in (".jpg", ".jpeg")
    with atomic_write(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if jpeg else []):
            raise ImageError(f"{path}: cannot write image")
    return Path(path)


def rotate_image(image: np.ndarray, angle_deg: float) -> Tuple[np.ndarray, np.ndarray]:
    """Image [H, W, ...] rotated counter-clockwise by ``angle_deg`` on an enlarged canvas
    (bilinear, black where uncovered; multiples of 90 degrees are exact pixel permutations)
    and its homography [3, 3] (``geometry.rotation_homography``)."""
    h, w = image.shape[:2]
    H, size = rotation_homography(angle_deg, w, h)
    # warpAffine samples dst(x) = src(H^-1 x) with the same pixel-centre convention.
    rotated = cv2.warpAffine(image, H[:2], size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return rotated, H
