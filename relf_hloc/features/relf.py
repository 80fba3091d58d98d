"""RELF: rotation-equivariant features, group-aligned into invariant descriptors.

Data path: image -> keypoints (``detectors``) -> pyramid of equivariant feature maps
(``reresnet``) -> fused vectors at the keypoints -> group aligning (roll every field by
the orientation bin) -> L2-normalised rotation-invariant descriptors.

    from relf_hloc import RELF
    relf = RELF({"max_keypoints": 2000}).to("cuda")  # a torch.nn.Module: .to() moves the network
    out = relf.extract(image)      # image: uint8 [H, W, 3] RGB or float [3, H, W] in [0, 1]
    out["keypoints"]     # [N, 2] float32, pixels, pixel centre at integer coordinates
    out["descriptors"]   # [N, 1024] float32, L2-normalised
    out["scores"]        # [N] detector response
    out["orientations"]  # [N] degrees; grows by a when the image turns by a counter-clockwise

With multi-candidate extraction a keypoint is repeated once per kept
orientation (``out["keypoint_index"]`` gives the source keypoint). With a projection (``pca``,
``descriptor_dim``) or a RootSIFT part, ``out["aggregation_input"]`` holds the aligned descriptor
itself, which the global aggregations take (the extract step uses it and never writes it).
``relf(data)`` is the batched form (LightGlue's extractor convention): ``data["image"]``
[1, 3, H, W] in [0, 1] (optionally ``data["keypoints"]`` [1, N, 2]) -> ``keypoints``
[1, N, 2], ``keypoint_scores`` [1, N], ``descriptors`` [1, N, D], ``orientations`` [1, N].
"""

from __future__ import annotations

import copy
import functools
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import timing
from ..log import logger
from ..confs import (AUTO_BACKEND, BACKENDS, DEFAULT_WEIGHTS, DETECTOR_WEIGHTS, MAX_KEYPOINTS, PAPER_PYRAMID,
                     resolve_backend)
from ..geometry import parabola_offset
from ..io import file_digest
from . import weights_tag
from .backbones import DEFAULT_BACKBONE, build_backbone, fused_channels
from .base import Extractor
from .checkpoint import CheckpointError, load_checkpoint, load_model_state
from .detectors import load_detector
from .opencv import create_sift, normalise_float
from .reresnet import NORMALIZATION, WIDTHS, export_plain, normalize_image, sample_fused, weights_to_load


def pyramid_sizes(h: int, w: int, max_size: Optional[int] = 1024, min_size: int = 256,
                  step: float = 2 ** 0.25, snap: Optional[int] = 16) -> List[Tuple[int, int]]:
    """(h, w) of each level of the adaptive pyramid, largest first.

    The longer side is first brought to ``max_size`` (up or down), then divided
    by ``step`` while it stays >= ``min_size`` (the paper's sizes). With
    ``snap`` each side is then moved to the nearest ``snap * k + 1``: ReResNet-18's four
    stride-2 stages (Re-WRN-16-8's three) sample such a grid symmetrically, so every
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


def shift_groups(vectors: torch.Tensor, shifts: torch.Tensor, G: int) -> torch.Tensor:
    """Shift the G axis of every field of each vector by -shifts[i], a fractional number of
    bins, as a phase shift of its DFT along the group axis (band-limited interpolation).

    For integer shifts this equals ``roll_groups`` (up to float rounding).
    """
    N = vectors.shape[0]
    v = vectors.reshape(N, -1, G).float()
    freqs = torch.arange(G // 2 + 1, device=vectors.device, dtype=torch.float32)
    phase = torch.polar(torch.ones(N, 1, len(freqs), device=vectors.device),
                        2 * torch.pi * shifts.float()[:, None, None] * freqs / G)
    return torch.fft.irfft(torch.fft.rfft(v, dim=-1) * phase, n=G, dim=-1).reshape(vectors.shape)


def subbin_offset(hist: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Fractional offset [N] in [-0.5, 0.5] of each histogram's peak at ``bins`` [N]: the
    vertex of the parabola through the bin and its two (circular) neighbours."""
    G = hist.shape[1]
    return parabola_offset(*(hist.gather(1, ((bins + d) % G)[:, None])[:, 0] for d in (-1, 0, 1)))


