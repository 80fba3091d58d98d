"""A synthetic multi-view scene written as hloc files, for fast SfM tests.

Random 3D points in front of a ring of cameras (some rolled about their optical
axis); each image's keypoints are the projections of the visible points (plus
noise and a few distractors), each point has its own random descriptor, and
the matches are the true correspondences plus a few wrong ones. Images are
noise PNGs of the right size (COLMAP only reads their size). No extractor runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

from relf_hloc.io import write_features, write_matches, write_pairs


@dataclass
class Scene:
    root: Path
    image_dir: Path
    features: Path
    matches: Path
    pairs: Path
    names: List[str]
    K: np.ndarray                                  # [3, 3] shared intrinsics
    R: Dict[str, np.ndarray] = field(default_factory=dict)  # cam_from_world rotation
    t: Dict[str, np.ndarray] = field(default_factory=dict)  # cam_from_world translation
    points: np.ndarray = None                      # [P, 3] world points
    point_of_kpt: Dict[str, np.ndarray] = field(default_factory=dict)  # [N] point index or -1


def look_at(center: np.ndarray, target: np.ndarray, roll_deg: float) -> np.ndarray:
    """cam_from_world rotation of a camera at ``center`` looking at ``target``, rolled."""
    z = target - center
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    a = np.deg2rad(roll_deg)
    roll = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return roll @ R


def make_scene(root: Path, num_images: int = 6, num_points: int = 600, size=(320, 240),
               rolls=(0, 30, 90, 180, 250, 300), noise_px: float = 0.3, num_wrong: int = 5,
               seed: int = 0, baseline: float = 1.0) -> Scene:
    """``baseline`` scales the camera spread; 0 puts every camera at one centre
    (pure rotation: nothing can be triangulated)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    w, h = size
    f = 1.2 * max(w, h)
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    points = rng.uniform([-2, -1.5, -1], [2, 1.5, 1], (num_points, 3))
    descriptors = rng.normal(size=(num_points, 64)).astype(np.float32)
    descriptors /= np.linalg.norm(descriptors, axis=1, keepdims=True)

    scene = Scene(root, image_dir, root / "features.h5", root / "matches.h5", root / "pairs.txt",
                  [], K, points=points)
    for i in range(num_images):
        name = f"im{i:02d}.png"
        angle = np.deg2rad(-40 + 80 * i / max(num_images - 1, 1))
        center = np.array([7 * np.sin(angle), 0.3 * (i % 2), -7 * np.cos(angle)])
        R = look_at(center, np.zeros(3), rolls[i % len(rolls)])
        center = baseline * center + (1 - baseline) * np.array([0, 0, -7.0])
        t = -R @ center
        cam = points @ R.T + t
        uv = cam[:, :2] / cam[:, 2:] * f + K[:2, 2]
        visible = np.where((cam[:, 2] > 0) & (uv[:, 0] > 1) & (uv[:, 0] < w - 2)
                           & (uv[:, 1] > 1) & (uv[:, 1] < h - 2))[0]
        # COLMAP's origin is the pixel corner; hloc keypoints have centres at integers
        kpts = uv[visible] - 0.5 + rng.normal(scale=noise_px, size=(len(visible), 2))
        distractors = rng.uniform([0, 0], [w - 1, h - 1], (20, 2))
        order = rng.permutation(len(visible) + len(distractors))
        kpts = np.concatenate([kpts, distractors])[order]
        point_of_kpt = np.concatenate([visible, -np.ones(len(distractors), int)])[order]
        desc = np.where(point_of_kpt[:, None] >= 0, descriptors[np.maximum(point_of_kpt, 0)],
                        rng.normal(size=(len(order), 64)).astype(np.float32))
        write_features(scene.features, name, {
            "keypoints": kpts.astype(np.float32), "descriptors": desc.T,
            "scores": np.ones(len(kpts), np.float32), "image_size": np.array([w, h])})
        cv2.imwrite(str(image_dir / name), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        scene.names.append(name)
        scene.R[name], scene.t[name], scene.point_of_kpt[name] = R, t, point_of_kpt

    pairs = [(a, b) for i, a in enumerate(scene.names) for b in scene.names[i + 1:]]
    write_pairs(scene.pairs, pairs)
    for a, b in pairs:
        write_true_matches(scene, a, b, rng, num_wrong)
    return scene


def write_true_matches(scene: Scene, a: str, b: str, rng, num_wrong: int = 0) -> None:
    pa, pb = scene.point_of_kpt[a], scene.point_of_kpt[b]
    index_b = {p: j for j, p in enumerate(pb) if p >= 0}
    matches0 = np.array([index_b.get(p, -1) if p >= 0 else -1 for p in pa])
    free = np.where(matches0 == -1)[0]
    wrong = rng.choice(free, min(num_wrong, len(free)), replace=False)
    matches0[wrong] = rng.integers(0, len(pb), len(wrong))  # may duplicate targets: fine
    write_matches(scene.matches, a, b, matches0, np.ones(len(pa), np.float32))


def centers(R: Dict[str, np.ndarray], t: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {n: -R[n].T @ t[n] for n in R}


def relative_distances(c: Dict[str, np.ndarray], names: List[str]) -> np.ndarray:
    """Pairwise camera-centre distances divided by their mean (similarity invariant)."""
    d = np.array([np.linalg.norm(c[a] - c[b]) for i, a in enumerate(names) for b in names[i + 1:]])
    return d / d.mean()


def roll_error_pairs(R_est: Dict[str, np.ndarray], R_gt: Dict[str, np.ndarray],
                     names: List[str]) -> List[Tuple[str, str, float]]:
    """Relative rotation errors (degrees) between every pair (similarity invariant)."""
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = (R_est[b] @ R_est[a].T) @ (R_gt[b] @ R_gt[a].T).T
            out.append((a, b, float(np.degrees(np.arccos(np.clip((np.trace(d) - 1) / 2, -1, 1))))))
    return out


def ground_truth_model(scene: Scene):
    """A pycolmap.Reconstruction with the true cameras and poses and no 3D points."""
    import pycolmap

    rec = pycolmap.Reconstruction()
    w, h = int(2 * scene.K[0, 2]), int(2 * scene.K[1, 2])
    camera = pycolmap.Camera.create_from_model_name(1, "SIMPLE_PINHOLE", scene.K[0, 0], w, h)
    rec.add_camera_with_trivial_rig(camera)
    for i, name in enumerate(scene.names, 1):
        image = pycolmap.Image(name=name, camera_id=1, image_id=i)
        rec.add_image_with_trivial_frame(
            image, pycolmap.Rigid3d(pycolmap.Rotation3d(scene.R[name]), scene.t[name]))
    return rec
