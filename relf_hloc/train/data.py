"""Self-supervised training pairs from single images.

One sample = a random crop of an image (view 1), the same crop warped by a random
homography over another random image as background (view 2), each side with its
own photometric augmentation, and K keypoints of view 1 with their ground-truth
positions, local rotation angle and group shift in view 2.

Every sample is a pure function of an integer seed (``PairGenerator.sample``), so
training resumes exactly and validation pairs are fixed.

Conventions: images are float [3, H, W] in [0, 1]; keypoints are (x, y) pixels
with the pixel centre at integer coordinates (kornia's align_corners=True warps
use the same convention); the homography maps view-1 pixels to view-2 pixels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import h5py
import kornia.augmentation as KA
import kornia.feature as KF
import kornia.geometry.transform as KT
import numpy as np
import torch
import torch.nn.functional as F

from .. import geometry
from ..images import list_images, read_image

HOMOGRAPHY_MODES = ("full_rotation", "paper")

default_conf = {
    "crop_hw": (192, 192),        # output size of both views
    "max_zoom_out": 2.5,          # a crop covers up to this many output sizes of the source
    "area_jitter": (0.8, 1.2),    # crop area jitter (paper)
    "homography": "full_rotation",  # or "paper": 85% within +-5 deg, the rest within +-60 deg
    "scale": (0.8, 1.25),         # isotropic scale range of the homography (log-uniform)
    "perspective": 0.0008,        # max |h20|, |h21| (per pixel), before centring
    "translation": 0.1,           # max shift as a fraction of the size
    "num_keypoints": 512,         # K per image
    "border": 8,                  # keypoints this far from the borders of both views
    "harris_percentile": 90.0,
    "photometric": True,
    "groups": 16,                 # G, for the group shift
    "teacher_keypoints": 128,     # M teacher keypoints per pair (padded, ``teacher_mask``)
}


def seed_for(*keys: int) -> int:
    """A 63-bit seed mixing integers (base seed, step, rank, index...) without collisions."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> 1)


def sample_homography(rng: np.random.Generator, hw: Sequence[int], conf: dict) -> np.ndarray:
    """A random homography [3, 3] (float64) about the image centre, view-1 -> view-2 pixels."""
    h, w = hw
    if conf["homography"] == "full_rotation":
        angle = rng.uniform(-180.0, 180.0)
    elif conf["homography"] == "paper":
        angle = rng.uniform(-5.0, 5.0) if rng.random() < 0.85 else rng.uniform(-60.0, 60.0)
    else:
        raise ValueError(f"homography mode {conf['homography']!r}: expected one of {HOMOGRAPHY_MODES}")
    scale = math.exp(rng.uniform(*np.log(conf["scale"])))
    t = np.radians(angle)
    affine = np.eye(3)
    affine[:2, :2] = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    affine[:2, 2] = rng.uniform(-1, 1, 2) * conf["translation"] * np.array([w, h])
    projective = np.eye(3)
    projective[2, :2] = rng.uniform(-1, 1, 2) * conf["perspective"]
    centre = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)
    return centre @ projective @ affine @ np.linalg.inv(centre)



