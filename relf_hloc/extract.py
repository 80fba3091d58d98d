"""Extract RELF features of a folder of images into an hloc features file.

    relf-hloc extract --images DIR --output feats.h5 [--conf relf-fast]

Image names in the file are paths relative to DIR, as in hloc. Images already
in the file are skipped (unless --overwrite), so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
from tqdm import tqdm

from . import io
from .confs import get_conf
from .images import list_images, read_image
from .keypoints import read_keypoints


def prepare_output(output: Path, overwrite: bool) -> List[str]:
    """Names already done in ``output``; an unreadable file is an error unless overwrite."""
    if not output.exists():
        return []
    try:
        done = io.list_names(output)
    except io.FormatError:
        if not overwrite:
            raise
        output.unlink()
        return []
    return [] if overwrite else done


def main(images_dir, output, conf=None, max_keypoints: Optional[int] = None,
         keypoints_from=None, device: str = "cpu", overwrite: bool = False,
         random_weights: bool = False, names: Optional[List[str]] = None,
         weights=None, progress: bool = True) -> Path:
    """Extract features of ``names`` (default: every image under images_dir)."""
    from .model.relf import RELF

    images_dir, output = Path(images_dir), Path(output)
    conf = get_conf(conf)
    model_conf = {k: v for k, v in conf["model"].items() if k != "name"}
    model_conf.update(device=device, random_weights=random_weights)
    if max_keypoints is not None:
        model_conf["max_keypoints"] = max_keypoints
    if weights is not None:
        model_conf["weights"] = weights
    names = list_images(images_dir) if names is None else list(names)
    if keypoints_from is not None:
        keypoints_from = Path(keypoints_from)
        available = set(io.list_names(keypoints_from))
        missing = [n for n in names if n not in available]
        if missing:
            raise KeyError(f"{keypoints_from}: no keypoints for {len(missing)} image(s), "
                           f"e.g. '{missing[0]}'")
    done = set(prepare_output(output, overwrite))
    todo = [n for n in names if n not in done]
    start, counts = time.time(), []
    if todo:
        relf = RELF(model_conf)
        for name in tqdm(todo, desc="extract", unit="img", disable=not progress):
            image = read_image(images_dir / name)
            kpts = scores = None
            if keypoints_from is not None:
                kpts, scores = read_keypoints(keypoints_from, name)
            pred = relf.extract(image, kpts, scores)
            feats = {"keypoints": pred["keypoints"], "descriptors": pred["descriptors"].T,
                     "scores": pred["scores"], "orientations": pred["orientations"],
                     "image_size": np.array([image.shape[1], image.shape[0]])}
            if "keypoint_index" in pred:
                feats["keypoint_index"] = pred["keypoint_index"]
            io.write_features(output, name, feats)
            counts.append(len(pred["keypoints"]))
    seconds = time.time() - start
    mean_kpts = f"{np.mean(counts):.0f}" if counts else "-"
    print(f"extract: {len(todo)} image(s) done, {len(names) - len(todo)} already in {output}, "
          f"{mean_kpts} keypoints/image, {seconds:.1f} s")
    return output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, type=Path, help="image folder")
    parser.add_argument("--output", required=True, type=Path, help="features file (.h5)")
    parser.add_argument("--conf", default="relf", help="named conf (relf, relf-fast, "
                        "relf-single, relf-multi, relf-fast-multi) or a .yaml file")
    parser.add_argument("--max-keypoints", type=int)
    parser.add_argument("--keypoints-from", type=Path,
                        help="describe the keypoints of this hloc features file instead of detecting")
    parser.add_argument("--weights", type=Path, help="checkpoint (default: the shipped weights)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--overwrite", action="store_true", help="recompute images already in the file")
    parser.add_argument("--random-weights", action="store_true",
                        help="untrained network (tests only; prints a warning)")


def run(args) -> int:
    main(args.images, args.output, args.conf, args.max_keypoints, args.keypoints_from,
         args.device, args.overwrite, args.random_weights, weights=args.weights)
    return 0
