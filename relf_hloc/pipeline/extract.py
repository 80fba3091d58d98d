"""Extract local features of a folder of images into an hloc features file.

    relf-hloc extract --images DIR --output feats.h5 [--conf relf|relf-fast|sift|...]

Any extractor of the registry (``relf_hloc.features``) runs through this one step.
Image names in the file are paths relative to DIR, as in hloc. Images already in the
file are skipped (unless --overwrite), so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
from tqdm import tqdm

from .. import io
from ..confs import EXTRACTORS, extractor_conf, get_conf
from ..features import load_extractor
from ..images import list_images, read_image


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


def check_detector(model_conf: dict, names: List[str]) -> None:
    """Before any work: a detector reading keypoints from a file must find every image there."""
    detector = model_conf.get("detector") or {}
    if detector.get("name") == "file":
        path = Path(detector["path"])
        available = set(io.list_names(path))
        missing = [n for n in names if n not in available]
        if missing:
            raise KeyError(f"{path}: no keypoints for {len(missing)} image(s), e.g. '{missing[0]}'")


def main(conf, images, output, names: Optional[List[str]] = None, device: str = "cpu",
         overwrite: bool = False, progress: bool = True) -> Path:
    """Extract features of ``names`` (default: every image under ``images``) with the
    extractor conf ``conf`` (a name of ``relf_hloc.confs`` or a dict); returns ``output``."""
    images, output = Path(images), Path(output)
    conf = get_conf(conf)
    names = list_images(images) if names is None else list(names)
    check_detector(conf["model"], names)
    done = set(prepare_output(output, overwrite))
    todo = [n for n in names if n not in done]
    start, counts = time.time(), []
    if todo:
        extractor = load_extractor(conf["model"])
        if hasattr(extractor, "to"):  # a torch module
            extractor = extractor.to(device)
        for name in tqdm(todo, desc="extract", unit="img", disable=not progress):
            image = read_image(images / name)
            pred = extractor.extract(image, name=name)
            feats = {**pred, "descriptors": pred["descriptors"].T,
                     "image_size": np.array([image.shape[1], image.shape[0]])}
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
    parser.add_argument("--conf", default="relf",
                        help=f"named conf ({', '.join(EXTRACTORS)}) or a .yaml file (default: relf)")
    parser.add_argument("--max-keypoints", type=int, help="keypoints per image (default: the conf's)")
    parser.add_argument("--keypoints-from", type=Path,
                        help="RELF: describe the keypoints of this hloc features file instead of detecting")
    parser.add_argument("--weights", type=Path, help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    parser.add_argument("--overwrite", action="store_true", help="recompute images already in the file")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF: untrained network (tests only; prints a warning)")


def run(args) -> int:
    conf = extractor_conf(args.conf, args.max_keypoints, args.weights, args.random_weights,
                          args.keypoints_from)
    main(conf, args.images, args.output, device=args.device, overwrite=args.overwrite)
    return 0
