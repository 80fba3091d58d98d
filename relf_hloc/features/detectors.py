"""Keypoint detectors, by name: ``load_detector({"name": ..., ...})`` (``base.Detector``).

- ``sift``: OpenCV's DoG (``opencv.create_sift``), one keypoint per location (rotation covariant),
  with its scale;
- ``file``: the keypoints of an hloc features file (any detector's), by image name, with their
  scales where the file has them;
- ``learned``: RELF's own head, which scores the feature maps of the network pass that also
  describes (``uses_maps``); ``score_peaks`` / ``pyramid_peaks`` turn its score maps into keypoints.

A new detector is a ``base.Detector`` subclass with ``default_conf`` and ``__call__``, added to
``DETECTORS`` (see docs/architecture.md).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import io
from ..confs import MAX_KEYPOINTS, SIFT_CONTRAST, load_registered
from ..geometry import parabola_offset
from .base import Detector
from .opencv import create_sift


def detect_sift(image: np.ndarray, max_keypoints: Optional[int] = MAX_KEYPOINTS,
                contrast_threshold: float = SIFT_CONTRAST) -> Tuple[np.ndarray, np.ndarray, list]:
    """OpenCV SIFT (DoG) keypoints, strongest first, one per location.

    image: uint8 [H, W] or [H, W, 3] RGB. OpenCV returns a keypoint once per
    dominant orientation; duplicates at the same location are removed, keeping
    the strongest. Returns keypoints [N, 2] float32, scores [N] (DoG response)
    and the OpenCV keypoints (with orientation and scale).
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    cv_kpts = create_sift(0, contrast_threshold).detect(gray, None)
    if not cv_kpts:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32), []
    xy = np.array([k.pt for k in cv_kpts], np.float32)
    response = np.array([k.response for k in cv_kpts], np.float32)
    order = np.argsort(-response, kind="stable")
    _, first = np.unique(xy[order].round(2), axis=0, return_index=True)
    keep = order[np.sort(first)][:max_keypoints] if max_keypoints else order[np.sort(first)]
    return xy[keep], response[keep], [cv_kpts[i] for i in keep]


class SIFTDetector(Detector):
    """OpenCV's DoG keypoints (``detect_sift``), one per location, with OpenCV's size as scale."""

    default_conf = {"name": "sift", "max_keypoints": MAX_KEYPOINTS, "contrast_threshold": SIFT_CONTRAST}

    def __call__(self, data: dict) -> Dict[str, np.ndarray]:
        """The strongest ``max_keypoints`` DoG extrema of ``data["image"]``."""
        kpts, scores, cv_kpts = detect_sift(data["image"], self.conf["max_keypoints"], self.conf["contrast_threshold"])
        return {"keypoints": kpts, "keypoint_scores": scores,
                "scales": np.array([k.size for k in cv_kpts], np.float32)}


class FileDetector(Detector):
    """Keypoints of an hloc features file. ``unique``: keep the first row of each location
    (OpenCV SIFT repeats a keypoint once per dominant orientation; RELF assigns its own)."""

    default_conf = {"name": "file", "path": None, "unique": False, "max_keypoints": None}

    def __init__(self, conf: Optional[dict] = None):
        super().__init__(conf)
        if not self.conf["path"]:
            raise ValueError("the 'file' detector needs 'path': an hloc features file")

    def __call__(self, data: dict) -> Dict[str, np.ndarray]:
        """The keypoints stored for image ``data["name"]`` (scores 1 where the file has none; scales
        where it has them)."""
        name = data.get("name")
        if name is None:
            raise ValueError("the 'file' detector reads keypoints by image name; none was given")
        path = self.conf["path"]
        kpts = io.read_features(path, name, keys=["keypoints"])["keypoints"].astype(np.float32)
        out = {"keypoints": kpts, "keypoint_scores": np.ones(len(kpts), np.float32)}
        for key, stored in (("keypoint_scores", "scores"), ("scales", "scales")):
            try:
                out[key] = io.read_features(path, name, keys=[stored])[stored].astype(np.float32)
            except io.FormatError:
                pass
        if self.conf["unique"]:
            _, first = np.unique(kpts, axis=0, return_index=True)
            out = {k: v[np.sort(first)] for k, v in out.items()}
        return out


