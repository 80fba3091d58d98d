from .relf import RELF, group_align, multi_candidate, normalize_image, pyramid_sizes  # noqa: F401
from .reresnet import ReResNet18, export_plain, fuse_dense, sample_fused  # noqa: F401