def local_rotation_deg(H: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """``geometry.local_rotation_deg`` on tensors: degrees [N], counter-clockwise on screen,
    like ``torch.rot90(x, 1, (-2, -1))``, which is +90 degrees."""
    return torch.from_numpy(geometry.local_rotation_deg(H.cpu().numpy(), pts.cpu().numpy()))


def group_shift(angle_deg: torch.Tensor, groups: int) -> torch.Tensor:
    """Ground-truth group shift s = round(angle / 360 * G) mod G (int64).

    With the angle convention of ``local_rotation_deg``, view 2's regular fields are
    view 1's shifted forward by s: v2[c, (g + s) % G] = v1[c, g] (pinned by a test on
    the model with torch.rot90), so ``losses.roll_groups(v2, s)`` lines them up.
    """
    return torch.remainder(torch.round(angle_deg / 360.0 * groups), groups).long()


def harris_keypoints(gray: torch.Tensor, valid: torch.Tensor, num: int, percentile: float,
                     generator: torch.Generator) -> torch.Tensor:
    """K keypoints [num, 2] (x, y) from a grayscale image [H, W] inside a mask [H, W].

    Local maxima (3x3) of the Harris response above its ``percentile`` are sampled at
    random; if there are fewer than ``num``, the strongest remaining valid pixels fill
    up (so every sample has exactly K distinct points).
    """
    response = KF.harris_response(gray[None, None])[0, 0]
    threshold = torch.quantile(response[valid], percentile / 100.0)
    peaks = response == F.max_pool2d(response[None, None], 3, 1, 1)[0, 0]
    strong = (valid & peaks & (response >= threshold)).flatten().nonzero()[:, 0]
    if len(strong) >= num:
        chosen = strong[torch.randperm(len(strong), generator=generator)[:num]]
    else:
        rest = response.flatten().masked_fill(~valid.flatten(), -math.inf)
        rest[strong] = -math.inf
        fill = rest.topk(num - len(strong)).indices
        chosen = torch.cat([strong, fill])
    w = gray.shape[1]
    return torch.stack([chosen % w, chosen // w], 1).float()


def build_photometric() -> torch.nn.Module:
    """Independent appearance change of each view (kornia): colour, noise, shade, blur."""
    return torch.nn.Sequential(
        KA.ColorJiggle(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8),
        KA.RandomPlasmaShadow(roughness=(0.1, 0.5), shade_intensity=(-0.4, 0.0), p=0.3),
        KA.RandomMotionBlur(kernel_size=5, angle=180.0, direction=(-1.0, 1.0), p=0.2),
        KA.RandomGaussianNoise(std=0.02, p=0.3),
    )


class PairGenerator:
    """Makes training pairs from a list of image files.

    Args:
        paths: image files (at least 2: the background comes from another image).
        conf: overrides of ``default_conf``.
    """

    def __init__(self, paths: Sequence[Path], conf: Optional[dict] = None,
                 teacher: Optional["Teacher"] = None, names: Optional[Sequence[str]] = None):
        self.conf = {**default_conf, **(conf or {})}
        self.teacher = teacher
        self.names = list(names) if names is not None else [Path(p).name for p in paths]
        if self.conf["homography"] not in HOMOGRAPHY_MODES:
            raise ValueError(f"homography mode {self.conf['homography']!r}: "
                             f"expected one of {HOMOGRAPHY_MODES}")
        self.paths = [Path(p) for p in paths]
        if len(self.paths) < 2:
            raise ValueError(f"need at least 2 training images, got {len(self.paths)}")
        self.photometric = build_photometric()

    @classmethod
    def from_folder(cls, root, conf=None, names: Optional[List[str]] = None, teacher=None):
        """A generator over the images of a folder (or the given ``names`` in it)."""
        names = list_images(root) if names is None else names
        return cls([Path(root) / n for n in names], conf, teacher, names)

    def random_crop(self, rng: np.random.Generator, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """A crop of image ``index`` resized to crop_hw: (uint8 [H, W, 3], the affine map [3, 3]
        from the source image's pixels to the crop's, pixel centres at integer coordinates)."""
        h, w = self.conf["crop_hw"]
        image = read_image(self.paths[index])
        ih, iw = image.shape[:2]
        fit = min(ih / h, iw / w)  # largest zoom-out that fits the image
        zoom = math.exp(rng.uniform(0.0, math.log(max(min(fit, self.conf["max_zoom_out"]), 1.0))))
        zoom *= math.sqrt(rng.uniform(*self.conf["area_jitter"]))
        ch, cw = min(ih, max(8, round(h * zoom))), min(iw, max(8, round(w * zoom)))
        y0, x0 = rng.integers(0, ih - ch + 1), rng.integers(0, iw - cw + 1)
        crop = image[y0:y0 + ch, x0:x0 + cw]
        interp = cv2.INTER_AREA if ch > h else cv2.INTER_LINEAR
        sx, sy = w / cw, h / ch  # x' = (x - x0 + 0.5) * sx - 0.5
        to_crop = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5], [0, 0, 1]])
        return cv2.resize(crop, (w, h), interpolation=interp), to_crop

    def visible_homography(self, rng: np.random.Generator, first: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """(H [3, 3] float32 view 1 -> view 2, valid [h, w] bool: pixels away from the border in
        both views); the rare homography that leaves too few pixels visible is redrawn."""
        conf = self.conf
        hh, ww = conf["crop_hw"]
        ys, xs = torch.meshgrid(torch.arange(hh), torch.arange(ww), indexing="ij")
        grid = torch.stack([xs.flatten(), ys.flatten()], 1).float()
        b = conf["border"]
        inside1 = ((xs >= b) & (xs <= ww - 1 - b) & (ys >= b) & (ys <= hh - 1 - b))
        for _ in range(20):
            H = torch.from_numpy(sample_homography(rng, (hh, ww), conf))
            warped = geometry.warp_points(H, grid.double()).float()
            inside2 = ((warped[:, 0] >= b) & (warped[:, 0] <= ww - 1 - b)
                       & (warped[:, 1] >= b) & (warped[:, 1] <= hh - 1 - b)).view(hh, ww)
            valid = inside1 & inside2
            if valid.sum() >= 4 * conf["num_keypoints"]:
                return H.float(), valid
        raise RuntimeError(f"{self.paths[first]}: no homography keeps "
                           f"{conf['num_keypoints']} keypoints visible at crop {conf['crop_hw']}")

    def sample(self, seed: int) -> Dict[str, torch.Tensor]:
        """One training pair, a pure function of ``seed``.

        Returns:
            image1, image2: [3, H, W] float in [0, 1].
            kpts1, kpts2: [K, 2] ground-truth correspondences (kpts2 = H(kpts1)).
            points1, points2: [K, 2] correspondences at uniformly drawn pixels of the shared view.
            angle: [K] local rotation (degrees) of view 2 relative to view 1.
            shift: [K] int64 group shift round(angle / 360 * G) mod G.
            H: [3, 3] float32 homography view 1 -> view 2.
            With a teacher (``teacher_*``, M = conf teacher_keypoints, padded): ``teacher_kpts1``,
            ``teacher_kpts2`` [M, 2] its keypoints in both views, ``teacher_desc`` [M, D],
            ``teacher_scores`` [M], ``teacher_mask`` [M] bool (False: padding, or an image
            the teacher file does not hold).
        """
        conf = self.conf
        rng = np.random.default_rng(seed)
        hh, ww = conf["crop_hw"]
        first, background = rng.choice(len(self.paths), 2, replace=False)
        to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255.0  # noqa: E731
        crop1, to_crop = self.random_crop(rng, first)
        image1 = to_tensor(crop1)
        backdrop = to_tensor(self.random_crop(rng, background)[0])

        H, valid = self.visible_homography(rng, first)
        warped_image = KT.warp_perspective(image1[None], H[None], (hh, ww), align_corners=True)[0]
        coverage = KT.warp_perspective(torch.ones(1, 1, hh, ww), H[None], (hh, ww),
                                       align_corners=True)[0]
        image2 = warped_image + (1 - coverage) * backdrop

        generator = torch.Generator().manual_seed(seed)
        gray1 = image1.mean(0)
        kpts1 = harris_keypoints(gray1, valid, conf["num_keypoints"],
                                 conf["harris_percentile"], generator)
        kpts2 = geometry.warp_points(H.double(), kpts1.double()).float()
        angle = local_rotation_deg(H.double(), kpts1.double()).float()
        # points anywhere in the shared view, for the learned detector's reliability term
        inside = valid.nonzero()
        chosen = inside[torch.randperm(len(inside), generator=generator)[:conf["num_keypoints"]]]
        points1 = chosen.flip(1).float()
        points2 = geometry.warp_points(H.double(), points1.double()).float()

        taught = {}
        if self.teacher is not None:
            taught = self.teacher.pair(self.names[first], to_crop, H.double(), valid,
                                       conf["teacher_keypoints"], conf["groups"])
        if conf["photometric"]:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                pair = self.photometric(torch.stack([image1, image2])).clamp(0, 1)
            image1, image2 = pair[0], pair[1]
        return {"image1": image1.contiguous(), "image2": image2.contiguous(),
                "kpts1": kpts1, "kpts2": kpts2, "angle": angle, "points1": points1, "points2": points2,
                "shift": group_shift(angle, conf["groups"]), "H": H, **taught}


class Teacher:
    """Any hloc features file as a teacher: per image (named relative to the training folder)
    ``keypoints`` [N, 2] in the image's pixels, ``descriptors`` [D, N], ``scores`` [N].

    The file is checked when opened (a clear error before training starts) and read lazily,
    one handle per process (DataLoader workers open their own).
    """

    def __init__(self, path, names: Sequence[str]):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: teacher features file not found (train.teacher)")
        try:
            with h5py.File(self.path, "r") as f:
                self.names = {n for n in names if n in f}
                if not self.names:
                    raise ValueError(f"{self.path}: holds none of the {len(names)} training images "
                                     "(image groups are named relative to data.root)")
                self.dim = self.read(f, sorted(self.names)[0])[1].shape[1]
        except OSError as e:
            raise ValueError(f"{self.path}: not an HDF5 features file ({e})") from e
        self.file = None

    def read(self, f, name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keypoints [N, 2], descriptors [N, D], scores [N]) of one image, checked."""
        group = f[name]
        missing = [k for k in ("keypoints", "descriptors", "scores") if k not in group]
        if missing:
            raise ValueError(f"{self.path}: image {name} lacks {missing}")
        kpts, desc, scores = (np.asarray(group[k], np.float32) for k in ("keypoints", "descriptors", "scores"))
        n = len(kpts)
        if kpts.shape != (n, 2) or scores.shape != (n,) or desc.ndim != 2 or desc.shape[1] != n:
            raise ValueError(f"{self.path}: image {name}: expected keypoints [N, 2], descriptors [D, N], "
                             f"scores [N]; got {kpts.shape}, {desc.shape}, {scores.shape}")
        if not (np.isfinite(kpts).all() and np.isfinite(desc).all()):
            raise ValueError(f"{self.path}: image {name} holds non-finite values")
        return kpts, desc.T, scores

    def pair(self, name: str, to_crop: np.ndarray, H: torch.Tensor, valid: torch.Tensor, num: int,
             groups: int) -> Dict[str, torch.Tensor]:
        """The teacher's keypoints of image ``name`` carried into view 1 (``to_crop``) and view 2
        (``H``), kept where ``valid`` [h, w] (inside both views), strongest first, padded to ``num``."""
        out = {"teacher_kpts1": torch.zeros(num, 2), "teacher_kpts2": torch.zeros(num, 2),
               "teacher_desc": torch.zeros(num, self.dim), "teacher_scores": torch.zeros(num),
               "teacher_mask": torch.zeros(num, dtype=torch.bool), "teacher_shift": torch.zeros(num, dtype=torch.long)}
        if name not in self.names:
            return out
        if self.file is None:
            self.file = h5py.File(self.path, "r")
        kpts, desc, scores = self.read(self.file, name)
        k1 = geometry.warp_points(to_crop, kpts.astype(np.float64))
        h, w = valid.shape
        xy = np.round(k1).astype(np.int64)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        inside[inside] = valid.numpy()[xy[inside, 1], xy[inside, 0]]
        keep = np.flatnonzero(inside)
        keep = keep[np.argsort(-scores[keep], kind="stable")][:num]
        k1 = torch.from_numpy(k1[keep])
        n = len(keep)
        out["teacher_kpts1"][:n] = k1.float()
        out["teacher_kpts2"][:n] = geometry.warp_points(H, k1).float()
        out["teacher_desc"][:n] = torch.from_numpy(desc[keep])
        out["teacher_scores"][:n] = torch.from_numpy(scores[keep])
        out["teacher_mask"][:n] = True
        out["teacher_shift"][:n] = group_shift(local_rotation_deg(H, k1), groups)
        return out

    def __getstate__(self):  # DataLoader workers open their own handle
        return {**self.__dict__, "file": None}


class PairDataset(torch.utils.data.Dataset):
    """Map-style view of a PairGenerator: item ``i`` is the pair made from seed (base, i).

    Training uses global sample numbers as indices (step * batch * world + ...), so any
    step's batch can be regenerated exactly after a resume, whatever the worker count.
    """

    def __init__(self, generator: PairGenerator, base_seed: int, length: int):
        self.generator, self.base_seed, self.length = generator, base_seed, length

    def __len__(self):
        return self.length

    def __getitem__(self, index: int):
        return self.generator.sample(seed_for(self.base_seed, index))


def split_names(names: Sequence[str], num_val: int, seed: int):
    """Hold back ``num_val`` images for validation: (train_names, val_names), disjoint."""
    if num_val >= len(names):
        raise ValueError(f"cannot hold back {num_val} validation images out of {len(names)}")
    order = np.random.default_rng(seed).permutation(len(names))
    val = sorted(names[i] for i in order[:num_val])
    train = sorted(names[i] for i in order[num_val:])
    return train, val
