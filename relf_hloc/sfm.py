"""The main job: images -> features -> pairs -> matches -> COLMAP model + report.

    relf-hloc sfm --images DIR --outputs DIR [--features relf|sift|rootsift|orb|akaze]
        [--conf relf-fast] [--random-weights] [--pairs exhaustive|sequential]

Writes into ``outputs``: ``feats-<tag>.h5``, ``pairs-<mode>.txt``,
``matches-<tag>-<mode>.h5`` (kept and resumed by later runs with the same
settings), ``sfm/`` (COLMAP database and the largest model, swapped in only
when complete) and ``report.json`` (registered images, points, track length,
reprojection error, seconds per step). A run that registers nothing writes
``report.json`` with ``"status": "failed"`` and exits non-zero, with no ``sfm/``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import colmap_utils as cu
from .images import list_images
from .io import read_pairs

BASELINES = ("sift", "rootsift", "orb", "akaze")  # relf_hloc.benchmarks.baselines.METHODS


def features_tag(features: str, conf: Optional[str], max_keypoints: Optional[int],
                 random_weights: bool, weights: Optional[Path] = None) -> str:
    """File-name tag of the feature settings, so different settings (weights included: see
    ``weights_tag``) never share a file."""
    if features == "relf":
        from .model.relf import weights_tag
        tag = Path(str(conf)).stem if conf else "relf"
        tag = tag if tag.startswith("relf") else f"relf-{tag}"
        tag += "-" + weights_tag(weights, random_weights)
    else:
        tag = features
    return tag + (f"-n{max_keypoints}" if max_keypoints else "")


def extract_features(features: str, image_dir: Path, output: Path, names: Sequence[str],
                     conf: Optional[str] = None, max_keypoints: Optional[int] = None,
                     random_weights: bool = False, weights: Optional[Path] = None,
                     device: str = "cpu", overwrite: bool = False) -> Path:
    """RELF (relf_hloc.extract) or an OpenCV baseline (relf_hloc.benchmarks.baselines)."""
    if features == "relf":
        from . import extract
        return extract.main(image_dir, output, conf or "relf", max_keypoints=max_keypoints,
                            device=device, overwrite=overwrite, random_weights=random_weights,
                            names=list(names), weights=weights)
    if features in BASELINES:
        from .benchmarks import baselines
        return baselines.main(image_dir, output, features, max_keypoints, names=list(names),
                              overwrite=overwrite)
    raise ValueError(f"unknown features '{features}'; choose relf or one of {BASELINES}")


def write_json(path: Path, data: Dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def main(image_dir: Path, outputs: Path, features: str = "relf", conf: Optional[str] = None,
         max_keypoints: Optional[int] = None, random_weights: bool = False,
         weights: Optional[Path] = None, pairs: str = "exhaustive", window: int = 5,
         names: Optional[Sequence[str]] = None, ratio: Optional[float] = None,
         camera_mode: str = "AUTO", image_options: Optional[Dict[str, Any]] = None,
         mapper_options: Optional[Dict[str, Any]] = None, cameras: Optional[Dict[str, Any]] = None,
         device: str = "cpu",
         overwrite: bool = False, verbose: bool = False) -> Path:
    """Run extract -> pairs -> match -> reconstruction; returns the report path.

    Args:
        image_dir: folder of images (names relative to it, as in hloc).
        outputs: output folder (created).
        features: 'relf' or an OpenCV baseline ('sift', 'rootsift', 'orb', 'akaze').
        conf: RELF conf name or .yaml (``relf_hloc.confs``); default 'relf'.
        max_keypoints: keypoints per image (default: the conf's / all for baselines).
        random_weights: RELF with an untrained network (labelled in the report).
        weights: RELF checkpoint (default: the shipped weights).
        pairs: 'exhaustive' or 'sequential' (``window`` following images).
        names: subset of images (default: all in image_dir).
        ratio: ratio test for matching (default: none, RELF's protocol).
        camera_mode, image_options, mapper_options, cameras, verbose: see reconstruction.main.
        overwrite: recompute features and matches instead of resuming.
    Raises:
        RuntimeError when nothing registers (report.json then says "failed").
    """
    from . import match, pairs as pairs_step, reconstruction

    image_dir, outputs = Path(image_dir), Path(outputs)
    names = list(names) if names is not None else list_images(image_dir)
    if len(names) < 2:
        raise ValueError(f"{image_dir}: SfM needs at least 2 images, found {len(names)}")
    outputs.mkdir(parents=True, exist_ok=True)
    report_path = outputs / "report.json"
    report_path.unlink(missing_ok=True)  # never leave a previous run's report beside a new failure

    tag = features_tag(features, conf, max_keypoints, random_weights, weights)
    feats_path = outputs / f"feats-{tag}.h5"
    pairs_path = outputs / f"pairs-{pairs}.txt"
    matches_path = outputs / f"matches-{tag}-{pairs}.h5"
    report: Dict[str, Any] = {
        "images": str(image_dir), "num_images": len(names),
        "features": {"method": features, "conf": (conf or "relf") if features == "relf" else None,
                     "max_keypoints": max_keypoints,
                     "random_weights": bool(random_weights) if features == "relf" else None,
                     "weights": str(weights) if weights and features == "relf" else None,
                     "file": feats_path.name},
        "pairs": {"mode": pairs, "window": window if pairs == "sequential" else None,
                  "file": pairs_path.name},
        "matches": {"ratio": ratio, "file": matches_path.name},
        "camera_mode": "PER_IMAGE (given cameras)" if cameras else camera_mode,
        "mapper_options": mapper_options or {}, "seconds": {}}
    seconds = report["seconds"]
    start = time.time()

    def timed(step, fn, *args, **kwargs):
        t0 = time.time()
        out = fn(*args, **kwargs)
        seconds[step] = round(time.time() - t0, 2)
        return out

    timed("extract", extract_features, features, image_dir, feats_path, names, conf,
          max_keypoints, random_weights, weights, device, overwrite)
    timed("pairs", pairs_step.main, pairs_path, mode=pairs, window=window, names=names)
    report["pairs"]["count"] = len(read_pairs(pairs_path))
    timed("match", match.main, pairs_path, feats_path, matches_path, ratio=ratio,
          overwrite=overwrite, device=device)
    try:
        rec = timed("reconstruction", reconstruction.main, outputs / "sfm", image_dir, pairs_path,
                    feats_path, matches_path, camera_mode=camera_mode,
                    image_options=image_options, mapper_options=mapper_options,
                    image_list=names, cameras=cameras, verbose=verbose)
    except RuntimeError as e:
        seconds["total"] = round(time.time() - start, 2)
        write_json(report_path, {**report, "status": "failed", "error": str(e),
                                 "registered": 0, "total": len(names)})
        raise
    seconds["total"] = round(time.time() - start, 2)
    report.update(status="ok", model="sfm", **cu.model_summary(rec, len(names)))
    write_json(report_path, report)
    return report_path


def format_summary(report: Dict[str, Any]) -> str:
    f = report["features"]
    label = f["method"] + (f" ({f['conf']}{', RANDOM weights' if f['random_weights'] else ''})"
                           if f["method"] == "relf" else "")
    return (f"sfm {label}: registered {report['registered']}/{report['total']} images, "
            f"{report['points']} points, track length {report['mean_track_length']:.2f}, "
            f"reprojection {report['mean_reprojection_error_px']:.3f} px, "
            f"{report['seconds']['total']:.1f} s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .reconstruction import add_colmap_arguments

    parser.add_argument("--images", type=Path, required=True, help="image folder")
    parser.add_argument("--outputs", type=Path, required=True, help="output folder")
    parser.add_argument("--features", default="relf", choices=("relf",) + BASELINES,
                        help="RELF, or an OpenCV baseline for comparison")
    parser.add_argument("--conf", help="RELF conf name (relf, relf-fast, relf-multi, ...) or .yaml")
    parser.add_argument("--max-keypoints", type=int)
    parser.add_argument("--weights", type=Path, help="RELF checkpoint (default: shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF with an untrained network (labelled as such in report.json)")
    parser.add_argument("--pairs", default="exhaustive", choices=["exhaustive", "sequential"])
    parser.add_argument("--window", type=int, default=5, help="sequential pairs: images after each")
    parser.add_argument("--ratio", type=float, help="matching ratio test (default: none)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute features and matches instead of resuming")
    add_colmap_arguments(parser)


def run(args) -> int:
    from .reconstruction import colmap_options_from_args

    report_path = main(args.images, args.outputs, args.features, args.conf, args.max_keypoints,
                       args.random_weights, args.weights, args.pairs, args.window,
                       ratio=args.ratio, device=args.device, overwrite=args.overwrite,
                       **colmap_options_from_args(args))
    report = json.loads(report_path.read_text())
    print(format_summary(report))
    print(f"model: {args.outputs / 'sfm'}  report: {report_path}")
    return 0
