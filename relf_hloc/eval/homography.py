"""Homography metrics of any hloc features file, the RELF paper's protocol.

For every pair (reference, target) with ground-truth homography H:
- descriptors are L2-normalised and matched by mutual nearest neighbour on dot
  products (no ratio test, no threshold, no RANSAC);
- a match (i, j) is correct at t px if ||H(kpts0[i]) - kpts1[j]|| <= t, t = 1..10;
- per-pair precision = correct / matches x 100, and 0 for a pair with no match.

Aggregates (all percentages are means of per-pair values, never pooled over matches):
MMA@t, ``pred_matches`` = mean matches per pair, ``total_points`` = mean (N0 + N1) / 2
with N the rows of the features file (multi-candidate duplicates count), and
``repeatability`` of the keypoints at 3 px (``repeatability``, SuperPoint's definition). Results are a
deterministic function of the features file: rerunning gives the same JSON.

Where the features file has ``orientations`` (degrees, counter-clockwise as displayed),
``ori_acc`` scores them: the turn ori1 - ori0 of a keypoint pair, in bins of 360/16
degrees, is within one bin of the local rotation of H at the keypoint. ``matches``: over
the predicted mutual matches; ``gt``: over ground-truth correspondences (each keypoint of
image 0 and its nearest keypoint of image 1 within 3 px of H(x)), whatever the descriptors.

``loc_error`` is the localisation error of the matches against the ground truth, the signed
offset kpts1[j] - H(kpts0[i]) of each match: over the mutual matches within ``LOC_WITHIN`` px
(the approximately right ones) and over the inliers of a homography verified by USAC-MAGSAC at
``VERIFY_PX``, each as median and 90th percentile of the error (px) and mean signed offset in
x and y (px), medians over pairs. A systematic offset shows a coordinate-convention defect; a
spread, a descriptor that finds the right place but not the right pixel.

Tables, plots and the ``relf-hloc evaluate homography`` command are in
``relf_hloc.benchmarks.homography``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..datasets.homography import HomographyPair
from ..geometry import local_rotation_deg, warp_points
from ..io import read_features
from ..matchers import load_matcher
from .matches import LOC_WITHIN, error_stats, median_over_pairs

THRESHOLDS = tuple(range(1, 11))
TABLE_THRESHOLDS = (1, 3, 5, 10)
ORI_BINS = 16  # orientation accuracy counts bins of 360/16 degrees, RELF's C16 group
GT_RADIUS = 3.0  # px: ground-truth correspondence radius for the orientation accuracy
VERIFY_PX = 3.0  # px: USAC-MAGSAC homography threshold of the verified inliers


def match_precisions(kpts0: np.ndarray, kpts1: np.ndarray, matches: np.ndarray,
                     H: np.ndarray, thresholds: Sequence[int] = THRESHOLDS) -> np.ndarray:
    """Percentage of correct matches at each threshold [T]; zeros when there is no match.

    kpts0 [N0, 2], kpts1 [N1, 2]; matches [M, 2] indices into (kpts0, kpts1).
    """
    if len(matches) == 0:
        return np.zeros(len(thresholds))
    errors = np.linalg.norm(warp_points(H, kpts0[matches[:, 0]].astype(np.float64))
                            - kpts1[matches[:, 1]], axis=1)
    return np.array([(errors <= t).mean() * 100 for t in thresholds])


def offsets(kpts0: np.ndarray, kpts1: np.ndarray, matches: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Signed ground-truth offsets [M, 2] of matches [M, 2]: kpts1[j] - H(kpts0[i])."""
    if len(matches) == 0:
        return np.zeros((0, 2))
    return kpts1[matches[:, 1]] - warp_points(H, kpts0[matches[:, 0]].astype(np.float64))


def verified_inliers(kpts0: np.ndarray, kpts1: np.ndarray, matches: np.ndarray,
                     threshold: float = VERIFY_PX) -> np.ndarray:
    """The matches [K, 2] that are inliers of a homography fitted by USAC-MAGSAC (empty
    under 4 matches or when none is found)."""
    if len(matches) < 4:
        return matches[:0]
    _, mask = cv2.findHomography(kpts0[matches[:, 0]], kpts1[matches[:, 1]], cv2.USAC_MAGSAC, threshold,
                                 confidence=0.9999, maxIters=10000)
    return matches[:0] if mask is None else matches[mask.ravel().astype(bool)]


