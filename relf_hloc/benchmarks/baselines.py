"""Classical baselines written as hloc features files: OpenCV SIFT, RootSIFT, ORB, AKAZE.

Each method uses its own detector. Keypoints are OpenCV's (pixel centre at integer
coordinates, as hloc), strongest ``max_keypoints`` by detector response. SIFT keeps
OpenCV's one-keypoint-per-dominant-orientation duplicates (standard SIFT).

Descriptors are stored so that one evaluator scores all methods by dot products:
- SIFT: L2-normalised; RootSIFT: L1-normalised then square-rooted (unit L2 norm; its
  dot product is the Hellinger kernel of SIFT);
- ORB (256 bits) and AKAZE (MLDB, 486 bits in 61 bytes): bits unpacked to +-1 and
  divided by sqrt(D), D = 8 x bytes. Then dot = 1 - 2 x Hamming / D, so dot-product
  nearest neighbours are exactly Hamming nearest neighbours (AKAZE's 2 padding bits are
  always 0 and shift every dot product equally). Values are +-1/16 for ORB (exact in
  float16); AKAZE's +-1/sqrt(488) round to the same float16 magnitude, which keeps
  the ordering. AKAZE needs an OpenCV build that has it (OpenCV 4.x, or contrib for 5.x).

    relf-hloc baseline --method sift|rootsift|orb|akaze --images DIR --output FILE.h5
        [--max-keypoints N] [--overwrite]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..images import list_images, read_image
from ..io import list_names, write_features

METHODS = ("sift", "rootsift", "orb", "akaze")
# ORB must be told how many keypoints to keep; with no limit asked, keep this many.
ORB_MAX_KEYPOINTS = 10000


def unavailable_reason(method: str) -> Optional[str]:
    """Why this OpenCV build cannot run ``method``, or None if it can."""
    if method == "akaze" and not hasattr(cv2, "AKAZE_create"):
        return (f"AKAZE is not in this OpenCV build ({cv2.__version__}: OpenCV 5 moved it to "
                "opencv_contrib); use opencv-python-headless<5 or an opencv-contrib build to run it")
    return None


def _detector(method: str, max_keypoints: Optional[int]):
    reason = unavailable_reason(method)
    if reason:
        raise RuntimeError(reason)
    if method in ("sift", "rootsift"):
        # precise upscale: see relf_hloc.keypoints.detect_sift (a 0.25 px offset otherwise)
        return cv2.SIFT_create(nfeatures=max_keypoints or 0, enable_precise_upscale=True)
    if method == "orb":
        return cv2.ORB_create(nfeatures=max_keypoints or ORB_MAX_KEYPOINTS)
    if method == "akaze":
        return cv2.AKAZE_create()
    raise ValueError(f"unknown baseline method '{method}' (expected one of {', '.join(METHODS)})")


def binary_to_unit(desc: np.ndarray) -> np.ndarray:
    """Packed binary descriptors [N, B] uint8 -> [N, 8B] float32 of +-1/sqrt(8B)."""
    bits = np.unpackbits(desc, axis=1).astype(np.float32)
    return (2 * bits - 1) / np.sqrt(bits.shape[1])


def normalise_float(desc: np.ndarray, method: str) -> np.ndarray:
    """SIFT -> unit L2; RootSIFT -> sqrt of the L1-normalised SIFT (unit L2)."""
    desc = desc.astype(np.float32)
    if method == "rootsift":
        return np.sqrt(desc / np.maximum(desc.sum(1, keepdims=True), 1e-12))
    return desc / np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)


def extract(image: np.ndarray, method: str, max_keypoints: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Features of one uint8 RGB image [H, W, 3] in hloc's layout.

    Returns keypoints [N, 2] float32, descriptors [D, N] float32, scores [N] (detector
    response), scales [N] (OpenCV size, px), orientations [N] (degrees, counter-clockwise as
    displayed like RELF's: OpenCV's angle turns clockwise, so this is 360 - angle),
    image_size [2] = (w, h).
    """
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    detector = _detector(method, max_keypoints)
    cv_kpts, desc = detector.detectAndCompute(gray, None)
    binary = method in ("orb", "akaze")
    dim = detector.descriptorSize() * (8 if binary else 1)
    if not cv_kpts:
        cv_kpts, desc = [], np.zeros((0, dim), np.uint8 if binary else np.float32)
    response = np.array([k.response for k in cv_kpts], np.float32)
    order = np.argsort(-response, kind="stable")[:max_keypoints]  # None keeps all
    desc = binary_to_unit(desc) if binary else normalise_float(desc, method)
    return {"keypoints": np.array([k.pt for k in cv_kpts], np.float32).reshape(-1, 2)[order],
            "descriptors": np.ascontiguousarray(desc[order].T),
            "scores": response[order],
            "scales": np.array([k.size for k in cv_kpts], np.float32)[order],
            "orientations": np.mod(360 - np.array([k.angle for k in cv_kpts], np.float32), 360)[order],
            "image_size": np.array([gray.shape[1], gray.shape[0]], np.int64)}


def main(images_dir, output, method: str, max_keypoints: Optional[int] = None,
         names: Optional[Sequence[str]] = None, overwrite: bool = False) -> Path:
    """Extract one baseline for every image of ``images_dir`` (or ``names`` in it).

    Resumable: images already in ``output`` are skipped unless ``overwrite``.
    Returns the output path.
    """
    if method not in METHODS:
        raise ValueError(f"unknown baseline method '{method}' (expected one of {', '.join(METHODS)})")
    if unavailable_reason(method):  # before any work, so nothing is half done
        raise RuntimeError(unavailable_reason(method))
    if max_keypoints is not None and max_keypoints <= 0:
        raise ValueError(f"--max-keypoints must be positive, got {max_keypoints}")
    images_dir, output = Path(images_dir), Path(output)
    names = list(names) if names is not None else list_images(images_dir)
    done = set(list_names(output)) if output.exists() and not overwrite else set()
    todo = [n for n in names if n not in done]
    counts = []
    for name in tqdm(todo, desc=f"baseline {method}", unit="img"):
        features = extract(read_image(images_dir / name), method, max_keypoints)
        write_features(output, name, features)
        counts.append(len(features["keypoints"]))
    mean = f", {np.mean(counts):.0f} keypoints per image" if counts else ""
    print(f"baseline {method}: {len(todo)} images extracted, {len(names) - len(todo)} already done{mean}"
          f" -> {output}")
    return output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--images", required=True, type=Path, help="image folder")
    parser.add_argument("--output", required=True, type=Path, help="features file (.h5)")
    parser.add_argument("--max-keypoints", type=int, default=None,
                        help=f"keep the N strongest keypoints (default: all; ORB: {ORB_MAX_KEYPOINTS})")
    parser.add_argument("--overwrite", action="store_true", help="re-extract images already in the file")


def run(args) -> int:
    main(args.images, args.output, args.method, args.max_keypoints, overwrite=args.overwrite)
    return 0
