"""Validation during training: MMA of group-aligned descriptors on fixed pair sets.

Each pair is (image0, image1, H) with H mapping image0 pixels to image1 pixels.
Keypoints are detected independently in each image with the project's SIFT
detector (as at inference), or with the model's learned detector when it has one
(then ``rep3``, the repeatability at 3 px, is logged too); descriptors are top-1
group-aligned, matched by mutual
nearest neighbour and scored with the benchmark evaluator's per-pair precision, so
the numbers follow the paper's protocol at a small, fast scale (one image scale,
no pyramid).

Sets (all optional, fixed for the whole run):
- ``synthetic``: pairs from held-back training images (full rotation);
- ``hpatches_rot``: image 1 of each HPatches sequence rotated about its centre
  (Roto-360 layout, enlarged canvas), downscaled;
- ``hpatches``: the real HPatches pairs 1 -> k, downscaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

from ..datasets.homography import load_hpatches
from ..eval.homography import match_precisions, mutual_matches, repeatability, within_one_bin
from ..features.detectors import detect_sift, pyramid_peaks
from ..features.relf import group_align
from ..features.reresnet import normalize_image, sample_fused
from ..geometry import warp_points
from ..images import read_image, rotate_image
from .data import PairGenerator, group_shift, local_rotation_deg, seed_for

THRESHOLDS = (3, 5, 10)


@dataclass
class ValPair:
    """A validation pair: two images and the homography from image 0 to image 1."""

    image0: np.ndarray  # uint8 [H0, W0, 3]
    image1: np.ndarray  # uint8 [H1, W1, 3]
    H: np.ndarray       # [3, 3] float64, image0 -> image1 pixels


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A float [3, H, W] image in [0, 1] as uint8 [H, W, 3]."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def synthetic_pairs(generator: PairGenerator, num: int, seed: int) -> List[ValPair]:
    """``num`` pairs of the training generator with fixed seeds."""
    samples = (generator.sample(seed_for(seed, i)) for i in range(num))
    return [ValPair(to_uint8(s["image1"]), to_uint8(s["image2"]), s["H"].double().numpy())
            for s in samples]


def resize_long_side(image: np.ndarray, size: int):
    """(image resized so its longer side is ``size``, scaling matrix [3, 3] old -> new pixels)."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    new_w, new_h = round(w * s), round(h * s)
    # pixel centres at integer coordinates: x' = (x + 0.5) * sx - 0.5
    sx, sy = new_w / w, new_h / h
    S = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA), S


def hpatches_rotation_pairs(root, size: int, angles: Sequence[float]) -> List[ValPair]:
    """Image 1 of every sequence, downscaled, against itself rotated by each angle."""
    pairs = []
    for seq in sorted({p.sequence for p in load_hpatches(root)}):
        image, _ = resize_long_side(read_image(Path(root) / seq / "1.ppm"), size)
        for angle in angles:
            rotated, H = rotate_image(image, angle)
            pairs.append(ValPair(image, rotated, H))
    return pairs


def hpatches_pairs(root, size: int) -> List[ValPair]:
    """The HPatches pairs 1 -> k, both images downscaled, H adapted."""
    pairs = []
    for p in load_hpatches(root):
        image0, S0 = resize_long_side(read_image(Path(root) / p.name0), size)
        image1, S1 = resize_long_side(read_image(Path(root) / p.name1), size)
        pairs.append(ValPair(image0, image1, S1 @ p.H @ np.linalg.inv(S0)))
    return pairs


@torch.no_grad()
def describe(model: torch.nn.Module, image: np.ndarray, kpts: np.ndarray, device) -> torch.Tensor:
    """Fused equivariant vectors [N, C*G] at keypoints [N, 2] of a uint8 image (one scale)."""
    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255)[None].to(device)
    feats = model(normalize_image(x))
    k = torch.as_tensor(kpts, dtype=torch.float32, device=device)[None]
    return sample_fused(feats, k, image.shape[:2])[0].float()


@torch.no_grad()
def detect(model: torch.nn.Module, image: np.ndarray, num_keypoints: int, device) -> np.ndarray:
    """Keypoints [N, 2] of a uint8 image: the model's learned head (one scale), else SIFT."""
    if model.detector is None:
        return detect_sift(image, num_keypoints)[0]
    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255)[None].to(device)
    logits = model.detector(model(normalize_image(x)))[0]
    return pyramid_peaks([(logits, image.shape[:2])], image.shape[:2], num_keypoints)[0].cpu().numpy()