def score_peaks(logits: torch.Tensor, radius: int, threshold: float, border: int = 2
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Local maxima of a score map (logits [h, w]): (xy [N, 2] on the map's grid, refined
    to a fraction of a pixel by a parabola along x and along y; scores [N] = sigmoid).

    A peak is the maximum of its (2 radius + 1)^2 window, above ``threshold`` (on the
    sigmoid), at least ``border`` pixels from the edges (padding shapes the border scores,
    so they are dropped first).
    """
    h, w = logits.shape
    score = torch.sigmoid(logits.float())
    if border:  # dropped before the suppression: a border score suppresses nothing
        inner = torch.zeros_like(score)
        inner[border:h - border, border:w - border] = 1
        score = score * inner
    peak = (score == F.max_pool2d(score[None, None], 2 * radius + 1, 1, radius)[0, 0]) & (score > threshold)
    v, u = peak.nonzero(as_tuple=True)
    z = F.pad(logits.float()[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    dx = parabola_offset(z[v + 1, u], z[v + 1, u + 1], z[v + 1, u + 2])
    dy = parabola_offset(z[v, u + 1], z[v + 1, u + 1], z[v + 2, u + 1])
    return torch.stack([u + dx, v + dy], 1), score[v, u]


def pyramid_peaks(levels, image_hw: Tuple[int, int], max_keypoints: Optional[int] = MAX_KEYPOINTS,
                  radius: int = 2, threshold: float = 0.1) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keypoints of an image from the score maps of its pyramid levels.

    levels: (logits [h', w'] on the stem grid, (h, w) of the level) per level; a stem-grid
    pixel u is level pixel 2u (stride 2, centred). Peaks of every level, in image pixels
    (pixel centre at integer coordinates), strongest first, one per image pixel, at most
    ``max_keypoints``. Returns (keypoints [N, 2], scores [N], scales [N]: image pixels
    per level pixel, 1 at the original size).
    """
    H, W = image_hw
    xy, scores, scales = [], [], []
    for logits, (h, w) in levels:
        p, s = score_peaks(logits, radius, threshold)
        factor = p.new_tensor([W / w, H / h])
        xy.append((2 * p + 0.5) * factor - 0.5)
        scores.append(s)
        scales.append(torch.full_like(s, float(factor.mean())))
    xy, scores, scales = torch.cat(xy), torch.cat(scores), torch.cat(scales)
    order = torch.argsort(-scores, stable=True)
    _, first = np.unique(xy[order].round().cpu().numpy(), axis=0, return_index=True)
    keep = order[torch.from_numpy(np.sort(first)).to(order.device)][:max_keypoints]
    return xy[keep], scores[keep], scales[keep]


class LearnedDetector(Detector, torch.nn.Module):
    """RELF's learned head (``reresnet.DetectorHead``) on the maps of every pyramid level:
    ``detector({"image", "levels"}) -> {keypoints [N, 2], keypoint_scores [N], scales [N]}`` (tensors).
    A torch module: it moves with the RELF module that holds it."""

    default_conf = {"name": "learned", "radius": 2, "threshold": 0.1, "max_keypoints": MAX_KEYPOINTS}
    uses_maps = True

    def __init__(self, conf: Optional[dict] = None, head: Optional[torch.nn.Module] = None):
        torch.nn.Module.__init__(self)
        Detector.__init__(self, conf)
        if head is None:
            raise ValueError("the 'learned' detector is the head of RELF weights trained with one: use it "
                             "through RELF ({'detector': {'name': 'learned'}}) with such weights")
        self.head = head

    def __call__(self, data: dict) -> Dict[str, torch.Tensor]:
        """Keypoints [N, 2], keypoint_scores [N] and scales [N] from the head's score maps of every level
        (``data["levels"]()``) of ``data["image"]``."""
        if data.get("levels") is None:
            raise ValueError("the 'learned' detector scores RELF's maps: use it through RELF")
        scores = [(self.head([f.float() for f in feats])[0], hw) for feats, hw in data["levels"]()]
        image_hw = data["image"].shape[:2]
        kpts, scores, scales = pyramid_peaks(scores, image_hw, self.conf["max_keypoints"], self.conf["radius"],
                                             self.conf["threshold"])
        return {"keypoints": kpts, "keypoint_scores": scores, "scales": scales}


DETECTORS = {"sift": SIFTDetector, "file": FileDetector, "learned": LearnedDetector}


def load_detector(conf: dict, **parts):
    """The detector named by ``conf["name"]``, configured by the rest of ``conf`` (``parts``:
    what it is built on, e.g. the learned detector's ``head``)."""
    return load_registered(DETECTORS, conf, "detector", **parts)
