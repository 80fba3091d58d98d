"""Geometry at the ground of the project: homographies (point warp, in-plane
rotation of an image onto an enlarged canvas, local rotation), camera poses
(similarity alignment of camera centres, absolute and relative pose errors, pose AUC).

Conventions (COLMAP's): a camera is a world-to-camera rotation ``R`` [3, 3]
and translation ``t`` [3], so a world point X maps to ``R @ X + t`` in the
camera frame and the camera centre is ``-R.T @ t``. Angles are in degrees.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import torch


def warp_points(H, points):
    """Apply a homography H [3, 3] to points [N, 2] -> [N, 2] (numpy arrays or torch tensors)."""
    xy = points @ H[:2, :2].T + H[:2, 2]
    return xy / (points @ H[2, :2] + H[2, 2])[:, None]


def parabola_offset(left, centre, right):
    """Offset in [-0.5, 0.5] of the vertex of the parabola through (-1, left), (0, centre),
    (1, right) (torch tensors); 0 where the centre is not a strict peak (no curvature)."""
    curvature = left - 2 * centre + right
    peaked = curvature < 0
    offset = 0.5 * (left - right) / torch.where(peaked, curvature, torch.ones_like(curvature))
    return torch.where(peaked, offset, torch.zeros_like(offset)).clamp(-0.5, 0.5)


def _cos_sin(angle_deg: float) -> Tuple[float, float]:
    if float(angle_deg) % 90 == 0:  # exact values: 90-degree turns are pixel permutations
        k = int(angle_deg // 90) % 4
        return (1.0, 0.0, -1.0, 0.0)[k], (0.0, 1.0, 0.0, -1.0)[k]
    a = math.radians(angle_deg)
    return math.cos(a), math.sin(a)


def rotation_homography(angle_deg: float, width: int, height: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Homography [3, 3] rotating a ``width`` x ``height`` image about its centre by
    ``angle_deg`` (counter-clockwise on screen) onto an enlarged canvas, and that canvas's
    (width, height).

    The canvas is the bounding box of the rotated pixel area, so the whole image stays
    visible. With the pixel centre at integer coordinates the image covers
    [-0.5, w - 0.5] x [-0.5, h - 0.5]; its centre ((w-1)/2, (h-1)/2) maps to the centre of
    the new canvas. Multiples of 90 degrees use exact cosines and sines.
    """
    c, s = _cos_sin(angle_deg)
    # Bounding box of the rotated pixel area; the tolerance keeps float noise from adding a pixel.
    new_w = int(math.ceil(abs(c) * width + abs(s) * height - 1e-6))
    new_h = int(math.ceil(abs(s) * width + abs(c) * height - 1e-6))
    # y points down, so a counter-clockwise turn on screen is [[c, s], [-s, c]].
    R = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    to_origin = np.array([[1.0, 0.0, -(width - 1) / 2], [0.0, 1.0, -(height - 1) / 2], [0.0, 0.0, 1.0]])
    to_canvas = np.array([[1.0, 0.0, (new_w - 1) / 2], [0.0, 1.0, (new_h - 1) / 2], [0.0, 0.0, 1.0]])
    return to_canvas @ R @ to_origin, (new_w, new_h)


