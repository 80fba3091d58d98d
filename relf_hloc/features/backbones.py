"""Equivariant backbones by name (``model.backbone`` in the training config, ``backbone`` in
RELF's conf). Each one maps a normalised image [B, 3, H, W] to its regular-field maps in
fusion order, the finest (the fusion grid) last, and has ``channels`` (the fused size);
field 0 of the first map is the orientation histogram."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .reresnet import WIDTHS, ReResNet18
from .rewrn import ReWRN16_8

BACKBONES = {"reresnet18": ReResNet18, "wrn16_8": ReWRN16_8}
DEFAULT_BACKBONE = "reresnet18"  # what a checkpoint without a recorded backbone holds


def build_backbone(name: str, G: int = 16, widths: Sequence[int] = WIDTHS, detector: bool = False,
                   projection: int = 0) -> nn.Module:
    """The backbone registered as ``name`` (``BACKBONES``), built with these fields."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](G, widths, detector, projection)


def fused_channels(name: str, widths: Sequence[int] = WIDTHS) -> int:
    """Descriptor size of a backbone (1024 for reresnet18, 896 for wrn16_8 at the default widths)."""
    return sum(widths) + widths[0] if name == "reresnet18" else sum(widths[1:])  # stem fused, or not
