"""Option groups shared by several commands: Ray (extract, match, sfm) and COLMAP's cameras and
mapper (sfm)."""

from __future__ import annotations

import argparse
import math
from typing import Any, Dict, Optional

import pycolmap

from ..checks import number
from ..steps import colmap as cu


def add_ray_arguments(parser, what: str = "run") -> None:
    """The engine: ``--threads N`` in this process, or ``--ray [ADDRESS]`` and ``--workers N``, the
    same for extract, match, sfm and query."""
    parser.add_argument("--threads", type=number(int, low=1), default=None,
                        help="CPU threads of this process: the network, matching, OpenCV and COLMAP's mapper "
                             "(default: every core)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help=f"{what} on Ray actors: a local instance, or 'auto' / 'ray://HOST:PORT' for a "
                        "cluster (optional extra: pip install 'relf-hloc[ray]')")
    parser.add_argument("--workers", type=number(int, low=1), default=2, help="Ray actors (default: 2)")


def use_threads(threads: int) -> None:
    """``--threads``: torch's and OpenCV's thread pools of this process (COLMAP's mapper takes it as an option)."""
    import cv2
    import torch
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def add_colmap_arguments(parser: argparse.ArgumentParser) -> None:
    """Camera and mapper options shared by ``sfm`` and ``reconstruction``-like commands."""
    parser.add_argument("--camera-mode", default="AUTO",
                        choices=list(pycolmap.CameraMode.__members__),
                        help="one camera for all images (SINGLE), one per image (PER_IMAGE), "
                             "or AUTO (shared when image size and EXIF agree)")
    parser.add_argument("--camera-model", help="COLMAP camera model, e.g. SIMPLE_RADIAL, PINHOLE")
    parser.add_argument("--camera-params", help="known intrinsics for --camera-model, "
                                                "e.g. 'f,cx,cy,k' (default: from EXIF or focal factor)")
    parser.add_argument("--focal-factor", type=number(float, above=0),
                        help="focal = factor x max(w, h) when EXIF has none (COLMAP default 1.2)")
    parser.add_argument("--mapper-option", action="append", default=[], metavar="KEY=VALUE",
                        help="IncrementalPipelineOptions key, e.g. min_num_matches=10 or "
                             "mapper.init_min_num_inliers=50 (repeatable)")
    parser.add_argument("--mapper-attempts", type=number(int, low=1), default=4,
                        help="mappings tried while images are left out: COLMAP's defaults, relaxed "
                             "thresholds, then other initial pairs; the largest model is kept (default: 4)")
    parser.add_argument("--verbose", action="store_true", help="show COLMAP's log")


def check_camera_options(model: Optional[str], params: Optional[str]) -> None:
    """--camera-model / --camera-params checked before any work (COLMAP would stop after
    extraction and matching with a bare 'Check failed')."""
    if params and not model:
        raise ValueError("--camera-params needs --camera-model (e.g. --camera-model SIMPLE_RADIAL)")
    if not model:
        return
    if model not in pycolmap.CameraModelId.__members__ or model == "INVALID":
        raise ValueError(f"--camera-model {model}: unknown COLMAP camera model (e.g. SIMPLE_PINHOLE, "
                         "PINHOLE, SIMPLE_RADIAL, OPENCV)")
    if params:
        info = pycolmap.Camera.create_from_model_id(1, pycolmap.CameraModelId.__members__[model],
                                                   1.0, 1, 1).params_info
        try:
            values = [float(v) for v in params.split(",")]
        except ValueError:
            raise ValueError(f"--camera-params '{params}': expected comma-separated numbers ({info})") from None
        names = [n.strip() for n in info.split(",")]
        if len(values) != len(names):
            raise ValueError(f"--camera-params: {model} takes {len(names)} values ({info}), "
                             f"got {len(values)}")
        for name, value in zip(names, values):
            if not math.isfinite(value):
                raise ValueError(f"--camera-params: {name} is {value}; every value must be a finite number")
            if name in ("f", "fx", "fy") and value <= 0:
                raise ValueError(f"--camera-params: the focal length {name} must be positive, got {value}")
            if name in ("cx", "cy") and value < 0:
                raise ValueError(f"--camera-params: the principal point {name} must lie in the image "
                                 f"(pixels from its top-left corner), got {value}")


def colmap_options_from_args(args) -> Dict[str, Any]:
    check_camera_options(args.camera_model, args.camera_params)
    image_options = {}
    if args.camera_model:
        image_options["camera_model"] = args.camera_model
    if args.camera_params:
        image_options["camera_params"] = args.camera_params
    if args.focal_factor:
        image_options["default_focal_length_factor"] = args.focal_factor
    mapper_options = cu.parse_option_args(args.mapper_option, pycolmap.IncrementalPipelineOptions())
    return dict(camera_mode=args.camera_mode, image_options=image_options,
                mapper_options=mapper_options, mapper_attempts=args.mapper_attempts, verbose=args.verbose)
