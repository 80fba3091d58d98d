"""Pose metrics against ground-truth cameras (a ``relf_hloc.datasets.scenes.Scene``).

- Relative pose of image pairs from hloc features + matches: essential matrix with known
  intrinsics, error = max(rotation, translation-direction) error, AUC at 5/10/20 degrees,
  overall and per bin of in-plane rotation between the two views.
- Localisation error of the matches: their symmetric epipolar distance (px) under the
  ground-truth relative pose, median and 90th percentile over the matches within
  ``LOC_WITHIN`` px and over the inliers of the estimated pose (within the RANSAC threshold of
  its epipolar lines), medians over pairs (``epi_error``).
- Camera poses (an SfM model, localized queries): :func:`score_poses`, the one scoring
  convention of the project. With ``align`` the estimated camera centres are first mapped
  to the ground truth by a similarity (Umeyama). Per camera: rotation error (degrees) and
  position error in percent of the scene size (the largest distance between two
  ground-truth camera centres). Medians are over the estimated cameras; ``within_D_P``
  fractions (percent) are over ALL cameras of the scene, an image without an estimate
  counting as outside; "within" means error <= threshold.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .. import geometry, io
from ..datasets.scenes import Scene, inplane_rotation_difference
from .matches import LOC_WITHIN, error_stats, median_over_pairs

THRESHOLDS = (5, 10, 20)
ROTATION_BINS = ((0, 45), (45, 90), (90, 135), (135, 180))
WITHIN = ((2.0, 2.0), (5.0, 5.0))  # (degrees, % of scene size)
Poses = Dict[str, Tuple[np.ndarray, np.ndarray]]  # name -> world-to-camera (R [3, 3], t [3])


def estimate_relative_pose(kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                           threshold_px: float = 1.0, confidence: float = 0.99999,
                           max_iterations: int = 10000) -> Optional[Tuple[np.ndarray, np.ndarray, int]]:
    """Relative pose (x1 = R x0 + t, |t| = 1) from matched pixels [M, 2] of two
    calibrated views; None when it cannot be estimated. Returns (R, t, inliers).

    Keypoints are normalised by K^-1; the RANSAC threshold is ``threshold_px`` divided by
    the pair's mean focal length; cheirality by cv2.recoverPose.
    """
    if len(kpts0) < 5:
        return None
    norm0, norm1 = _normalise(kpts0, K0), _normalise(kpts1, K1)
    focal = np.mean([_focal(K0), _focal(K1)])
    # USAC_ACCURATE (GC-RANSAC with local optimisation): plain cv2.RANSAC returns the
    # unrefined minimal-sample model, 0.6 deg off with 0.2 px noise where this is 0.04.
    try:
        E, mask = cv2.findEssentialMat(norm0, norm1, np.eye(3), method=cv2.USAC_ACCURATE,
                                       prob=confidence, threshold=threshold_px / focal,
                                       maxIters=max_iterations)
    except cv2.error:  # degenerate input (e.g. all matches on one pixel)
        return None
    if E is None or mask is None or E.shape[0] < 3:
        return None
    best = None
    for E_i in np.split(E, len(E) // 3):  # several solutions may come stacked
        n, R, t, _ = cv2.recoverPose(E_i, norm0, norm1, np.eye(3), mask=mask.copy())
        if best is None or n > best[2]:
            best = (R, t.ravel(), int(n))
    return best


def _normalise(points, K):
    """K^-1 [x, y, 1] for any invertible K (rotated cameras may have K[1, 0] != 0)."""
    h = np.concatenate([points, np.ones((len(points), 1))], 1) @ np.linalg.inv(K).T
    return h[:, :2] / h[:, 2:]


def _focal(K) -> float:
    return float(math.sqrt(abs(np.linalg.det(K[:2, :2]))))


def relative_pose_records(scene: Scene, pairs: Sequence[Tuple[str, str]], features, matches,
                          threshold_px: float = 1.0) -> List[dict]:
    """One record per pair: in-plane rotation difference, matches, inliers,
    rotation / translation / pose errors (degrees, inf when failed). The translation error
    is folded to [0, 90] as in SuperGlue/LoFTR (an essential matrix's sign is fragile); a
    pair with fewer than 5 matches, or no pose, has error infinity."""
    records, keypoints = [], {}
    for n0, n1 in pairs:
        for n in (n0, n1):
            if n not in keypoints:
                keypoints[n] = io.read_features(features, n, ["keypoints"])["keypoints"].astype(np.float64)
        m, _ = io.read_matches(matches, n0, n1)
        v0, v1 = scene[n0], scene[n1]
        R_gt, t_gt = geometry.relative_pose(v0.R, v0.t, v1.R, v1.t)
        est = estimate_relative_pose(keypoints[n0][m[:, 0]], keypoints[n1][m[:, 1]], v0.K, v1.K,
                                     threshold_px)
        rec = {"pair": [n0, n1], "rotation_diff": round(inplane_rotation_difference(v0, v1), 3),
               "matches": int(len(m)), "inliers": 0, "err_R": math.inf, "err_t": math.inf}
        k0, k1 = keypoints[n0][m[:, 0]], keypoints[n1][m[:, 1]]
        error = geometry.epipolar_distance(k0, k1, v0.K, v1.K, R_gt, t_gt)
        inliers = np.zeros(len(m), bool)
        if est is not None:
            R, t, rec["inliers"] = est
            rec["err_R"], rec["err_t"] = geometry.relative_pose_error(R, t, R_gt, t_gt, ignore_sign=True)
            inliers = geometry.epipolar_distance(k0, k1, v0.K, v1.K, R, t) <= threshold_px
        rec["epi_error"] = {"matches": error_stats(error[error <= LOC_WITHIN]), "inliers": error_stats(error[inliers])}
        rec["error"] = max(rec["err_R"], rec["err_t"])
        records.append(rec)
    return records


def rotation_bin(angle: float) -> str:
    """The label of the ``ROTATION_BINS`` bin holding ``angle`` (degrees)."""
    for lo, hi in ROTATION_BINS:
        if angle < hi or hi == 180:
            return f"{lo}-{hi}"
    raise AssertionError(angle)


def pose_summary(records: Sequence[dict]) -> dict:
    """AUC (percent) at THRESHOLDS overall and per in-plane rotation bin."""
    def auc(recs):
        return {str(k): round(v, 2) for k, v in geometry.pose_auc([r["error"] for r in recs],
                                                                   THRESHOLDS).items()}
    by_bin = {}
    for lo, hi in ROTATION_BINS:
        recs = [r for r in records if rotation_bin(r["rotation_diff"]) == f"{lo}-{hi}"]
        by_bin[f"{lo}-{hi}"] = {"auc": auc(recs), "pairs": len(recs)} if recs else {"auc": None, "pairs": 0}
    return {"auc": auc(records), "auc_by_rotation": by_bin, "pairs": len(records),
            "failed_pairs": sum(not math.isfinite(r["error"]) for r in records),
            "matches_per_pair": round(float(np.mean([r["matches"] for r in records])), 1),
            "inliers_per_pair": round(float(np.mean([r["inliers"] for r in records])), 1),
            "epi_error": median_over_pairs([r["epi_error"] for r in records if "epi_error" in r])}


def model_poses(rec) -> Poses:
    """{image name: (world-to-camera R, t)} of a pycolmap reconstruction's registered images
    (an empty dict for None)."""
    poses = {}
    for image_id in (rec.reg_image_ids() if rec is not None else ()):
        image = rec.images[image_id]
        pose = image.cam_from_world()
        poses[image.name] = (np.asarray(pose.rotation.matrix()), np.asarray(pose.translation, float))
    return poses


def score_poses(scene: Scene, estimated: Poses, align: bool = True,
                within: Sequence[Tuple[float, float]] = WITHIN) -> dict:
    """Errors of estimated camera poses against the scene's (see the module doc).

    Returns ``estimated`` (cameras with an estimate), ``total``, ``median_rot_err_deg``,
    ``median_pos_err_pct`` (None when nothing could be scored: fewer than 3 cameras or
    centres on a line, with ``align``), ``within_<D>deg_<P>pct`` for each threshold and
    ``per_image`` {name: {angle, rot_err_deg, pos_err_pct, centre}} (centre: the estimated
    centre in the ground-truth frame).
    """
    names = [n for n in scene.names if n in estimated]
    size = scene.scene_size()
    out = {"estimated": len(names), "total": len(scene), "median_rot_err_deg": None,
           "median_pos_err_pct": None, **{within_key(d, p): 0.0 for d, p in within}, "per_image": {}}
    if align:
        res = geometry.align_named(estimated, scene, names, scale=size)
        if res is None:
            return out
        rot, pos, centres = res["rot_err_deg"], 100 * res["pos_err"], res["centres_aligned"]
    else:
        centres = np.array([-estimated[n][0].T @ estimated[n][1] for n in names]).reshape(-1, 3)
        rot = np.array([geometry.rotation_error_deg(estimated[n][0], scene[n].R) for n in names])
        pos = np.array([100 * np.linalg.norm(c - scene[n].center) / size for n, c in zip(names, centres)])
    if names:
        out["median_rot_err_deg"] = float(np.median(rot))
        out["median_pos_err_pct"] = float(np.median(pos))
    for d, p in within:
        out[within_key(d, p)] = float(100.0 * np.sum((rot <= d) & (pos <= p)) / len(scene))
    out["per_image"] = {n: {"angle": scene[n].angle, "rot_err_deg": float(r), "pos_err_pct": float(q),
                            "centre": np.round(c, 5).tolist()}
                        for n, r, q, c in zip(names, rot, pos, centres)}
    return out


def within_key(deg: float, pct: float) -> str:
    """The results key of the share of images within ``deg`` degrees and ``pct`` % of the scene."""
    return f"within_{deg:g}deg_{pct:g}pct"
