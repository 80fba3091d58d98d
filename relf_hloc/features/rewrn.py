"""Rotation-equivariant Wide-ResNet-16-8 (e2cnn, group C_G): RELF's second backbone.

The original's ``e2wrn16_8R_stl``, with its defect fixed: the original makes the last
block of stage 3 output trivial (invariant) fields and then reads them as regular ones,
so its orientation histogram cannot turn with the image. Here every stage holds
regular fields, and the fused vectors shift cyclically under 90-degree turns exactly
like ReResNet-18's (``tests/test_model.py`` pins it).

Layout: a 5x5 stem (3 trivial -> widths[0] / G regular fields, stride 1, full
resolution), then three stages of two pre-activation blocks (BN, ReLU, 5x5 conv, BN,
ReLU, 5x5 conv; a 1x1 conv shortcut when the shape changes) with widths[1:] planes and
strides 2, 2, 2: stage outputs at 1/2, 1/4, 1/8. Fusion as ReResNet's, on the stage-1
grid (1/2): [stage3, stage2, stage1] = 32 + 16 + 8 fields, 896 channels at G = 16.
The stem is not fused (it would be a full-resolution map of 4 shallow fields).

Pre-activation batch norms sit before a zero-padded conv, so they cannot be folded into
it: ``export_plain`` turns them into plain BatchNorm2d layers (the conv-then-BN pairs
inside each block are folded as in ReResNet-18).
"""

from __future__ import annotations

import math
from typing import List, Sequence

import torch
from e2cnn import gspaces
from e2cnn import nn as enn
from torch import nn

from .reresnet import RANDOM_INIT, WIDTHS, Equi

# the original's basis options (e2cnn's WRN experiments): Gaussian rings of width 0.6,
# angular frequencies up to 0.8 pi per unit radius
BASIS = {"sigma": 0.6, "frequencies_cutoff": lambda r: 0.8 * math.pi * r}


def conv(in_type, out_type, kernel: int, stride: int = 1) -> Equi:
    """Equivariant conv, no bias, 'same' padding, the original's basis."""
    return Equi(enn.R2Conv(in_type, out_type, kernel, stride=stride, padding=kernel // 2, bias=False,
                           initialize=RANDOM_INIT.get(), **BASIS))


class PreActBlock(nn.Module):
    """Wide-ResNet block: BN, ReLU, conv, BN, ReLU, conv; the shortcut of a shape change is
    a 1x1 conv of the activated input (as in WRN)."""

    def __init__(self, in_type, out_type, stride: int):
        super().__init__()
        self.bn1 = Equi(enn.InnerBatchNorm(in_type))
        # conv then BN: a pair that export_plain folds into one Conv2d
        self.conv1 = nn.Sequential(conv(in_type, out_type, 5, stride), Equi(enn.InnerBatchNorm(out_type)))
        self.conv2 = conv(out_type, out_type, 5)
        self.shortcut = (conv(in_type, out_type, 1, stride)
                         if stride != 1 or in_type.size != out_type.size else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activation block: BN-ReLU-conv-BN-ReLU-conv, plus the shortcut."""
        a = torch.relu(self.bn1(x))
        y = self.conv2(torch.relu(self.conv1(a)))
        return y + (x if self.shortcut is None else self.shortcut(a))


class ReWRN16_8(nn.Module):
    """Equivariant WRN-16-8 trunk.

    forward(x [B, 3, H, W] normalised RGB) -> 3 maps in fusion order
    [stage3 (1/8), stage2 (1/4), stage1 (1/2)]; exact 90-degree equivariance needs
    (H - 1) and (W - 1) multiples of 8 (the pyramid's 16k + 1 sides are).
    ``projection`` > 0: a training-only linear head, as ReResNet18's.
    """

    def __init__(self, G: int = 16, widths: Sequence[int] = WIDTHS, detector: bool = False,
                 projection: int = 0):
        super().__init__()
        if detector:
            raise ValueError("the learned detector head exists for the reresnet18 backbone only")
        if len(widths) != 4 or any(w % G for w in widths):
            raise ValueError(f"widths {tuple(widths)}: stem + 3 stages, each a multiple of G={G}")
        self.G, self.widths = G, tuple(widths)
        gs = gspaces.Rot2dOnR2(N=G)
        types = [enn.FieldType(gs, [gs.regular_repr] * (w // G)) for w in widths]
        self.stem = conv(enn.FieldType(gs, [gs.trivial_repr] * 3), types[0], 5)
        stages, prev = [], types[0]
        for t in types[1:]:
            stages.append(nn.Sequential(PreActBlock(prev, t, 2), PreActBlock(t, t, 1)))
            prev = t
        self.stages = nn.ModuleList(stages)
        self.detector = None
        self.projection = nn.Linear(self.channels, projection) if projection else None

    @property
    def channels(self) -> int:
        """Fused channels: the three stages' planes."""
        return sum(self.widths[1:])

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The 3 maps in fusion order of normalised images ``x`` [B, 3, H, W]."""
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs[::-1]
