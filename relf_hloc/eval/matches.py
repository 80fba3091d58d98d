"""Matches without ground truth: the fundamental-matrix inliers that COLMAP's two-view
verification would keep (USAC-MAGSAC, seeded by OpenCV's fixed RNG), the SfM proxy of the
training study and the matcher comparison; and the statistics of the localisation error of
matches that the benchmarks with ground truth report (``error_stats``, ``median_over_pairs``)."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

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


LOC_WITHIN = 10.0  # px: matches this close to the ground truth count in the localisation error


def error_stats(offset: np.ndarray) -> Optional[Dict[str, float]]:
    """{median, p90} (px) of match errors: signed offsets [M, 2] (then also their means {dx, dy})
    or distances [M]; None without any."""
    offset = np.asarray(offset, np.float64)
    if len(offset) == 0:
        return None
    error = np.linalg.norm(offset, axis=1) if offset.ndim == 2 else offset
    stats = {"median": float(np.median(error)), "p90": float(np.percentile(error, 90))}
    if offset.ndim == 2:
        stats.update(dx=float(offset[:, 0].mean()), dy=float(offset[:, 1].mean()))
    return stats


def median_over_pairs(per_pair: Sequence[dict]) -> Dict[str, Optional[Dict[str, float]]]:
    """Each ``error_stats`` statistic of per-pair {"matches": stats, "inliers": stats}, its median
    over the pairs where it is defined (a pair whose verification went wrong has inliers hundreds
    of pixels off: the median over pairs is not theirs)."""
    out = {}
    for kind in ("matches", "inliers"):
        stats = [p[kind] for p in per_pair if p.get(kind)]
        out[kind] = {k: float(np.median([s[k] for s in stats])) for k in stats[0]} if stats else None
    return out
