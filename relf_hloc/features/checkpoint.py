"""RELF checkpoints: a state dict plus the metadata needed to rebuild the model.

Format (a ``torch.save`` dict):
    {"format": "relf-hloc/1",
     "state_dict": parameters and batch-norm buffers of the backbone (train-mode
                   keys: e2cnn's cached ``filter``/``expanded_bias`` are dropped),
     "meta": {"backbone": "reresnet18", "G": 16, "widths": [64, 128, 256, 512],
              "normalization": "imagenet",
              "code_version": "0.1.0", "train_config": {...}, "step": int,
              "metrics": {...}, ...}}
A checkpoint without "backbone" (written before there were two) holds reresnet18.
Loading checks the metadata against what the caller expects and names the
mismatch. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from ..io import atomic_write
from .backbones import DEFAULT_BACKBONE, build_backbone

FORMAT = "relf-hloc/1"
REQUIRED_META = ("G", "widths", "normalization", "code_version")


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or made for another network; the message names the file."""


# e2cnn buffers rebuilt by the model itself: the sampled bases (deterministic, 4.8 M
# values) and the eval-mode filter caches (which depend on the mode)
DERIVED = (".filter", ".expanded_bias", ".sampled_basis")


def model_state(model: torch.nn.Module, half: bool = False) -> Dict[str, torch.Tensor]:
    """State dict without the buffers e2cnn derives (parameters and BN statistics only)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()
             if not k.endswith(DERIVED)}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return state


def load_model_state(model: torch.nn.Module, state: Dict[str, torch.Tensor],
                     optional: Tuple[str, ...] = ()) -> torch.nn.Module:
    """Load weights into a model (in train mode); only derived buffers, and the modules
    named in ``optional`` (prefixes, e.g. a new head), may be absent."""
    missing, unexpected = model.train().load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(DERIVED) and not k.startswith(optional)]
    if missing or unexpected:
        raise CheckpointError(f"weights do not fit the model: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    return model


def save_checkpoint(path, model: torch.nn.Module, meta: dict, half: bool = False,
                    extra: Optional[dict] = None) -> Path:
    """Write model weights + metadata atomically; ``extra`` (optimiser, RNG...) is kept as is."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: checkpoint metadata lacks {missing}")
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save({"format": FORMAT, "state_dict": model_state(model, half), "meta": dict(meta),
                    **(extra or {})}, tmp)
    return path


def save_weights(path, state: Dict[str, torch.Tensor], meta: dict) -> Path:
    """Write a state dict as shipped weights (float16, model weights only), after loading it
    into the model that ``meta`` describes (so weights that do not fit are never written)."""
    model = build_backbone(meta.get("backbone", DEFAULT_BACKBONE), meta["G"], meta["widths"],
                           detector=bool(meta.get("detector")), projection=int(meta.get("projection", 0)))
    return save_checkpoint(path, load_model_state(model, state), meta, half=True)


def load_checkpoint(path, expect: Optional[dict] = None) -> Tuple[Dict[str, torch.Tensor], dict, dict]:
    """Read a checkpoint: (state_dict in float32, meta, the whole dict).

    expect: metadata values the caller needs (e.g. {"G": 16}); any difference
    raises CheckpointError naming the file, the key and both values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a relf-hloc checkpoint (format {FORMAT} expected)")
    meta = {"backbone": DEFAULT_BACKBONE, **ckpt["meta"]}
    for key, value in (expect or {}).items():
        have = meta.get(key)
        if (list(have) if isinstance(have, (list, tuple)) else have) != \
                (list(value) if isinstance(value, (list, tuple)) else value):
            raise CheckpointError(f"{path}: checkpoint has {key}={have!r}, but {value!r} is required")
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    return state, meta, ckpt