@torch.no_grad()
def evaluate_pairs(model: torch.nn.Module, pairs: Sequence[ValPair], G: int,
                   num_keypoints: int = 512, device="cpu") -> Dict[str, float]:
    """MMA@3/5/10 (%), mean mutual matches, and orientation accuracy (%) on ``pairs``.

    ``ori_acc``: for every keypoint of image0 that lands inside image1, the orientation
    bin estimated at its exact ground-truth position in image1 minus the one in image0
    equals the true shift within +-1 bin. The model must be in eval mode.
    """
    precisions, matches, ori_hits, ori_total, reps = [], [], 0, 0, []
    for pair in pairs:
        k0 = detect(model, pair.image0, num_keypoints, device)
        k1 = detect(model, pair.image1, num_keypoints, device)
        if model.detector is not None:
            reps.append(repeatability(k0, k1, pair.H, pair.image0.shape[:2], pair.image1.shape[:2]))
        H = torch.from_numpy(pair.H)
        k0_in_1 = warp_points(H, torch.from_numpy(k0).double()).float().numpy()
        h1, w1 = pair.image1.shape[:2]
        visible = ((k0_in_1 >= 0) & (k0_in_1 <= [w1 - 1, h1 - 1])).all(1)
        v0 = describe(model, pair.image0, k0, device)
        v1 = describe(model, pair.image1, np.concatenate([k1, k0_in_1[visible]]), device)
        d0, ori0 = group_align(v0, G)
        d1, _ = group_align(v1[:len(k1)], G)
        _, ori_gt = group_align(v1[len(k1):], G)
        m = mutual_matches(d0.cpu().numpy(), d1.cpu().numpy())
        precisions.append(match_precisions(k0, k1, m, pair.H, THRESHOLDS))
        matches.append(len(m))
        shift = group_shift(local_rotation_deg(H, torch.from_numpy(k0[visible]).double()), G)
        ori_hits += int(within_one_bin(ori_gt.cpu(), ori0.cpu()[torch.from_numpy(visible)] + shift, G).sum())
        ori_total += int(visible.sum())
    mma = np.mean(precisions, 0) if precisions else np.zeros(len(THRESHOLDS))
    out = {f"mma{t}": float(v) for t, v in zip(THRESHOLDS, mma)}
    out["matches"] = float(np.mean(matches)) if matches else 0.0
    out["ori_acc"] = 100.0 * ori_hits / max(ori_total, 1)
    if reps:
        out["rep3"] = float(np.mean([r for r in reps if r is not None] or [0.0]))
    return out


def build_val_sets(conf: dict, val_generator: Optional[PairGenerator], seed: int
                   ) -> Dict[str, List[ValPair]]:
    """The fixed validation sets named in ``conf`` (see ``trainer.default_conf['val']``)."""
    sets = {}
    if val_generator is not None and conf["synthetic_pairs"] > 0:
        sets["synthetic"] = synthetic_pairs(val_generator, conf["synthetic_pairs"], seed)
    root = conf.get("hpatches")
    if root:
        if not Path(root).is_dir():
            raise FileNotFoundError(f"{root}: HPatches folder for validation not found "
                                    "(set val.hpatches to null to skip)")
        if conf["hpatches_angles"]:
            sets["hpatches_rot"] = hpatches_rotation_pairs(root, conf["hpatches_size"],
                                                           conf["hpatches_angles"])
        if conf["hpatches_pairs"]:
            sets["hpatches"] = hpatches_pairs(root, conf["hpatches_size"])
    return sets


def validate(model: torch.nn.Module, sets: Dict[str, List[ValPair]], G: int,
             num_keypoints: int, device) -> Dict[str, float]:
    """Metrics of every set, flattened as '<set>/<metric>', plus 'score' = mean MMA@5 over sets."""
    was_training = model.training
    model.eval()
    try:
        metrics = {}
        for name, pairs in sets.items():
            for key, value in evaluate_pairs(model, pairs, G, num_keypoints, device).items():
                metrics[f"{name}/{key}"] = value
    finally:
        model.train(was_training)
    mma5 = [v for k, v in metrics.items() if k.endswith("/mma5")]
    metrics["score"] = float(np.mean(mma5)) if mma5 else float("nan")
    return metrics