def localisation_error(kpts0: np.ndarray, kpts1: np.ndarray, matches: np.ndarray,
                       H: np.ndarray) -> Dict[str, Optional[Dict[str, float]]]:
    """``error_stats`` of the matches within ``LOC_WITHIN`` px of the ground truth, and of the
    verified inliers (all of them)."""
    offset = offsets(kpts0, kpts1, matches, H)
    near = offset[np.linalg.norm(offset, axis=1) <= LOC_WITHIN]
    return {"matches": error_stats(near),
            "inliers": error_stats(offsets(kpts0, kpts1, verified_inliers(kpts0, kpts1, matches), H))}


def orientation_accuracy(ori0: np.ndarray, ori1: np.ndarray, kpts0: np.ndarray, pairs: np.ndarray,
                         H: np.ndarray, bins: int = ORI_BINS) -> Optional[float]:
    """% of keypoint pairs [M, 2] whose turn ori1 - ori0 (degrees) is within one bin of H's.

    Bins are 360 / bins degrees; the truth is rounded to its nearest bin. None without pairs.
    """
    if len(pairs) == 0:
        return None
    width = 360.0 / bins
    true_bin = np.round(local_rotation_deg(H, kpts0[pairs[:, 0]]) / width)
    est_bin = np.round((ori1[pairs[:, 1]] - ori0[pairs[:, 0]]) / width)
    return float(within_one_bin(est_bin, true_bin, bins).mean() * 100)


def within_one_bin(estimated, truth, bins: int):
    """Whether each estimated orientation bin is within one bin of the true one, circularly
    (numpy arrays or torch tensors of bin numbers)."""
    diff = (estimated - truth) % bins
    return (diff <= 1) | (diff >= bins - 1)


def ground_truth_pairs(kpts0: np.ndarray, kpts1: np.ndarray, H: np.ndarray,
                       radius: float = GT_RADIUS) -> np.ndarray:
    """[M, 2]: each keypoint of image 0 with its nearest keypoint of image 1 within radius of H(x)."""
    if len(kpts0) == 0 or len(kpts1) == 0:
        return np.zeros((0, 2), np.int64)
    dist = np.linalg.norm(warp_points(H, kpts0)[:, None] - kpts1[None], axis=2)
    nearest = dist.argmin(1)
    idx = np.nonzero(dist[np.arange(len(kpts0)), nearest] <= radius)[0]
    return np.stack([idx, nearest[idx]], -1)


def repeatability(kpts0: np.ndarray, kpts1: np.ndarray, H: np.ndarray, size0, size1,
                  threshold: float = 3.0) -> Optional[float]:
    """Repeatability (%, SuperPoint's definition) of two keypoint sets under H (image 0 ->
    image 1): of the keypoints of each image that land inside the other ((h, w) sizes), the
    share with a keypoint of the other image within ``threshold`` px. Repeated rows at one
    location (multi-candidate) count once. None when no keypoint lands in the other image."""
    k0 = np.unique(np.asarray(kpts0, np.float64).reshape(-1, 2), axis=0)
    k1 = np.unique(np.asarray(kpts1, np.float64).reshape(-1, 2), axis=0)
    H = np.asarray(H, np.float64)

    def inside(points, size):
        h, w = size
        return ((points >= -0.5) & (points <= [w - 0.5, h - 0.5])).all(1)

    a, b = warp_points(H, k0), warp_points(np.linalg.inv(H), k1)
    a, k1_in = a[inside(a, size1)], k1[inside(b, size0)]
    if len(a) + len(k1_in) == 0:
        return None
    if len(a) == 0 or len(k1_in) == 0:
        return 0.0
    dist = np.linalg.norm(a[:, None] - k1_in[None], axis=2)
    hits = (dist.min(1) <= threshold).sum() + (dist.min(0) <= threshold).sum()
    return 100.0 * hits / (len(a) + len(k1_in))


PROTOCOL_MATCHER = {"name": "nearest_neighbor", "do_mutual_check": True}  # no ratio, no threshold


def mutual_matches(desc0: np.ndarray, desc1: np.ndarray) -> np.ndarray:
    """Mutual nearest neighbours of L2-normalised descriptors [N0, D], [N1, D] -> [M, 2]
    (the project's matcher: scored exactly as `relf-hloc match` matches)."""
    def normalise(d):
        return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)

    data = {"descriptors0": normalise(desc0), "descriptors1": normalise(desc1)}
    matches0 = load_matcher(PROTOCOL_MATCHER)(data)["matches0"]
    idx = np.nonzero(matches0 >= 0)[0]
    return np.stack([idx, matches0[idx]], -1).astype(np.int64)


