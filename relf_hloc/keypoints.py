"""Keypoints for RELF: a rotation-covariant detector, or those of another features file."""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from . import io


def detect_sift(image: np.ndarray, max_keypoints: int = 2000,
                contrast_threshold: float = 0.02) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV SIFT (DoG) keypoints, strongest first, one per location.

    image: uint8 [H, W] or [H, W, 3] RGB. OpenCV returns a keypoint once per
    dominant orientation; duplicates at the same location are removed, keeping
    the strongest. Returns keypoints [N, 2] float32 (pixel centre at integer
    coordinates), scores [N] (DoG response) and the OpenCV keypoints (with
    orientation and scale, for computing SIFT descriptors on the same points).
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # precise upscale: the default first-octave upscale shifts keypoints by 0.25 px,
    # an error that turns with the camera and so hurts rotated views
    sift = cv2.SIFT_create(contrastThreshold=contrast_threshold, enable_precise_upscale=True)
    cv_kpts = sift.detect(gray, None)
    if not cv_kpts:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32), []
    xy = np.array([k.pt for k in cv_kpts], np.float32)
    response = np.array([k.response for k in cv_kpts], np.float32)
    order = np.argsort(-response, kind="stable")
    _, first = np.unique(xy[order].round(2), axis=0, return_index=True)
    keep = order[np.sort(first)][:max_keypoints] if max_keypoints else order[np.sort(first)]
    return xy[keep], response[keep], [cv_kpts[i] for i in keep]


def read_keypoints(path, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Keypoints [N, 2] and scores [N] of one image in an hloc features file."""
    feats = io.read_features(path, name, keys=["keypoints"])
    kpts = feats["keypoints"].astype(np.float32)
    try:
        scores = io.read_features(path, name, keys=["scores"])["scores"]
    except io.FormatError:
        scores = np.ones(len(kpts), np.float32)
    return kpts, scores.astype(np.float32)
