"""Matches without ground truth: the fundamental-matrix inliers that COLMAP's two-view
verification would keep (USAC-MAGSAC, seeded by OpenCV's fixed RNG), the SfM proxy of the
training study and the matcher comparison."""

from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np

from ..io import read_features, read_matches


def verified_inliers(k0: np.ndarray, k1: np.ndarray, threshold_px: float = 1.0,
                     confidence: float = 0.999) -> np.ndarray:
    """Inlier mask [M] of matched points [M, 2] under a fundamental matrix; all False for
    fewer than 8 matches or when no matrix is found."""
    if len(k0) < 8:
        return np.zeros(len(k0), bool)
    _, mask = cv2.findFundamentalMat(k0.astype(np.float64), k1.astype(np.float64), cv2.USAC_MAGSAC,
                                     threshold_px, confidence, 10000)
    return np.zeros(len(k0), bool) if mask is None else mask.ravel().astype(bool)


def median_verified_inliers(features, matches, pairs: Sequence[Tuple[str, str]],
                            threshold_px: float = 1.0) -> float:
    """Median over ``pairs`` of the verified inliers of an hloc features and matches file."""
    keypoints, counts = {}, []
    for a, b in pairs:
        for name in (a, b):  # each image read once
            if name not in keypoints:
                keypoints[name] = read_features(features, name, ["keypoints"])["keypoints"]
        m, _ = read_matches(matches, a, b)
        counts.append(int(verified_inliers(keypoints[a][m[:, 0]], keypoints[b][m[:, 1]], threshold_px).sum()))
    return float(np.median(counts))