class FeatureCache:
    """Keypoints [N, 2], descriptors [N, D] (float32) and orientations [N] or None per image,
    read once, checked."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: features file not found")
        self.cache: Dict[str, tuple] = {}
        self.sizes: Dict[str, Optional[tuple]] = {}  # (h, w) where the file has image_size
        self.dim: Optional[int] = None
        self.first: Optional[str] = None

    def __getitem__(self, name: str):
        if name not in self.cache:
            f = read_features(self.path, name)
            kpts, desc = f["keypoints"].astype(np.float64), f["descriptors"].astype(np.float32)
            if desc.ndim != 2 or desc.shape[1] != len(kpts):
                raise ValueError(f"{self.path}: image '{name}' has {len(kpts)} keypoints but "
                                 f"descriptors of shape {desc.shape} (expected [D, {len(kpts)}])")
            if self.dim is not None and desc.shape[0] != self.dim:
                raise ValueError(f"{self.path}: descriptor size {desc.shape[0]} of image '{name}' "
                                 f"differs from {self.dim} of image '{self.first}'")
            self.dim, self.first = desc.shape[0], self.first or name
            ori = f.get("orientations")
            self.sizes[name] = None if "image_size" not in f else tuple(int(v) for v in f["image_size"][::-1])
            self.cache[name] = (kpts, desc.T.copy(), None if ori is None else ori.astype(np.float64))
        return self.cache[name]


def evaluate_pairs(pairs: Sequence[HomographyPair], features) -> List[dict]:
    """One record per pair: names, group, number of matches, N0, N1, precision at 1..10 px,
    repeatability at 3 px (when the file has image sizes), and ori_acc {matches, gt} (None
    where undefined) when the file has orientations."""
    cache = FeatureCache(features)
    records = []
    for pair in tqdm(pairs, desc="evaluate", unit="pair", leave=False):
        (kpts0, desc0, ori0), (kpts1, desc1, ori1) = cache[pair.name0], cache[pair.name1]
        matches = mutual_matches(desc0, desc1)
        precision = match_precisions(kpts0, kpts1, matches, pair.H)
        record = {"name0": pair.name0, "name1": pair.name1, "sequence": pair.sequence,
                  "group": pair.group, "matches": int(len(matches)),
                  "points0": int(len(kpts0)), "points1": int(len(kpts1)),
                  "precision": {str(t): float(p) for t, p in zip(THRESHOLDS, precision)},
                  "loc_error": localisation_error(kpts0, kpts1, matches, pair.H)}
        size0, size1 = cache.sizes[pair.name0], cache.sizes[pair.name1]
        if size0 and size1:
            record["repeatability"] = repeatability(kpts0, kpts1, pair.H, size0, size1)
        if ori0 is not None and ori1 is not None:
            record["ori_acc"] = {
                "matches": orientation_accuracy(ori0, ori1, kpts0, matches, pair.H),
                "gt": orientation_accuracy(ori0, ori1, kpts0, ground_truth_pairs(kpts0, kpts1, pair.H), pair.H)}
        records.append(record)
    return records


def summarize(records: Sequence[dict]) -> dict:
    """Paper aggregates of per-pair records: pairs, mma {t: %}, pred_matches, total_points."""
    if not records:
        raise ValueError("no pairs to summarize")
    summary = {"pairs": len(records),
               "mma": {str(t): float(np.mean([r["precision"][str(t)] for r in records])) for t in THRESHOLDS},
               "pred_matches": float(np.mean([r["matches"] for r in records])),
               "total_points": float(np.mean([(r["points0"] + r["points1"]) / 2 for r in records]))}
    reps = [r.get("repeatability") for r in records]
    if all("repeatability" in r for r in records) and any(v is not None for v in reps):
        summary["repeatability"] = float(np.mean([v for v in reps if v is not None]))
    if all("loc_error" in r for r in records):
        summary["loc_error"] = median_over_pairs([r["loc_error"] for r in records])
    if all("ori_acc" in r for r in records):  # mean over the pairs where it is defined
        summary["ori_acc"] = {}
        for key in ("matches", "gt"):
            values = [r["ori_acc"][key] for r in records if r["ori_acc"][key] is not None]
            summary["ori_acc"][key] = float(np.mean(values)) if values else None
    return summary


def group_summaries(records: Sequence[dict]) -> Dict[str, dict]:
    """summarize() of each group (numeric groups sorted by value)."""
    groups = sorted({r["group"] for r in records}, key=lambda g: (not g.isdigit(), int(g) if g.isdigit() else g))
    return {g: summarize([r for r in records if r["group"] == g]) for g in groups}


def results_from_records(records: Sequence[dict], layout: str, **meta) -> dict:
    """The results.json content: overall summary, per_angle (roto360) or per_group (hpatches)."""
    results = {**meta, "layout": layout, **summarize(records)}
    results["per_angle" if layout == "roto360" else "per_group"] = group_summaries(records)
    results["per_pair"] = list(records)
    return results
