"""Extract local features of a folder of images into an hloc features file.

    relf-hloc extract --images DIR --output feats.h5 [--conf relf|relf-fast|sift|...]

Any extractor of the registry (``relf_hloc.features``) runs through this one step.
Image names in the file are paths relative to DIR, as in hloc. The file records the
extractor's settings (weights by content): a rerun with the same settings skips the images
already in it, so a stopped run resumes; other settings are an error (--overwrite recomputes).
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np
from tqdm import tqdm

from ..log import logger
from .. import io, retrieval, timing
from ..confs import MAX_PIXELS, runnable
from ..features import extractor_class, identity, load_extractor
from ..images import ImageError, image_size, list_images, read_image


def check_options(conf: dict) -> None:
    """Option ranges, before the model loads."""
    n = conf["model"].get("max_keypoints")
    if n is not None and (not isinstance(n, int) or n <= 0):
        raise ValueError(f"max_keypoints must be a positive integer, got {n!r}")
    pre = conf.get("preprocessing") or {}
    unknown = sorted(set(pre) - {"grayscale", "resize_max"})
    if unknown:
        raise ValueError(f"unknown preprocessing option(s) {unknown} (known: grayscale, resize_max)")
    size = pre.get("resize_max")
    if size is not None and (not isinstance(size, int) or size < 16):
        raise ValueError(f"preprocessing.resize_max must be an integer of at least 16 pixels, got {size!r}")
    if size and (conf["model"].get("detector") or {}).get("name") == "file":
        raise ValueError("preprocessing.resize_max cannot be used with keypoints from a file "
                         "(they are in the original image's pixels)")
    check_global(conf)


def check_global(conf: dict) -> None:
    """--global: a known aggregation that the extractor supports (the VLAD codebook is RELF's)."""
    aggregation = (conf.get("global") or {}).get("aggregation")
    if aggregation is not None:
        retrieval.settings(aggregation)
        offered = extractor_class(conf["model"]).global_aggregations
        if aggregation not in offered:
            raise ValueError(f"--global {aggregation}: not offered by {conf['model']['name']} (its codebook is "
                             f"learned on other descriptors); use --global {' or '.join(offered)}")


def with_global(conf: dict, aggregation: Optional[str]) -> dict:
    """The extractor conf that also writes a global descriptor per image (``aggregation``:
    one of ``retrieval.AGGREGATIONS``; None leaves the conf as it is)."""
    return conf if aggregation is None else {**conf, "global": {"aggregation": aggregation}}


def check_device(device: str) -> None:
    """'cpu', or 'cuda' where torch has a CUDA device; anything else is an error."""
    if device == "cuda":
        import torch  # only for this check: the OpenCV extractors run without torch
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device cuda: no CUDA device is available to torch {torch.__version__}; "
                               "use --device cpu")
    elif device != "cpu":
        raise ValueError(f"unknown device '{device}' (cpu or cuda)")


def check_detector(model_conf: dict, names: List[str]) -> None:
    """A detector reading keypoints from a file must find every image there."""
    detector = model_conf.get("detector") or {}
    if detector.get("name") == "file":
        path = Path(detector["path"])
        available = set(io.list_names(path))
        missing = [n for n in names if n not in available]
        if missing:
            raise KeyError(f"{path}: no keypoints for {len(missing)} image(s), e.g. '{missing[0]}'")


def check_shard(output: Path, shard, total: int, resumed: bool) -> None:
    """A shard file resumes only as the same shard of the same split; a new one records it."""
    recorded = io.read_shard_info(output)
    wanted = None if shard is None else {"index": shard[0], "count": shard[1], "total": total}
    if resumed and recorded != wanted:
        def say(info):
            return "the whole list" if info is None else f"shard {info['index']}/{info['count']} of {info['total']}"
        raise ValueError(f"{output}: holds {say(recorded)}, not {say(wanted)}; pass --overwrite or "
                         "choose another output file")
    if wanted is not None and not resumed:
        io.write_shard_info(output, shard, total)


