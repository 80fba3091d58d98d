"""RELF: rotation-equivariant features, group-aligned into invariant descriptors.

    from relf_hloc import RELF
    relf = RELF({"max_keypoints": 2000})
    out = relf.extract(image)      # image: uint8 [H, W, 3] RGB or float [3, H, W] in [0, 1]
    out["keypoints"]     # [N, 2] float32, pixels, pixel centre at integer coordinates
    out["descriptors"]   # [N, 1024] float32, L2-normalised
    out["scores"]        # [N] detector response
    out["orientations"]  # [N] degrees; grows by a when the image turns by a counter-clockwise

With multi-candidate extraction a keypoint is repeated once per kept
orientation (``out["keypoint_index"]`` gives the source keypoint).
"""

from __future__ import annotations

import functools
import hashlib
import sys
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_checkpoint, load_model_state
from ..keypoints import detect_sift
from .reresnet import WIDTHS, ReResNet18, export_plain, sample_fused

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "relf_c16.pth"
NORMALIZATION = "imagenet"  # the one normalisation of training and inference
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def normalize_image(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB in [0, 1] -> network input (ImageNet mean/std)."""
    mean = x.new_tensor(MEAN)[:, None, None]
    std = x.new_tensor(STD)[:, None, None]
    return (x - mean) / std


def pyramid_sizes(h: int, w: int, max_size: Optional[int] = 1024, min_size: int = 256,
                  step: float = 2 ** 0.25, snap: Optional[int] = 16) -> List[Tuple[int, int]]:
    """(h, w) of each level of the adaptive pyramid, largest first.

    The longer side is first brought to ``max_size`` (up or down), then divided
    by ``step`` while it stays >= ``min_size`` (the paper's sizes). With
    ``snap`` each side is then moved to the nearest ``snap * k + 1``: the
    network's four stride-2 stages sample such a grid symmetrically, so every
    level stays exactly equivariant to 90-degree turns (the paper's sizes are
    not). ``max_size=None`` gives the original size only.
    """
    if max_size is None:
        return [(h, w)]

    def size(x: float) -> int:
        return max(int(round((x - 1) / snap)) * snap + 1, snap + 1) if snap else max(int(round(x)), 1)

    long_side, sizes, i = max(h, w), [], 0
    while True:
        target = max_size / step ** i
        if round(target) < min_size and sizes:
            break
        s = target / long_side
        sizes.append((size(h * s), size(w * s)))
        i += 1
    return sizes


def orientation_histogram(vectors: torch.Tensor, G: int) -> torch.Tensor:
    """[N, C*G] -> [N, G]: field 0 (the first field of stage 4) votes for orientation."""
    return vectors[:, :G]


def roll_groups(vectors: torch.Tensor, shifts: torch.Tensor, G: int) -> torch.Tensor:
    """Roll the G axis of every field of each vector by -shifts[i], with one gather.

    vectors [N, C*G] (or [N, C, G]), shifts [N] int -> same shape;
    out[i, c, g] = v[i, c, (g + s_i) % G], i.e. torch.roll(v[i], -s_i, -1) per field.
    """
    N = vectors.shape[0]
    v = vectors.reshape(N, -1, G)
    shifts = shifts.to(device=vectors.device, dtype=torch.long)
    idx = (torch.arange(G, device=vectors.device)[None] + shifts[:, None]) % G
    return v.gather(2, idx[:, None, :].expand_as(v)).reshape(vectors.shape)


def group_align(vectors: torch.Tensor, G: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-1 group aligning: ([N, C*G] L2-normalised descriptors, [N] orientation bins)."""
    ori = orientation_histogram(vectors, G).argmax(1)
    return F.normalize(roll_groups(vectors, ori, G), dim=1), ori


def multi_candidate(vectors: torch.Tensor, G: int, ratio: Optional[float] = 0.6,
                    top_k: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One descriptor per kept orientation bin.

    Keeps bins >= ratio x the maximum of the histogram (or the top_k bins).
    Returns descriptors [M, C*G], source keypoint index [M], orientation bin [M].
    """
    hist = orientation_histogram(vectors, G)
    if top_k is not None:
        keep = torch.zeros_like(hist, dtype=torch.bool)
        keep.scatter_(1, hist.topk(min(top_k, G), dim=1).indices, True)
    else:
        peak = hist.max(1, keepdim=True).values
        keep = (hist >= ratio * peak) | (hist == peak)
    index, ori = keep.nonzero(as_tuple=True)
    return F.normalize(roll_groups(vectors[index], ori, G), dim=1), index, ori


def weights_tag(weights=None, random_weights: bool = False) -> str:
    """Short name of the weights a run uses, for cache file names: 'untrained', or 'w' and
    the first 8 hex digits of the checkpoint's SHA-256 (the shipped weights by default), so
    features cached with other weights are never reused."""
    if random_weights:
        return "untrained"
    path = Path(weights or DEFAULT_WEIGHTS)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: RELF weights not found")
    return "w" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]


@functools.lru_cache(maxsize=4)
def load_network(weights: Optional[str], G: int = 16, widths: Tuple[int, ...] = WIDTHS,
                 device: str = "cpu") -> torch.nn.Module:
    """The exported plain-torch network, built once per process and cached.

    weights: a checkpoint path, or None for a seeded random initialisation.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = ReResNet18(G, widths)
    if weights is not None:
        state, _, _ = load_checkpoint(weights, expect={"G": G, "widths": list(widths),
                                                       "normalization": NORMALIZATION})
        load_model_state(model, state)
    return export_plain(model).to(device)


class RELF:
    default_conf = {
        "G": 16,
        "max_keypoints": 2000,
        "detector": "sift",          # keypoints when none are given to extract()
        "pyramid": {"max_size": 1024, "min_size": 256, "step": 2 ** 0.25},  # the paper's
        "multi_candidate": None,     # e.g. {"ratio": 0.6} or {"top_k": 2}
        "weights": None,             # checkpoint path; None = the shipped weights
        "random_weights": False,     # untrained network: for tests only
        "device": "cpu",
    }

    def __init__(self, conf: Optional[dict] = None):
        conf = {**self.default_conf, **(conf or {})}
        unknown = set(conf) - set(self.default_conf) - {"name"}
        if unknown:
            raise ValueError(f"unknown RELF option(s) {sorted(unknown)}")
        self.conf = conf
        if conf["random_weights"]:
            weights = None
            msg = ("RELF is running with RANDOM (untrained) weights: descriptors are "
                   "equivariant but not trained; use this for tests only")
            warnings.warn(msg)
            print(f"WARNING: {msg}", file=sys.stderr)
        else:
            weights = str(conf["weights"] or DEFAULT_WEIGHTS)
            if not Path(weights).is_file():
                raise FileNotFoundError(
                    f"{weights}: RELF weights not found; pass a checkpoint with conf "
                    "'weights' (--weights), or --random-weights for an untrained network")
        self.device = torch.device(conf["device"])
        self.net = load_network(weights, conf["G"], WIDTHS, str(self.device))

    def pyramid_levels(self, h: int, w: int) -> List[Tuple[int, int]]:
        return pyramid_sizes(h, w, **(self.conf["pyramid"] or {"max_size": None}))

    @torch.inference_mode()
    def describe(self, image: torch.Tensor, kpts: torch.Tensor) -> torch.Tensor:
        """Equivariant vectors [N, C*G] at keypoints [N, 2] of image [3, H, W] in [0, 1].

        The keypoints are sampled at every pyramid level and the vectors are
        max-pooled over levels (max commutes with cyclic shifts).
        """
        H, W = image.shape[-2:]
        out = None
        for h, w in self.pyramid_levels(H, W):
            level = image[None]
            if (h, w) != (H, W):
                level = F.interpolate(level, size=(h, w), mode="bilinear", align_corners=False,
                                      antialias=h < H)
            scale = kpts.new_tensor([w / W, h / H])
            feats = self.net(normalize_image(level))
            v = sample_fused(feats, ((kpts + 0.5) * scale - 0.5)[None], (h, w))[0]
            out = v if out is None else torch.maximum(out, v)
        return out

    def extract(self, image, keypoints: Optional[np.ndarray] = None,
                scores: Optional[np.ndarray] = None) -> dict:
        """Keypoints, descriptors, scores and orientations of one image (see module doc)."""
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected an RGB image [H, W, 3], got {image.shape}")
            rgb = image
            tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
        else:
            tensor = image.float()
            rgb = (tensor.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        if keypoints is None:
            keypoints, scores, _ = detect_sift(rgb, self.conf["max_keypoints"])
        keypoints = np.asarray(keypoints, np.float32).reshape(-1, 2)
        scores = (np.ones(len(keypoints), np.float32) if scores is None
                  else np.asarray(scores, np.float32))
        G = self.conf["G"]
        if len(keypoints) == 0:
            return {"keypoints": keypoints, "scores": scores,
                    "descriptors": np.zeros((0, self.channels), np.float32),
                    "orientations": np.zeros(0, np.float32)}
        kpts = torch.from_numpy(keypoints).to(self.device)
        vectors = self.describe(tensor.to(self.device), kpts)
        mc = self.conf["multi_candidate"]
        if mc:
            desc, index, ori = multi_candidate(vectors, G, mc.get("ratio", 0.6), mc.get("top_k"))
            index = index.cpu().numpy()
        else:
            (desc, ori), index = group_align(vectors, G), np.arange(len(keypoints))
        out = {"keypoints": keypoints[index], "scores": scores[index],
               "descriptors": desc.float().cpu().numpy(),
               "orientations": (ori.float().cpu().numpy() * 360.0 / G)}
        if mc:
            out["keypoint_index"] = index
        return out

    @property
    def channels(self) -> int:
        return sum(WIDTHS) + WIDTHS[0]