def camera_centres(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera centres ``-R^T t`` [N, 3] of world-to-camera poses R [N, 3, 3], t [N, 3]."""
    return -np.einsum("nji,nj->ni", np.asarray(R, float), np.asarray(t, float))


def rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """Angle (degrees) of rotation matrices R [..., 3, 3], in [0, 180]."""
    R = np.asarray(R, float)
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def rotation_error_deg(R_est: np.ndarray, R_gt: np.ndarray) -> np.ndarray:
    """Angle (degrees) of ``R_est R_gt^T`` for rotations [..., 3, 3]."""
    return rotation_angle_deg(np.asarray(R_est, float) @ np.swapaxes(np.asarray(R_gt, float), -1, -2))


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) between vectors a, b [..., 3]; 180 when either is zero,
    so a degenerate estimate never counts as accurate."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    norm = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    cos = np.sum(a * b, axis=-1) / np.where(norm > 0, norm, 1.0)
    return np.where(norm > 0, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), 180.0)


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True
            ) -> Tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s * R @ src + t`` (Umeyama 1991).

    src, dst: corresponding points [N, 3], N >= 3 and not all on one line
    (otherwise the rotation about that line is undetermined).
    Returns (s, R [3, 3] proper rotation, t [3]); s = 1 when not with_scale.
    """
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3:
        raise ValueError(f"umeyama: need two [N, 3] arrays, got {src.shape} and {dst.shape}")
    if len(src) < 3:
        raise ValueError(f"umeyama: need at least 3 points, got {len(src)}")
    mu_src, mu_dst = src.mean(0), dst.mean(0)
    src_c, dst_c = src - mu_src, dst - mu_dst
    var_src = (src_c ** 2).sum() / len(src)
    U, D, Vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    if var_src <= 0 or D[1] <= 1e-12 * max(D[0], 1e-300):
        raise ValueError("umeyama: points are (nearly) collinear or coincident; alignment undetermined")
    S = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:  # reflection: flip the weakest axis
        S[2] = -1
    R = U @ np.diag(S) @ Vt
    s = float((D * S).sum() / var_src) if with_scale else 1.0
    t = mu_dst - s * R @ mu_src
    return s, R, t


def scene_scale(centres: np.ndarray) -> float:
    """Size of a scene: the largest distance between two camera centres [N, 3].

    Position errors are reported as fractions of it ("2% of scene size").
    """
    c = np.asarray(centres, float)
    if len(c) < 2:
        raise ValueError("scene_scale: need at least 2 camera centres")
    return float(np.max(np.linalg.norm(c[:, None] - c[None], axis=-1)))


def align_and_compare(R_est: np.ndarray, t_est: np.ndarray, R_gt: np.ndarray, t_gt: np.ndarray,
                      scale: float = None) -> Dict[str, np.ndarray]:
    """Align estimated cameras to ground truth by a similarity on their centres,
    then measure each camera's errors.

    R_est, R_gt [N, 3, 3], t_est, t_gt [N, 3]: world-to-camera poses of the same
    N >= 3 images. scale: the length position errors are divided by (default:
    ``scene_scale`` of the ground-truth centres).
    Returns ``rot_err_deg`` [N], ``pos_err`` [N] (fraction of scale),
    ``centres_gt`` [N, 3], ``centres_aligned`` [N, 3] (estimated centres in the
    ground-truth frame), ``scale`` and the similarity ``sim_s, sim_R, sim_t``
    mapping estimated world points into ground-truth world points.
    """
    R_est, R_gt = np.asarray(R_est, float), np.asarray(R_gt, float)
    c_est, c_gt = camera_centres(R_est, t_est), camera_centres(R_gt, t_gt)
    s, R_sim, t_sim = umeyama(c_est, c_gt)
    c_aligned = s * c_est @ R_sim.T + t_sim
    # X_gt = s R_sim X_est + t_sim, so the aligned world-to-camera rotation is R_est R_sim^T.
    R_aligned = R_est @ R_sim.T
    scale = scene_scale(c_gt) if scale is None else float(scale)
    return {
        "rot_err_deg": rotation_error_deg(R_aligned, R_gt),
        "pos_err": np.linalg.norm(c_aligned - c_gt, axis=-1) / scale,
        "centres_gt": c_gt, "centres_aligned": c_aligned, "scale": scale,
        "sim_s": s, "sim_R": R_sim, "sim_t": t_sim,
    }


def similarity_from_poses(R_est: np.ndarray, t_est: np.ndarray, R_gt: np.ndarray, t_gt: np.ndarray
                          ) -> Tuple[float, np.ndarray, np.ndarray]:
    """Similarity ``X_gt = s R X_est + t`` from whole camera poses (N >= 2 world-to-camera
    [N, 3, 3], [N, 3]): R is the rotation nearest to the mean of ``R_gt_i^T R_est_i`` (well posed
    with cameras on a line, unlike centres alone), then s and t by least squares on the centres."""
    M = np.einsum("nji,njk->ik", np.asarray(R_gt, float), np.asarray(R_est, float))
    U, _, Vt = np.linalg.svd(M)
    R = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    c_est, c_gt = camera_centres(R_est, t_est), camera_centres(R_gt, t_gt)
    a, b = (c_est - c_est.mean(0)) @ R.T, c_gt - c_gt.mean(0)
    s = float((a * b).sum() / max((a * a).sum(), 1e-300))
    return s, R, c_gt.mean(0) - s * R @ c_est.mean(0)


def align_named(estimated, gt, names, scale: float = None) -> Optional[Dict[str, np.ndarray]]:
    """``align_and_compare`` for the cameras ``names``, or None when they cannot be
    aligned (fewer than 3, or centres on a line).

    estimated: {name: (R [3, 3], t [3])}; gt: {name: camera with ``.R`` and ``.t``}.
    """
    if len(names) < 3:
        return None
    R_est = np.stack([estimated[n][0] for n in names])
    t_est = np.stack([estimated[n][1] for n in names])
    R_gt = np.stack([gt[n].R for n in names])
    t_gt = np.stack([gt[n].t for n in names])
    try:
        return align_and_compare(R_est, t_est, R_gt, t_gt, scale=scale)
    except ValueError:  # collinear centres: the similarity is undetermined
        return None

def relative_pose(R0: np.ndarray, t0: np.ndarray, R1: np.ndarray, t1: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Pose of camera 1 relative to camera 0 (``x1 = R @ x0 + t`` in camera frames)."""
    R0, R1 = np.asarray(R0, float), np.asarray(R1, float)
    R = R1 @ R0.T
    return R, np.asarray(t1, float) - R @ np.asarray(t0, float)


def epipolar_distance(kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                      R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Symmetric epipolar distance [M] (px) of matched pixels [M, 2] under x1 = R x0 + t:
    the mean of the distance of x1 to the epipolar line of x0 and of x0 to that of x1."""
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]], np.float64)
    F = np.linalg.inv(K1).T @ tx @ R @ np.linalg.inv(K0)
    h0 = np.concatenate([kpts0, np.ones((len(kpts0), 1))], 1)
    h1 = np.concatenate([kpts1, np.ones((len(kpts1), 1))], 1)
    l1, l0 = h0 @ F.T, h1 @ F  # lines in image 1 and image 0
    algebraic = np.abs(np.sum(h1 * l1, 1))
    return 0.5 * algebraic * (1 / np.maximum(np.hypot(l1[:, 0], l1[:, 1]), 1e-12)
                              + 1 / np.maximum(np.hypot(l0[:, 0], l0[:, 1]), 1e-12))


