"""The main job: images -> features -> pairs -> matches -> COLMAP model + report.

    relf-hloc sfm --images DIR --outputs DIR [--conf relf|relf-fast|sift|...] [--matcher relf-nn|nn-ratio]
        [--random-weights] [--pairs exhaustive|sequential]

Writes into ``outputs``: ``feats-<tag>.h5``, ``pairs-<mode>.txt``,
``matches-<tag>-<matcher>-<mode>.h5`` (the tag names the extractor settings, weights
included, so later runs with the same settings resume them), ``sfm/`` (COLMAP database
and the largest model, swapped in only when complete) and ``report.json`` (registered
images, points, track length, reprojection error, seconds per step). A run that
registers nothing writes ``report.json`` with ``"status": "failed"`` and exits non-zero,
with no ``sfm/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from .confs import default_matcher, get_conf, with_options
from .features import features_tag
from .images import image_size, list_images
from .io import read_json, read_pairs, write_json
from .pipeline import colmap as cu
from .pipeline import distributed, extract, match, reconstruction
from .pipeline import pairs as pairs_step


def main(conf, images, outputs, matcher=None, pairs: str = "exhaustive", window: int = 5,
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
        pairs: 'exhaustive' or 'sequential' (``window`` following images).
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
    feats_path = outputs / f"feats-{tag}.h5"
    pairs_path = outputs / f"pairs-{pairs}.txt"
    matches_path = outputs / f"{matcher['output']}-{tag}-{pairs}.h5"
    report: Dict[str, Any] = {
        "images": str(image_dir), "num_images": len(names),
        "features": {"conf": conf["model"], "file": feats_path.name},
        "pairs": {"mode": pairs, "window": window if pairs == "sequential" else None,
                  "file": pairs_path.name},
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
        timed("extract", distributed.extract_ray, conf, image_dir, feats_path, ray or None, workers,
              device=device, overwrite=overwrite, names=names)
    timed("pairs", pairs_step.main, pairs_path, mode=pairs, window=window, names=names)
    report["pairs"]["count"] = len(read_pairs(pairs_path))
    if ray is None:
        timed("match", match.main, with_options(matcher, device=device), pairs_path, feats_path, matches_path,
              overwrite=overwrite)
    else:
        timed("match", distributed.match_ray, matcher, pairs_path, feats_path, matches_path, ray or None, workers,
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


def attempt(conf, images, outputs, **options) -> Tuple[Dict[str, Any], Optional[str]]:
    """``main`` where a reconstruction that verifies or registers nothing is a result, not a
    crash (benchmarks, the demo): (the report, the failure's message or None). Every other
    error is raised."""
    try:
        return read_json(main(conf, images, outputs, **options)), None
    except RuntimeError as e:
        if not (Path(outputs) / "report.json").is_file():
            raise  # main writes its report on a failed reconstruction only
        return read_json(Path(outputs) / "report.json"), str(e)


def format_summary(report: Dict[str, Any]) -> str:
    """The summary lines of an sfm report."""
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
