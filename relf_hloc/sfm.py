"""The main job: images -> features -> pairs -> matches -> COLMAP model + report.

    relf-hloc sfm --images DIR --outputs DIR [--conf relf|relf-fast|sift|...] [--matcher relf-nn|nn-ratio]
        [--random-weights] [--pairs exhaustive|sequential|retrieval [--num-matched 10]]

Writes into ``outputs``: ``feats-<tag>.h5``, ``pairs-<mode>.txt``,
``matches-<tag>-<matcher>-<mode>.h5`` (the tag names the extractor settings, weights
included, so later runs with the same settings resume them), ``sfm/`` (COLMAP database
and the largest model, swapped in only when complete) and ``report.json`` (registered
images, points, track length, reprojection error, seconds per step). A run that
registers nothing writes ``report.json`` with ``"status": "failed"`` and exits non-zero,
with no ``sfm/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .confs import EXTRACTORS, MATCHERS, default_matcher, extractor_conf, get_conf, with_options
from .features import features_tag
from .images import image_size, list_images
from .io import read_json, read_pairs, write_json
from .pipeline import colmap as cu
from .pipeline import distributed, extract, match, pairs as pairs_step, reconstruction


def main(conf, images, outputs, matcher=None, pairs: str = "exhaustive", window: int = 5,
         num_matched: int = 10,
         names: Optional[Sequence[str]] = None, camera_mode: str = "AUTO",
         image_options: Optional[Dict[str, Any]] = None,
         mapper_options: Optional[Dict[str, Any]] = None, cameras: Optional[Dict[str, Any]] = None,
         mapper_attempts: int = 4,
         device: str = "cpu", overwrite: bool = False, verbose: bool = False,
         ray: Optional[str] = None, workers: int = 2) -> Path:
    """Run extract -> pairs -> match -> reconstruction; returns the report path.

    Args:
        conf: extractor conf (a name of ``relf_hloc.confs`` such as 'relf-fast' or 'sift',
            or a dict).
        images: folder of images (names relative to it, as in hloc).
        outputs: output folder (created).
        matcher: matcher conf (default: the extractor's for SfM, ``confs.default_matcher``).
        pairs: 'exhaustive', 'sequential' (``window`` following images) or 'retrieval' (each image
            with its ``num_matched`` most similar by global descriptor, extracted in the same pass).
        names: subset of images (default: all in ``images``).
        camera_mode, image_options, mapper_options, cameras, mapper_attempts, verbose: see
            reconstruction.main.
        overwrite: recompute features and matches instead of resuming.
        ray, workers: extract and match on Ray actors ('' = a local instance, 'auto' or
            'ray://...' = a cluster; ``relf_hloc.pipeline.distributed``).
    Raises:
        RuntimeError when nothing registers (report.json then says "failed").
    """
    image_dir, outputs = Path(images), Path(outputs)
    conf = get_conf(conf)
    matcher = get_conf(matcher or default_matcher(conf, "sfm"))
    conf = with_retrieval(conf, pairs, num_matched)
    names = list(names) if names is not None else list_images(image_dir)
    inside = outputs.resolve().relative_to(image_dir.resolve()).as_posix() + "/" \
        if outputs.resolve().is_relative_to(image_dir.resolve()) else None
    if inside:  # outputs inside the images folder: never take the tool's own files for photos
        names = [n for n in names if not n.startswith(inside)]
    if len(names) < 2:
        raise ValueError(f"{image_dir}: SfM needs at least 2 images, found {len(names)}")
    cu.check_readable(image_dir, names)
    if camera_mode == "SINGLE" and not cameras:  # one camera must fit every image
        sizes = {}
        for name in names:
            sizes.setdefault(image_size(image_dir / name), name)
        if len(sizes) > 1:
            (s0, n0), (s1, n1) = list(sizes.items())[:2]
            raise ValueError(f"{image_dir}: --camera-mode SINGLE needs images of one size, but '{n0}' is "
                             f"{s0[0]}x{s0[1]} and '{n1}' {s1[0]}x{s1[1]}; use AUTO or PER_IMAGE")
    outputs.mkdir(parents=True, exist_ok=True)
    report_path = outputs / "report.json"
    report_path.unlink(missing_ok=True)  # never leave a previous run's report beside a new failure

    tag = features_tag(conf)
    glob = f"-global-{conf['global']['aggregation']}" if conf.get("global") else ""
    feats_path = outputs / f"feats-{tag}{glob}.h5"
    pairs_path = outputs / f"pairs-{pairs}.txt"
    matches_path = outputs / f"{matcher['output']}-{tag}-{pairs}.h5"
    report: Dict[str, Any] = {
        "images": str(image_dir), "num_images": len(names),
        "features": {"conf": conf["model"], "file": feats_path.name},
        "pairs": {"mode": pairs, "window": window if pairs == "sequential" else None,
                  **({"num_matched": num_matched} if pairs == "retrieval" else {}), "file": pairs_path.name},
        "matches": {"conf": matcher["model"], "file": matches_path.name},
        "camera_mode": "PER_IMAGE (given cameras)" if cameras else camera_mode,
        "mapper_options": mapper_options or {}, "seconds": {}}
    seconds = report["seconds"]
    start = time.time()

    def timed(step, fn, *args, **kwargs):
        t0 = time.time()
        out = fn(*args, **kwargs)
        seconds[step] = round(time.time() - t0, 2)
        return out

    if ray is None:
        timed("extract", extract.main, conf, image_dir, feats_path, names=names, device=device,
              overwrite=overwrite)
    else:
        timed("extract", extract.main_ray, conf, image_dir, feats_path, ray or None, workers,
              device=device, overwrite=overwrite, names=names)
    timed("pairs", pairs_step.main, pairs_path, mode=pairs, window=window, names=names, features=feats_path,
          num_matched=num_matched)
    report["pairs"]["count"] = len(read_pairs(pairs_path))
    if ray is None:
        timed("match", match.main, with_options(matcher, device=device), pairs_path, feats_path, matches_path,
              overwrite=overwrite)
    else:
        timed("match", match.main_ray, matcher, pairs_path, feats_path, matches_path, ray or None, workers,
              overwrite=overwrite)
    try:
        rec = timed("reconstruction", reconstruction.main, outputs / "sfm", image_dir, pairs_path,
                    feats_path, matches_path, camera_mode=camera_mode,
                    image_options=image_options, mapper_options=mapper_options,
                    image_list=names, cameras=cameras, mapper_attempts=mapper_attempts, verbose=verbose)
    except RuntimeError as e:
        seconds["total"] = round(time.time() - start, 2)
        write_json(report_path, {**report, "status": "failed", "error": str(e),
                                 "registered": 0, "total": len(names)})
        raise
    seconds["total"] = round(time.time() - start, 2)
    report.update(status="ok", model="sfm", **cu.model_summary(rec, len(names)),
                  mapping=read_json(outputs / "sfm" / "mapping.json"))
    write_json(report_path, report)
    return report_path


def with_retrieval(conf: dict, pairs: str, num_matched: int) -> dict:
    """Retrieval pairs: the extractor conf also writes global descriptors (VLAD, whose codebook
    is RELF's; GeM for the other extractors)."""
    if pairs != "retrieval":
        return conf
    if num_matched < 1:
        raise ValueError(f"--num-matched must be at least 1, got {num_matched}")
    if conf.get("global"):
        return conf
    return extract.with_global(conf, "vlad" if conf["model"]["name"] == "relf" else "gem")


def format_summary(report: Dict[str, Any]) -> str:
    model = report["features"]["conf"]
    label = model["name"] + (", RANDOM weights" if model.get("random_weights") else "")
    return (f"sfm ({label}): registered {report['registered']}/{report['total']} images, "
            f"{report['points']} points, track length {report['mean_track_length']:.2f}, "
            f"reprojection {report['mean_reprojection_error_px']:.3f} px, "
            f"{report['seconds']['total']:.1f} s" + format_mapping(report.get("mapping")))


def format_mapping(mapping: Optional[Dict[str, Any]]) -> str:
    """What the mapper did beyond one plain run: attempts, models, images left out and why."""
    if not mapping or (len(mapping["attempts"]) == 1 and not mapping["left_out"]):
        return ""
    lines = [f"\nmapping: {len(mapping['attempts'])} attempt(s), kept #{mapping['chosen'] + 1} "
             f"({mapping['attempts'][mapping['chosen']]['attempt']}, {mapping['num_models']} model(s))"]
    if mapping["left_out"]:
        lines.append(f"WARNING: {len(mapping['left_out'])} image(s) left out of the model:")
        lines += [f"  {name}: {cause}" for name, cause in mapping["left_out_causes"].items()]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, required=True, help="image folder")
    parser.add_argument("--outputs", type=Path, required=True, help="output folder")
    parser.add_argument("--conf", default="relf",
                        help=f"extractor conf ({', '.join(EXTRACTORS)}) or a .yaml file (default: relf)")
    parser.add_argument("--matcher", default=None,
                        help=f"matcher conf ({', '.join(MATCHERS)}; default: relf-ratio for RELF, "
                             "nn-ratio for the OpenCV methods)")
    parser.add_argument("--max-keypoints", type=int, help="keypoints per image (default: the conf's)")
    parser.add_argument("--weights", type=Path, help="RELF checkpoint (default: shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF with an untrained network (labelled as such in report.json)")
    parser.add_argument("--pairs", default="exhaustive", choices=["exhaustive", "sequential", "retrieval"],
                        help="retrieval: each image with its --num-matched most similar by a rotation-invariant "
                        "global descriptor (default: exhaustive)")
    parser.add_argument("--num-matched", type=int, default=10, help="retrieval pairs: images per image (default: 10)")
    parser.add_argument("--window", type=int, default=5, help="sequential pairs: images after each (default: 5)")
    parser.add_argument("--ratio", type=float, help="matching ratio test (default: the matcher conf's)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    parser.add_argument("--backend", choices=["torch", "onnxruntime", "onnxruntime-int8"],
                        help="RELF's network runtime (default: torch)")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute features and matches instead of resuming")
    distributed.add_arguments(parser, "extract and match")
    reconstruction.add_colmap_arguments(parser)


def run(args) -> int:
    conf = extractor_conf(args.conf, args.max_keypoints, args.weights, args.random_weights, backend=args.backend)
    matcher = with_options(args.matcher or default_matcher(conf, "sfm"), ratio_threshold=args.ratio)
    report_path = main(conf, args.images, args.outputs, matcher, args.pairs, args.window, args.num_matched,
                       device=args.device, overwrite=args.overwrite, ray=args.ray, workers=args.workers,
                       **reconstruction.colmap_options_from_args(args))
    report = read_json(report_path)
    print(format_summary(report))
    print(f"model: {args.outputs / 'sfm'}  report: {report_path}")
    return 0