def align(vectors: torch.Tensor, bins: torch.Tensor, G: int, subbin: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """Roll every field of each vector back by its orientation (bin ``bins``, refined to a
    fraction of a bin with ``subbin``): (L2-normalised descriptors, orientations in bins)."""
    rolled = roll_groups(vectors, bins, G)
    if not subbin:
        return F.normalize(rolled, dim=1), bins.float()
    offset = subbin_offset(orientation_histogram(vectors, G), bins)
    return F.normalize(shift_groups(rolled, offset, G), dim=1), bins + offset


def group_align(vectors: torch.Tensor, G: int, subbin: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-1 group aligning: ([N, C*G] L2-normalised descriptors, [N] orientations in bins;
    integers unless ``subbin``)."""
    return align(vectors, orientation_histogram(vectors, G).argmax(1), G, subbin)


def multi_candidate(vectors: torch.Tensor, G: int, ratio: Optional[float] = 0.6,
                    top_k: Optional[int] = None, subbin: bool = False
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One descriptor per kept orientation bin.

    Keeps bins >= ratio x the maximum of the histogram (or the top_k bins).
    Returns descriptors [M, C*G], source keypoint index [M], orientation [M] (bins).
    """
    hist = orientation_histogram(vectors, G)
    if top_k is not None:
        keep = torch.zeros_like(hist, dtype=torch.bool)
        keep.scatter_(1, hist.topk(min(top_k, G), dim=1).indices, True)
    else:
        peak = hist.max(1, keepdim=True).values
        keep = (hist >= ratio * peak) | (hist == peak)
    index, bins = keep.nonzero(as_tuple=True)
    desc, ori = align(vectors[index], bins, G, subbin)
    return desc, index, ori


@functools.lru_cache(maxsize=4)
def exported_network(weights: Optional[str], G: int = 16, widths: Tuple[int, ...] = WIDTHS,
                     detector: bool = False, backbone: str = DEFAULT_BACKBONE) -> torch.nn.Module:
    """The exported plain-torch network on the CPU, built once per process (e2cnn's bases
    take seconds); callers take a copy. weights: a checkpoint path (of that ``backbone``),
    or None for a seeded random initialisation. ``detector``: with the learned detector
    head (the weights must hold one)."""
    with torch.random.fork_rng(devices=[]), (weights_to_load() if weights is not None else nullcontext()):
        torch.manual_seed(0)
        model = build_backbone(backbone, G, widths, detector)
    if weights is not None:
        state, meta, _ = load_checkpoint(weights, expect={"backbone": backbone, "G": G, "widths": list(widths),
                                                          "normalization": NORMALIZATION})
        if detector and not meta.get("detector"):
            raise CheckpointError(f"{weights}: these weights have no learned detector; use weights "
                                  f"trained with one ({DETECTOR_WEIGHTS.name}) or the 'sift' detector")
        state = {k: v for k, v in state.items()  # heads inference does not use
                 if not k.startswith("projection.") and (detector or not k.startswith("detector."))}
        load_model_state(model, state)
    return export_plain(model).requires_grad_(False)


def projection_of(weights: Optional[str], dim: Optional[int]) -> Optional[torch.nn.Linear]:
    """The checkpoint's learned projection of aligned descriptors to ``dim`` (``model.projection``
    in training, by distillation), or None for ``dim`` None; weights without one are an error."""
    if not dim:
        return None
    state = load_checkpoint(weights)[0] if weights else {}
    if "projection.weight" not in state:
        raise CheckpointError(f"{weights}: these weights have no learned projection; descriptor_dim needs "
                              "weights trained with model.projection (a teacher's regression)")
    weight = state["projection.weight"].float()
    if weight.shape[0] != dim:
        raise CheckpointError(f"{weights}: its projection gives {weight.shape[0]}-d descriptors, not {dim}")
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data, layer.bias.data = weight, state["projection.bias"].float()
    return layer.requires_grad_(False)


def checkpoint_of(model: dict) -> Optional[str]:
    """The checkpoint a RELF conf names: its ``weights``, else the shipped ones; None for random weights."""
    return None if model["random_weights"] else str(model["weights"] or DEFAULT_WEIGHTS)


def pca_file(weights: Optional[str]) -> Path:
    """Where the descriptor PCA of a checkpoint is (``scripts/make_codebook.py --make pca``): beside it,
    ``NAME.pca.npz``."""
    if weights is None:
        raise ValueError("RELF option pca: random weights have no PCA (it is learned on trained descriptors)")
    return Path(weights).with_suffix(".pca.npz")


def load_pca(weights: Optional[str], dim: int, channels: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(mean [C], components [C, dim]) of the checkpoint's descriptor PCA, checked against the weights
    it was learned for and the descriptor size."""
    path = pca_file(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no descriptor PCA for {weights} (make it with "
                                "python scripts/make_codebook.py --make pca --weights WEIGHTS)")
    with np.load(path) as data:
        mean, components, tag = data["mean"], data["components"], str(data["weights"])
    if tag != weights_tag(weights):
        raise CheckpointError(f"{path}: learned for weights {tag}, not these ({weights_tag(weights)}); "
                              "make it again with scripts/make_codebook.py --make pca")
    if components.shape[0] != channels or not 0 < dim <= components.shape[1]:
        raise ValueError(f"RELF option pca: {path} holds {components.shape[1]} components of {components.shape[0]}-d "
                         f"descriptors; pca must be in 1..{components.shape[1]} for {channels}-d, got {dim}")
    return torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(components[:, :dim].astype(np.float32))


def network_tag(weights: Optional[str], backbone: str = DEFAULT_BACKBONE) -> str:
    """Cache tag of an exported network: the weights' content (``weights_tag``), and the
    backbone unless ReResNet-18 (random weights of two backbones would share 'untrained')."""
    tag = weights_tag(weights, weights is None)
    return tag if backbone == DEFAULT_BACKBONE else f"{backbone}-{tag}"


class Levels:
    """The pyramid's maps of one image, computed on the first call (by a detector that scores them)
    and kept in ``value`` for describing (None until then)."""

    def __init__(self, compute):
        self.compute, self.value = compute, None

    def __call__(self) -> list:
        """[(maps, (h, w)) per level]."""
        if self.value is None:
            self.value = self.compute()
        return self.value


class RELF(Extractor, torch.nn.Module):
    """RELF as an extractor (``base.Extractor``): detect -> describe -> align.

    The keypoints come from a detector (``detectors``: given to ``describe``, a registry detector
    on the image, or the learned head on the maps of the network pass that also describes).
    """

    weights = True
    describes_keypoints = True
    global_aggregations = ("vlad", "gem")  # the VLAD codebook is learned on RELF's descriptors

    default_conf = {
        "name": "relf",
        "backbone": DEFAULT_BACKBONE,  # or wrn16_8 (features.backbones; the weights must match)
        "G": 16,
        "max_keypoints": MAX_KEYPOINTS,
        "detector": {"name": "sift"},  # relf_hloc.features.detectors: sift, file, or learned (the
                                       # network's own head: weights trained with one)
        "pyramid": PAPER_PYRAMID,      # None: the original resolution only
        "multi_candidate": None,       # e.g. {"ratio": 0.6} or {"top_k": 2}
        "subbin": True,                # orientation refined between bins; False: the paper's integer roll
        "backend": "torch",            # or onnxruntime, onnxruntime-int8 (CPU; relf_hloc.features.onnx), or auto
                                       # (int8 where ONNX Runtime is installed, else torch: confs.resolve_backend)
        "weights": None,               # checkpoint path; None = the shipped weights
        "random_weights": False,       # untrained network: for tests only
        "descriptor_dim": None,        # e.g. 128: the weights' learned projection of the aligned
                                       # descriptor (trained by distillation), L2-normalised
        "pca": None,                   # e.g. 256: the aligned descriptor projected on its first PCA
                                       # components (learned on the training images, beside the weights:
                                       # pca_file), L2-normalised; compact descriptors for faster matching
        "rootsift": None,              # e.g. 0.5: append RootSIFT at the keypoint's scale in RELF's
                                       # orientation, with this share of the dot product (add_rootsift)
    }

    def __init__(self, conf: Optional[dict] = None):
        torch.nn.Module.__init__(self)
        Extractor.__init__(self, conf)
        conf = self.conf
        weights = self.weights_path()
        learned = conf["detector"]["name"] == "learned"
        if conf["rootsift"] is not None and not (0 < conf["rootsift"] < 1 and not learned):
            raise ValueError(f"RELF option rootsift: a share in (0, 1) with the 'sift' or 'file' detector "
                             f"(their scales are SIFT's), got {conf['rootsift']!r} with '{conf['detector']['name']}'")
        network = lambda: exported_network(weights, conf["G"], WIDTHS, learned,  # noqa: E731  (built once)
                                           conf["backbone"])
        self.detector = load_detector({"max_keypoints": conf["max_keypoints"], **conf["detector"]},
                                      **({"head": copy.deepcopy(network().detector)} if learned else {}))
        if conf["pca"] and conf["descriptor_dim"]:
            raise ValueError("RELF options pca and descriptor_dim both project the descriptor: choose one")
        self.projection = projection_of(weights, conf["descriptor_dim"])
        self.pca = load_pca(weights, conf["pca"], self.aligned_dim) if conf["pca"] else None
        conf["backend"] = resolve_backend(conf["backend"])  # 'auto': as the steps resolve it on the CPU
        if conf["backend"] == "torch":
            self.net = copy.deepcopy(network())
            self.net.detector = None
        else:
            from . import onnx  # ONNX Runtime is optional: imported only for its backends
            if conf["backend"] not in BACKENDS:
                raise ValueError(f"unknown RELF backend '{conf['backend']}'; "
                                 f"choose one of {BACKENDS + (AUTO_BACKEND,)}")
            tag = network_tag(weights, conf["backbone"])
            self.net = onnx.OrtNetwork(onnx.model_file(weights, tag, conf["backend"], network))

    @classmethod
    def content_tags(cls, model: dict) -> dict:
        """The weights, and the PCA file with ``pca``, named by content; the backend that runs ('auto' resolved)."""
        weights = checkpoint_of(model)
        tags = {"weights": weights_tag(weights, model["random_weights"]), "backend": resolve_backend(model["backend"])}
        if model["pca"]:
            tags["pca"] = f"{model['pca']}-{file_digest(pca_file(weights))[:8]}"
        return tags

    def weights_path(self) -> Optional[str]:
        """The checkpoint of the conf (None: random weights, said loudly)."""
        if self.conf["random_weights"]:
            msg = ("RELF is running with RANDOM (untrained) weights: descriptors are "
                   "equivariant but not trained; use this for tests only")
            warnings.warn(msg)
            logger.warning(f"WARNING: {msg}")
            return None
        weights = checkpoint_of(self.conf)
        if not Path(weights).is_file():
            raise FileNotFoundError(
                f"{weights}: RELF weights not found; pass a checkpoint with conf "
                "'weights' (--weights), or --random-weights for an untrained network")
        return weights

    @property
    def device(self) -> torch.device:
        """Where the network runs (the CPU for the ONNX Runtime backends)."""
        return next(self.net.parameters(), torch.zeros(0)).device  # ONNX Runtime: the CPU

    def pyramid_levels(self, h: int, w: int) -> List[Tuple[int, int]]:
        """(h, w) of every pyramid level of an h x w image (``pyramid_sizes`` of the conf)."""
        return pyramid_sizes(h, w, **(self.conf["pyramid"] or {"max_size": None}))

    def pyramid(self, image: torch.Tensor):
        """(feature maps, (h, w)) of every pyramid level of image [3, H, W] in [0, 1], largest first."""
        H, W = image.shape[-2:]
        for h, w in self.pyramid_levels(H, W):
            level = image[None]
            if (h, w) != (H, W):
                level = F.interpolate(level, size=(h, w), mode="bilinear", align_corners=False,
                                      antialias=h < H)
            with timing.stage("network"):
                feats = self.net(normalize_image(level))
            yield feats, (h, w)

    @staticmethod
    def pool(levels, kpts: torch.Tensor, image_hw: Tuple[int, int]) -> torch.Tensor:
        """Vectors [N, C*G] at keypoints [N, 2] (image pixels) sampled on every level and
        max-pooled over levels (max commutes with cyclic shifts)."""
        H, W = image_hw
        out = None
        for feats, (h, w) in levels:
            with timing.stage("sampling"):
                scale = kpts.new_tensor([w / W, h / H])
                v = sample_fused(feats, ((kpts + 0.5) * scale - 0.5)[None], (h, w))[0]
                out = v if out is None else torch.maximum(out, v)
        return out

    def align(self, vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(descriptors [M, D], source keypoint index [M], orientation bin [M]) of vectors [N, D]."""
        G, mc, subbin = self.conf["G"], self.conf["multi_candidate"], self.conf["subbin"]
        if mc:
            return multi_candidate(vectors, G, mc.get("ratio", 0.6), mc.get("top_k"), subbin)
        desc, ori = group_align(vectors, G, subbin)
        return desc, torch.arange(len(vectors), device=vectors.device), ori

    @staticmethod
    def image_of(data: Dict[str, torch.Tensor]) -> torch.Tensor:
        """The image [3, H, W] of a batch of one ([1, 3 or 1, H, W]); other shapes are an error."""
        image = data["image"]
        if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] not in (1, 3):
            raise ValueError(f"RELF takes one image [1, 3, H, W] (or [1, 1, H, W]), got {tuple(image.shape)}")
        return image[0].float().expand(3, -1, -1)

    @torch.inference_mode()
    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Detect, then describe (see the module doc): batched tensors in and out, on the image's device."""
        image = self.image_of(data)
        levels = Levels(lambda: list(self.pyramid(image.to(self.device))))  # one pass detects and describes
        with timing.stage("detect"):  # a learned detector runs the network here (counted as network)
            detected = self.detector({"image": to_uint8(image), "name": data.get("name"), "levels": levels})
        detected = {k: torch.as_tensor(v)[None] for k, v in detected.items()}
        return self.describe({"image": data["image"], **detected}, levels.value)

    @torch.inference_mode()
    def describe(self, data: Dict[str, torch.Tensor], levels=None) -> Dict[str, torch.Tensor]:
        """Aligned descriptors of ``data["keypoints"]`` [1, N, 2] (pixels of the image) on the
        pyramid's maps (``levels``: those already computed, else computed level by level)."""
        image = self.image_of(data)
        kpts = data["keypoints"][0].float().reshape(-1, 2).to(image.device)
        scores = data.get("keypoint_scores", torch.ones_like(kpts[None, :, 0]))[0].float().to(image.device)
        if len(kpts):
            hw = image.shape[-2:]
            levels = levels if levels is not None else self.pyramid(image.to(self.device))
            vectors = self.pool(levels, kpts.to(self.device), hw)  # runs the network when levels are lazy
            with timing.stage("aligning"):
                desc, index, ori = (t.to(image.device) for t in self.align(vectors))
                aligned = desc  # what the global aggregations take (their codebook is learned on it)
                if self.projection is not None:
                    desc = F.normalize(self.projection(desc.to(self.projection.weight.device)), dim=1).to(image.device)
                if self.pca is not None:
                    mean, components = (t.to(desc) for t in self.pca)
                    desc = F.normalize((desc - mean) @ components, dim=1)
            if self.conf["rootsift"]:
                with timing.stage("rootsift"):
                    desc = self.add_rootsift(desc, image, kpts[index], data, index, ori)
        else:
            desc, index = image.new_zeros((0, self.channels)), torch.zeros(0, dtype=torch.long, device=image.device)
            ori, aligned = image.new_zeros(0), image.new_zeros((0, self.aligned_dim))
        out = {"keypoints": kpts[index], "keypoint_scores": scores[index], "descriptors": desc.float(),
               "orientations": ori.float() * 360.0 / self.conf["G"]}
        if aligned.shape[1] != desc.shape[1]:  # a projection or a RootSIFT part: the aligned descriptor too
            out["aggregation_input"] = aligned.float()
        if "scales" in data:  # the learned detector's
            out["scales"] = data["scales"][0].to(image.device)[index]
        if self.conf["multi_candidate"]:
            out["keypoint_index"] = index
        return {k: v[None] for k, v in out.items()}

    def add_rootsift(self, desc: torch.Tensor, image: torch.Tensor, kpts: torch.Tensor, data: dict,
                     index: torch.Tensor, ori: torch.Tensor) -> torch.Tensor:
        """[desc, RootSIFT] weighted so that a dot product is (1 - w) x RELF's + w x RootSIFT's
        (w = conf ``rootsift``), unit length. RootSIFT is computed at each keypoint's scale in
        RELF's orientation, so it turns with the image as RELF does: the sum stays invariant."""
        if "scales" not in data:
            raise ValueError("RELF's 'rootsift' part needs each keypoint's scale: use the 'sift' detector, "
                             "or keypoints from a features file that has 'scales'")
        w = float(self.conf["rootsift"])
        sift = rootsift_at(to_uint8(image), kpts.cpu().numpy(), data["scales"][0][index.cpu()].cpu().numpy(),
                           ori.cpu().numpy() * 360.0 / self.conf["G"])
        return torch.cat([desc * (1 - w) ** 0.5, torch.from_numpy(sift).to(desc) * w ** 0.5], 1)

    @property
    def channels(self) -> int:
        """Descriptor size: the fused channels of the backbone (or ``descriptor_dim``, ``pca``), and
        RootSIFT's 128 with the ``rootsift`` part."""
        dim = self.conf["descriptor_dim"] or self.conf["pca"] or self.aligned_dim
        return dim + 128 * bool(self.conf["rootsift"])

    @property
    def aligned_dim(self) -> int:
        """Size of the aligned descriptor: the backbone's fused channels."""
        return fused_channels(self.conf["backbone"], WIDTHS)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A [3, H, W] image in [0, 1] as uint8 [H, W, 3] RGB (what the OpenCV detectors take)."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def rootsift_at(rgb: np.ndarray, kpts: np.ndarray, sizes: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """RootSIFT descriptors [N, 128] (unit length) of uint8 RGB ``rgb`` at keypoints [N, 2] of
    OpenCV sizes [N], oriented by ``degrees`` [N] (counter-clockwise as displayed, RELF's
    convention; OpenCV's angle turns clockwise)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cv_kpts = [cv2.KeyPoint(float(x), float(y), float(s), float((360.0 - a) % 360.0))
               for (x, y), s, a in zip(kpts, sizes, degrees)]
    cv_kpts, sift = create_sift().compute(gray, cv_kpts)
    if sift is None or len(cv_kpts) != len(kpts):
        raise RuntimeError(f"OpenCV SIFT described {len(cv_kpts)} of {len(kpts)} keypoints")
    return normalise_float(sift, "rootsift")