def relative_pose_error(R_est: np.ndarray, t_est: np.ndarray, R_gt: np.ndarray, t_gt: np.ndarray,
                        ignore_sign: bool = False) -> Tuple[float, float]:
    """(rotation error, translation direction error) in degrees of a relative pose.

    Translation is compared by direction only (an essential matrix has no scale).
    ignore_sign: also accept -t (for estimators that do not resolve cheirality).
    The usual single error of a pair is the max of the two.
    """
    t_err = float(angle_between_deg(t_est, t_gt))
    if ignore_sign:
        t_err = min(t_err, 180.0 - t_err)
    return float(rotation_error_deg(R_est, R_gt)), t_err


def pose_auc(errors: Iterable[float], thresholds: Sequence[float] = (5, 10, 20)) -> Dict[float, float]:
    """Area under the recall-vs-error curve up to each threshold, in percent.

    errors: one error per pair (degrees); failed pairs must be passed as inf so
    they count against recall. Returns {threshold: AUC in [0, 100]}.
    """
    errors = np.sort(np.asarray(list(errors), float))
    if len(errors) == 0:
        raise ValueError("pose_auc: no errors given")
    recall = np.arange(1, len(errors) + 1) / len(errors)
    errors, recall = np.r_[0.0, errors], np.r_[0.0, recall]
    aucs = {}
    for thr in thresholds:
        last = np.searchsorted(errors, thr)  # errors[:last] < thr
        x = np.r_[errors[:last], thr]
        y = np.r_[recall[:last], recall[last - 1]]
        area = np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2)  # trapezoid rule
        aucs[thr] = float(area / thr * 100)
    return aucs


def local_rotation_deg(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Rotation angle (degrees) of the homography's Jacobian at each point [N, 2] -> [N].

    For a similarity this is exactly the rotation; under perspective it is the rotation
    each keypoint's neighbourhood actually undergoes. Positive angles are counter-clockwise
    on screen (y points down): a turn by a has the Jacobian [[cos a, sin a], [-sin a, cos a]],
    so a general J gives atan2(J01 - J10, J00 + J11); ``np.rot90`` is +90 degrees.
    """
    H, points = np.asarray(H, np.float64), np.asarray(points, np.float64)
    w = (points @ H[2, :2] + H[2, 2])[:, None]
    uv = warp_points(H, points)
    J = (H[None, :2, :2] - uv[:, :, None] * H[None, 2:, :2]) / w[:, :, None]  # [N, 2, 2]
    return np.degrees(np.arctan2(J[:, 0, 1] - J[:, 1, 0], J[:, 0, 0] + J[:, 1, 1]))
