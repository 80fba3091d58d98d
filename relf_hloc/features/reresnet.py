"""Rotation-equivariant ResNet-18 (e2cnn, group C_G) and RELF's multi-layer fusion.

Every hidden layer holds regular fields of C_G: a layer with P planes has P/G
fields of G channels each (field-major, group-minor). Rotating the input by one
group element cyclically shifts the G channels of every field.

The network is written on plain tensors: each e2cnn layer sits in an ``Equi``
wrapper, so ``export_plain`` can swap every wrapper for the plain torch layer
e2cnn exports (Conv2d with the expanded filter; BatchNorm folded into it), which
is what inference runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import warnings
from typing import Iterator, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from e2cnn import gspaces
from e2cnn import nn as enn
from torch import nn

# e2cnn 0.2.3 indexes with uint8 masks when building bases; harmless, and noisy
warnings.filterwarnings("ignore", message="indexing with dtype torch.uint8")

WIDTHS = (64, 128, 256, 512)  # planes of the four stages (stem = WIDTHS[0])
NORMALIZATION = "imagenet"  # the one normalisation of training and inference
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def normalize_image(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB in [0, 1] -> network input (ImageNet mean/std)."""
    mean = x.new_tensor(MEAN)[:, None, None]
    std = x.new_tensor(STD)[:, None, None]
    return (x - mean) / std


class Equi(nn.Module):
    """An e2cnn module used on plain tensors."""

    def __init__(self, module: enn.EquivariantModule):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The e2cnn module on a plain tensor of its input type."""
        return self.module(enn.GeometricTensor(x, self.module.in_type)).tensor


# whether new equivariant convolutions draw random weights (e2cnn's generalised He init takes
# about 5 of the 9 s a ReResNet-18 takes to build): not when a checkpoint's weights replace them
RANDOM_INIT = contextvars.ContextVar("random_init", default=True)


@contextlib.contextmanager
def weights_to_load() -> Iterator[None]:
    """Build backbones whose weights are then loaded: their convolutions skip the random init."""
    token = RANDOM_INIT.set(False)
    try:
        yield
    finally:
        RANDOM_INIT.reset(token)


def r2conv(in_type, out_type, kernel: int, stride: int = 1, **options) -> enn.R2Conv:
    """e2cnn's R2Conv with the project's basis (sigma, frequency cut-off), randomly initialised
    unless built under ``weights_to_load``."""
    options = {"padding": kernel // 2, "bias": False, **options}
    return enn.R2Conv(in_type, out_type, kernel, stride=stride, sigma=None, frequencies_cutoff=lambda r: 3 * r,
                      initialize=RANDOM_INIT.get(), **options)


def conv_bn(in_type, out_type, kernel: int, stride: int = 1) -> nn.Sequential:
    """Equivariant conv (no bias) + inner batch norm, as plain-tensor modules."""
    return nn.Sequential(
        Equi(r2conv(in_type, out_type, kernel, stride)),
        Equi(enn.InnerBatchNorm(out_type)))


class BasicBlock(nn.Module):
    """ResNet basic block; ReLU is pointwise, hence equivariant on regular fields."""

    def __init__(self, in_type, out_type, stride: int):
        super().__init__()
        self.conv1 = conv_bn(in_type, out_type, 3, stride)
        self.conv2 = conv_bn(out_type, out_type, 3)
        self.shortcut = (conv_bn(in_type, out_type, 1, stride)
                         if stride != 1 or in_type.size != out_type.size else nn.Identity())

    def forward(self, x):
        """conv-bn-relu-conv-bn, plus the shortcut, then ReLU."""
        y = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(y + self.shortcut(x))


def group_pool(x: torch.Tensor, G: int) -> torch.Tensor:
    """[B, F*G, h, w] regular fields -> [B, F, h, w]: the maximum over each field's G
    channels, invariant to rotations of the input (it turns the map, not the values)."""
    B, C, h, w = x.shape
    return x.reshape(B, C // G, G, h, w).amax(2)


class DetectorHead(nn.Module):
    """Keypoint scores from the fine maps of the trunk (stem, stage 1, stage 2).

    Every field is max-pooled over the group (invariant channels), then two convolutions
    with C_G-invariant (nearly isotropic) filters and a 1x1 give one logit per stem-grid
    pixel: the score map turns with the image, so its peaks are rotation covariant.
    forward(5 maps in fusion order) -> logits [B, h, w] on the stem grid (1/2).
    """

    def __init__(self, G: int = 16, widths: Sequence[int] = WIDTHS, hidden: int = 16):
        super().__init__()
        self.G = G
        gs = gspaces.Rot2dOnR2(N=G)
        trivial = lambda n: enn.FieldType(gs, [gs.trivial_repr] * n)  # noqa: E731
        inputs = (2 * widths[0] + widths[1]) // G
        init = RANDOM_INIT.get()
        self.conv1 = Equi(enn.R2Conv(trivial(inputs), trivial(hidden), 5, padding=2, initialize=init))
        self.conv2 = Equi(enn.R2Conv(trivial(hidden), trivial(hidden), 3, padding=1, initialize=init))
        self.out = nn.Conv2d(hidden, 1, 1)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """Keypoint logits [B, h, w] on the stem grid of the trunk's 5 maps."""
        stem, stage1, stage2 = feats[4], feats[3], feats[2]
        stage2 = F.interpolate(stage2, size=stem.shape[-2:], mode="bilinear", align_corners=True)
        x = torch.cat([group_pool(f, self.G) for f in (stem, stage1, stage2)], 1)
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.out(x)[:, 0]