def check_images(images: Path, names: List[str], skip_bad: bool, resize_max: Optional[int] = None) -> List[str]:
    """Every image checked before any slow work; bad ones are an error, or skipped and listed."""
    bad = {}
    for name in names:
        try:
            read_image(images / name)  # decoded once before any slow work, then again when extracted
            check_pixels(images / name, resize_max)
        except ImageError as e:
            if not skip_bad:
                raise
            bad[name] = str(e)
    for reason in bad.values():
        logger.warning(f"extract: skipping {reason}")
    return list(bad)


def check_pixels(path: Path, resize_max: Optional[int]) -> None:
    """An image the extractors would run out of memory on (``confs.MAX_PIXELS``: OpenCV SIFT's
    upsampled float pyramid takes about 230 bytes per pixel) is an error naming the fix, unless
    ``resize_max`` shrinks it."""
    w, h = image_size(path)
    scale = min(1.0, resize_max / max(w, h)) if resize_max else 1.0
    if w * h * scale ** 2 > MAX_PIXELS:
        raise ImageError(f"{path}: {w}x{h} ({w * h / 1e6:.0f} MP) is more than the {MAX_PIXELS / 1e6:.0f} MP "
                         "an image may have here; pass --resize-max (e.g. 4000) or downscale it")


def load(conf: dict, device: str):
    """The extractor of a conf, on ``device``."""
    backend = f" ({conf['model']['backend']} backend)" if conf["model"].get("backend") else ""
    logger.info(f"extract: loading {conf['model']['name']}{backend} on {device}")
    with timing.stage("load"):
        extractor = load_extractor(conf["model"])
        return extractor.to(device) if hasattr(extractor, "to") else extractor  # a torch module moves


def preprocess(image: np.ndarray, conf: Optional[dict]):
    """hloc's ``preprocessing`` of a conf: ``grayscale`` (gray copied to 3 channels) and
    ``resize_max`` (the longer side brought down to it). Returns (image, (sx, sy)): original
    pixels per processed pixel."""
    conf = conf or {}
    if conf.get("grayscale"):
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    h, w = image.shape[:2]
    size = conf.get("resize_max")
    if not size or max(h, w) <= size:
        return image, (1.0, 1.0)
    s = size / max(h, w)
    new_w, new_h = max(1, round(w * s)), max(1, round(h * s))
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA), (w / new_w, h / new_h)


def prefetched(extractor, images: Path, names: List[str], preprocessing: Optional[dict] = None, depth: int = 2):
    """(name, image, detected keypoints or {}, (original w, h), scale) of each image, decoded,
    preprocessed (and, for an extractor with its own ``detector``, detected) in a background
    thread up to ``depth`` images ahead, so that this work overlaps the network of the current
    image."""
    detector = getattr(extractor, "detector", None)
    detector = None if detector is None or detector.uses_maps else detector  # the learned head: in the pass

    def load(name):
        with timing.stage("decode"):
            original = read_image(images / name)
            image, scale = preprocess(original, preprocessing)
        with timing.stage("detect"):
            detected = detector({"image": image, "name": name}) if detector is not None else {}
        return name, image, detected, (original.shape[1], original.shape[0]), scale

    with ThreadPoolExecutor(1) as pool:
        queue = deque()
        for name in names:
            queue.append(pool.submit(load, name))
            if len(queue) > depth:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()


