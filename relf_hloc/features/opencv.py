"""Classical extractors (the baselines): OpenCV SIFT, RootSIFT, ORB, AKAZE.

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

    relf-hloc extract --conf sift|rootsift|orb|akaze --images DIR --output FILE.h5
"""

from __future__ import annotations

from typing import Dict, Optional

import cv2
import numpy as np

from ..confs import OPENCV_METHODS, SFM_KEYPOINTS, SIFT_CONTRAST
from .base import Extractor


def unavailable_reason(method: str) -> Optional[str]:
    """Why this OpenCV build cannot run ``method``, or None if it can."""
    if method == "akaze" and not hasattr(cv2, "AKAZE_create"):
        return (f"AKAZE is not in this OpenCV build ({cv2.__version__}: OpenCV 5 moved it to "
                "opencv_contrib); use opencv-python-headless<5 or an opencv-contrib build to run it")
    return None


def create_sift(max_keypoints: int = 0, contrast_threshold: float = SIFT_CONTRAST):
    """The project's one SIFT set-up (the SIFT extractors and RELF's SIFT detector): OpenCV's
    DoG with COLMAP's contrast threshold (``confs.SIFT_CONTRAST``) and the precise first-octave
    upscale (the default shifts keypoints by 0.25 px, an error that turns with the camera and
    so hurts rotated views). ``max_keypoints`` 0: every keypoint."""
    return cv2.SIFT_create(nfeatures=max_keypoints, contrastThreshold=contrast_threshold,
                           enable_precise_upscale=True)


def _detector(method: str, max_keypoints: int, contrast_threshold: float):
    if method in ("sift", "rootsift"):
        return create_sift(max_keypoints, contrast_threshold)
    if method == "orb":
        return cv2.ORB_create(nfeatures=max_keypoints)
    return cv2.AKAZE_create()


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


class OpenCVFeatures(Extractor):
    """One OpenCV method as an extractor (``base.Extractor``): ``extract`` of a uint8 RGB
    [H, W, 3] image, and ``forward`` of batched tensors from it.

    Returns keypoints [N, 2] float32, descriptors [N, D] float32, scores [N] (detector
    response), scales [N] (OpenCV size, px), orientations [N] (degrees, counter-clockwise as
    displayed like RELF's: OpenCV's angle turns clockwise, so this is 360 - angle),
    strongest ``max_keypoints`` first.
    """

    default_conf = {"name": "sift", "max_keypoints": SFM_KEYPOINTS["opencv"],
                    "contrast_threshold": SIFT_CONTRAST}  # SIFT/RootSIFT (see confs.SIFT_CONTRAST)

    def __init__(self, conf: Optional[dict] = None):
        super().__init__(conf)
        method, n = self.conf["name"], self.conf["max_keypoints"]
        if method not in OPENCV_METHODS:
            raise ValueError(f"unknown OpenCV method '{method}' (expected one of {', '.join(OPENCV_METHODS)})")
        if unavailable_reason(method):
            raise RuntimeError(unavailable_reason(method))
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"max_keypoints must be a positive integer, got {n!r}")

    def extract(self, image: np.ndarray, keypoints=None, scores=None, name=None) -> Dict[str, np.ndarray]:
        """Keypoints, descriptors, scores, scales and orientations of one uint8 RGB image."""
        if keypoints is not None:
            return self.describe({"keypoints": keypoints})  # an error: OpenCV describes its own only
        method, max_keypoints = self.conf["name"], self.conf["max_keypoints"]
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        detector = _detector(method, max_keypoints, self.conf["contrast_threshold"])
        cv_kpts, desc = detector.detectAndCompute(gray, None)
        binary = method in ("orb", "akaze")
        dim = detector.descriptorSize() * (8 if binary else 1)
        if not cv_kpts:
            cv_kpts, desc = [], np.zeros((0, dim // 8 if binary else dim), np.uint8 if binary else np.float32)
        response = np.array([k.response for k in cv_kpts], np.float32)
        order = np.argsort(-response, kind="stable")[:max_keypoints]
        desc = binary_to_unit(desc) if binary else normalise_float(desc, method)
        return {"keypoints": np.array([k.pt for k in cv_kpts], np.float32).reshape(-1, 2)[order],
                "descriptors": np.ascontiguousarray(desc[order]),
                "scores": response[order],
                "scales": np.array([k.size for k in cv_kpts], np.float32)[order],
                "orientations": np.mod(360 - np.array([k.angle for k in cv_kpts], np.float32), 360)[order]}