class ReResNet18(nn.Module):
    """Equivariant ResNet-18 trunk without the stem max-pool.

    forward(x [B, 3, H, W] normalised RGB) -> 5 maps in fusion order
    [stage4 (1/16), stage3 (1/8), stage2 (1/4), stage1 (1/2), stem (1/2)].
    ``projection`` > 0 adds a linear map of the aligned descriptor to that many dimensions,
    trained to regress a teacher's descriptors (inference ignores it).
    With ``detector`` the model also holds a ``DetectorHead`` (``model.detector(maps)``:
    keypoint logits), run apart from forward so that any backend's maps can feed it.
    """

    def __init__(self, G: int = 16, widths: Sequence[int] = WIDTHS, detector: bool = False,
                 projection: int = 0):
        super().__init__()
        if any(w % G for w in widths):
            raise ValueError(f"every width {tuple(widths)} must be a multiple of G={G}")
        self.G, self.widths = G, tuple(widths)
        gs = gspaces.Rot2dOnR2(N=G)
        types = [enn.FieldType(gs, [gs.regular_repr] * (w // G)) for w in widths]
        self.stem = conv_bn(enn.FieldType(gs, [gs.trivial_repr] * 3), types[0], 7, stride=2)
        stages, prev = [], types[0]
        for t, stride in zip(types, (1, 2, 2, 2)):
            stages.append(nn.Sequential(BasicBlock(prev, t, stride), BasicBlock(t, t, 1)))
            prev = t
        self.stages = nn.ModuleList(stages)
        self.detector = DetectorHead(G, widths) if detector else None
        # training only: aligned descriptor -> a teacher's descriptor space (losses.distill_loss)
        self.projection = nn.Linear(self.channels, projection) if projection else None

    @property
    def channels(self) -> int:
        """Fused channels: every stage's planes and the stem's."""
        return sum(self.widths) + self.widths[0]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The 5 maps in fusion order of normalised images ``x`` [B, 3, H, W]."""
        x = torch.relu(self.stem(x))
        outs = [x]
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs[::-1]


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A Conv2d equal to conv followed by bn in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                      conv.stride, conv.padding, bias=True)
    fused.weight.data = conv.weight * scale[:, None, None, None]
    fused.bias.data = bn.bias - bn.running_mean * scale
    return fused


@torch.no_grad()
def export_plain(model: ReResNet18) -> nn.Module:
    """Copy of the model on plain torch layers (BatchNorm folded), in eval mode."""
    mode = model.training
    plain = copy.deepcopy(model.train())  # in eval mode e2cnn holds non-copyable filters
    model.train(mode)

    def replace(parent: nn.Module):
        for name, child in parent.named_children():
            if (isinstance(child, nn.Sequential) and len(child) == 2
                    and all(isinstance(c, Equi) for c in child)):
                conv, bn = child[0].module.export(), child[1].module.export()
                setattr(parent, name, fold_bn(conv, bn))
            elif isinstance(child, Equi):
                setattr(parent, name, child.module.export())
            else:
                replace(child)

    replace(plain)
    return plain.eval()


def fuse_dense(feats: List[torch.Tensor]) -> torch.Tensor:
    """Dense fused map [B, C*G, h, w] at the stem resolution (memory-hungry: tests, plots)."""
    size = feats[-1].shape[-2:]
    return torch.cat([F.interpolate(f, size=size, mode="bilinear", align_corners=True)
                      if f.shape[-2:] != size else f for f in feats], 1)


def sample_fused(feats: List[torch.Tensor], kpts: torch.Tensor,
                 image_hw: Tuple[int, int]) -> torch.Tensor:
    """Fused features at keypoints, equal to bilinear sampling of ``fuse_dense``.

    feats: the 5 maps of ReResNet18; kpts [B, N, 2] (x, y) in pixels of the
    network input (pixel centre at integer coordinates); image_hw its (H, W).
    Returns [B, N, C*G]. The dense fused map is never built: the 4 stem-grid
    neighbours of each keypoint are sampled on every coarser map (align_corners=True,
    exactly what the bilinear upsampling computes) and blended; a map on the stem grid
    itself is sampled at the keypoint, which is the same blend.
    """
    H, W = image_hw
    h, w = feats[-1].shape[-2:]
    # keypoint position on the stem grid (align_corners convention)
    u = kpts[..., 0] * (w - 1) / max(W - 1, 1)
    v = kpts[..., 1] * (h - 1) / max(H - 1, 1)
    u0 = u.floor().clamp(0, w - 1)
    v0 = v.floor().clamp(0, h - 1)
    u1, v1 = (u0 + 1).clamp(max=w - 1), (v0 + 1).clamp(max=h - 1)
    au, av = (u - u0).clamp(0, 1), (v - v0).clamp(0, 1)
    scale = torch.tensor([max(w - 1, 1), max(h - 1, 1)], dtype=kpts.dtype, device=kpts.device)
    corners = torch.stack([torch.stack([uu, vv], -1) for vv in (v0, v1) for uu in (u0, u1)], 2)
    weights = torch.stack([(1 - au) * (1 - av), au * (1 - av), (1 - au) * av, au * av], 2)
    grid = corners / scale * 2 - 1  # [B, N, 4, 2]
    point = (torch.stack([u, v], -1) / scale * 2 - 1)[:, :, None]  # [B, N, 1, 2]
    parts = []
    for f in feats:
        if f.shape[-2:] == (h, w):  # clamped corners: the border's value beyond it
            parts.append(F.grid_sample(f, point.to(f.dtype), mode="bilinear", padding_mode="border",
                                       align_corners=True)[..., 0])
        else:
            corner_values = F.grid_sample(f, grid.to(f.dtype), mode="bilinear", align_corners=True)  # [B, C, N, 4]
            parts.append(torch.einsum("bcnk,bnk->bcn", corner_values, weights.to(f.dtype)))
    return torch.cat(parts, 1).transpose(1, 2)