def extract_into(extractor, images: Path, names: List[str], output: Path, progress: bool = True,
                 preprocessing: Optional[dict] = None, global_conf: Optional[dict] = None) -> List[int]:
    """Extract ``names`` into ``output`` (each image written whole); keypoints per image.
    Keypoints are stored in the original image's pixels whatever the preprocessing.
    ``global_conf`` ({"aggregation": ...}): also a ``global_descriptor`` of the descriptors."""
    counts = []
    for name, image, detected, size, (sx, sy) in tqdm(
            prefetched(extractor, images, names, preprocessing), total=len(names),
            desc="extract", unit="img", disable=not progress):
        with timing.stage("features"):
            pred = extractor.extract(image, detected.get("keypoints"), detected.get("keypoint_scores"), name=name,
                                     **({"scales": detected["scales"]} if "scales" in detected else {}))
        if (sx, sy) != (1.0, 1.0):  # pixel centres at integers: x = (x' + 0.5) * sx - 0.5
            pred["keypoints"] = ((pred["keypoints"] + 0.5) * np.array([sx, sy]) - 0.5).astype(np.float32)
            if "scales" in pred:
                pred["scales"] = pred["scales"] * (sx + sy) / 2
        aggregated = pred.pop("aggregation_input", pred["descriptors"])  # RELF's aligned part (not written)
        feats = {**pred, "descriptors": pred["descriptors"].T, "image_size": np.array(size)}
        if global_conf:  # from the descriptors just computed (retrieval.py)
            feats[retrieval.DATASET] = retrieval.global_descriptor(aggregated, global_conf["aggregation"])
        io.write_features(output, name, feats, image_digest=io.image_digest(images / name))
        counts.append(len(pred["keypoints"]))
    return counts


def prepare(conf, images, output, names, device, overwrite, skip_bad_images, shard):
    """Every check before the model loads; returns (conf, names of the run, names to do, skipped)."""
    images, output = Path(images), Path(output)
    conf = runnable(conf, device)
    check_options(conf)
    check_device(device)
    names = list_images(images) if names is None else sorted(names)
    io.check_names(names, images)
    shard, total = io.parse_shard(shard), len(names)
    names = io.shard_slice(names, shard)
    check_detector(conf["model"], names)
    resumed = io.claim(output, settings(conf), overwrite)
    check_shard(output, shard, total, resumed)
    done = io.complete_names(output) if resumed else {}
    changed = [n for n in names if done.get(n) is not None and done[n] != io.image_digest(images / n)]
    if changed:
        logger.warning(f"extract: {len(changed)} image(s) changed since their features were written "
                       f"(e.g. '{changed[0]}'): extracting them again")
    todo = [n for n in names if n not in done or n in changed]
    skipped = check_images(images, todo, skip_bad_images, (conf.get("preprocessing") or {}).get("resize_max"))
    return conf, names, [n for n in todo if n not in skipped], skipped


def settings(conf: dict) -> dict:
    """The provenance of a features file made with this conf (preprocessing when it does anything)."""
    pre = {k: v for k, v in (conf.get("preprocessing") or {}).items() if v}
    glob = conf.get("global") and {"global": retrieval.settings(conf["global"]["aggregation"])}
    return {"kind": "features", "extractor": identity(conf["model"]), **({"preprocessing": pre} if pre else {}),
            **(glob or {})}


def summary(output, names, todo, skipped, counts, seconds) -> str:
    """The one-line summary of an extraction."""
    mean_kpts = f"{np.mean(counts):.0f}" if counts else "-"
    return (f"extract: {len(todo)} image(s) done, {len(names) - len(todo) - len(skipped)} already in {output}, "
            + (f"{len(skipped)} skipped ({', '.join(skipped)}), " if skipped else "")
            + f"{mean_kpts} keypoints/image, {seconds:.1f} s")


def main(conf, images, output, names: Optional[List[str]] = None, device: str = "cpu",
         overwrite: bool = False, skip_bad_images: bool = False, shard=None,
         progress: bool = True) -> Path:
    """Extract features of ``names`` (default: every image under ``images``) with the
    extractor conf ``conf`` (a name of ``relf_hloc.confs`` or a dict); returns ``output``.

    Everything is checked before the model loads: options, device, image names, every image
    (``skip_bad_images``: bad ones are listed and left out), and the output: a file made with
    other settings is an error (``overwrite`` recomputes it). ``shard`` 'K/N': only the K-th
    of N contiguous slices of the sorted names, into its own file (``relf-hloc merge``)."""
    images, output = Path(images), Path(output)
    with io.writing(output):
        conf, names, todo, skipped = prepare(conf, images, output, names, device, overwrite, skip_bad_images, shard)
        start = time.time()
        counts = extract_into(load(conf, device), images, todo, output, progress,
                              conf.get("preprocessing"), conf.get("global")) if todo else []
    logger.info(summary(output, names, todo, skipped, counts, time.time() - start))
    return output
