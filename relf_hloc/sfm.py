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

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import timing
from .confs import default_matcher, get_conf, resolve_conf, runnable, with_options
from .features import extractor_class, features_tag
from .images import image_size, list_images
from .io import read_json, read_pairs, write_json
from .steps import colmap as cu
from .steps import distributed, extract, match, reconstruction
from .steps import pairs as pairs_step


default_conf = {
    "matcher": None,  # matcher conf, a name or a dict (None: the extractor's for SfM, confs.default_matcher)
    "pairs": "exhaustive",  # exhaustive; sequential: `window` images after each; retrieval: each image
    "window": 5,  # with its `num_matched` most similar by global descriptor (extracted in the same pass)
    "num_matched": 10,
    # reconstruction.main's options
    "camera_mode": "AUTO", "image_options": None, "mapper_options": None, "mapper_attempts": 4, "verbose": False,
    # how extract and match run: Ray actors with ``ray`` ('' = a local instance, 'auto' or 'ray://...' = a
    # cluster; relf_hloc.steps.distributed); overwrite: recompute features and matches instead of resuming
    "device": "cpu", "overwrite": False, "ray": None, "workers": 2,
}


def main(conf, images, outputs, options: Optional[dict] = None, names: Optional[Sequence[str]] = None,
         cameras: Optional[Dict[str, Any]] = None) -> Path:
    """Run extract -> pairs -> match -> reconstruction; returns the report path.

    Args:
        conf: extractor conf (a name of ``relf_hloc.confs`` such as 'relf-fast' or 'sift',
            or a dict).
        images: folder of images (names relative to it, as in hloc).
        outputs: output folder (created).
        options: the run's options, merged into ``default_conf`` (an unknown key is an error).
        names: subset of images (default: all in ``images``).
        cameras: known cameras per image name (see reconstruction.main).
    Raises RuntimeError when nothing registers (report.json then says "failed").
    """
    opts = resolve_conf(default_conf, options, "sfm")
    image_dir, outputs, pairs = Path(images), Path(outputs), opts["pairs"]
    matcher = get_conf(opts["matcher"] or default_matcher(conf, "sfm"))
    conf = with_global_descriptors(runnable(conf, opts["device"]), pairs, opts["num_matched"])
    names = images_of(image_dir, outputs, names, opts["camera_mode"], cameras)
    outputs.mkdir(parents=True, exist_ok=True)
    report_path = outputs / "report.json"
    report_path.unlink(missing_ok=True)  # never leave a previous run's report beside a new failure

    files = output_files(outputs, conf, matcher, pairs)
    feats_path, pairs_path, matches_path = files["features"], files["pairs"], files["matches"]
    report: Dict[str, Any] = {
        "images": str(image_dir), "num_images": len(names), "features": {"conf": conf["model"]},
        "pairs": {"mode": pairs, "window": opts["window"] if pairs == "sequential" else None,
                  **({"num_matched": opts["num_matched"]} if pairs == "retrieval" else {})},
        "matches": {"conf": matcher["model"]},
        "camera_mode": "PER_IMAGE (given cameras)" if cameras else opts["camera_mode"],
        "mapper_options": opts["mapper_options"] or {}, "seconds": {}}
    for key, path in files.items():
        report[key]["file"] = path.name
    seconds, start = report["seconds"], time.time()
    timing.take()  # the time budget counts this run only

    engine = {k: opts[k] for k in ("ray", "workers", "device", "overwrite")}
    timing.timed(seconds, "extract", extract_step, conf, image_dir, feats_path, names, **engine)
    timing.timed(seconds, "pairs", pairs_step.main, pairs_path, mode=pairs, window=opts["window"], names=names,
          features=feats_path, num_matched=opts["num_matched"])
    report["pairs"]["count"] = len(read_pairs(pairs_path))
    timing.timed(seconds, "match", match_step, matcher, pairs_path, feats_path, matches_path, **engine)
    colmap = {k: opts[k] for k in ("camera_mode", "image_options", "mapper_options", "mapper_attempts", "verbose")}
    return reconstruct(report, report_path, start, image_dir, outputs, names, files, cameras=cameras, **colmap)


def reconstruct(report: Dict[str, Any], report_path: Path, start: float, image_dir: Path, outputs: Path,
                names: List[str], files: Dict[str, Path], **colmap) -> Path:
    """The reconstruction step of ``main`` and its report (written as "failed", then raised, when
    nothing registers); returns the report path."""
    t0 = time.time()
    try:
        rec = reconstruction.main(outputs / "sfm", image_dir, files["pairs"], files["features"], files["matches"],
                                  image_list=names, **colmap)
    except RuntimeError as e:
        report["seconds"].update(reconstruction=round(time.time() - t0, 2), total=round(time.time() - start, 2))
        write_json(report_path, {**report, "time_budget": time_budget(report, len(names)), "status": "failed",
                                 "error": str(e), "registered": 0, "total": len(names)})
        raise
    report["seconds"].update(reconstruction=round(time.time() - t0, 2), total=round(time.time() - start, 2))
    report["time_budget"] = time_budget(report, len(names))
    report.update(status="ok", model="sfm", **cu.model_summary(rec, len(names)),
                  mapping=read_json(outputs / "sfm" / "mapping.json"))
    write_json(report_path, report)
    return report_path


def output_files(outputs: Path, conf: dict, matcher: dict, pairs: str) -> Dict[str, Path]:
    """{features, pairs, matches}: the files of a run, named by the settings that make them (a
    later run with the same settings resumes them)."""
    tag = features_tag(conf)
    glob = f"-global-{conf['global']['aggregation']}" if conf.get("global") else ""
    return {"features": outputs / f"feats-{tag}{glob}.h5", "pairs": outputs / f"pairs-{pairs}.txt",
            "matches": outputs / f"{matcher['output']}-{tag}-{pairs}.h5"}


def images_of(image_dir: Path, outputs: Path, names: Optional[Sequence[str]], camera_mode: str,
              cameras) -> List[str]:
    """The images of the run (``names``, or every image of the folder less the tool's own files
    when ``outputs`` is inside it), checked before any work: at least two, a format COLMAP reads,
    and one size for ``--camera-mode SINGLE``."""
    names = list(names) if names is not None else list_images(image_dir)
    if outputs.resolve().is_relative_to(image_dir.resolve()):  # never take the tool's own files for photos
        inside = outputs.resolve().relative_to(image_dir.resolve()).as_posix() + "/"
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
    return names


def extract_step(conf, image_dir: Path, feats_path: Path, names, ray, workers, device, overwrite) -> Path:
    """Extraction in this process, or on Ray actors (``ray``: '' local, or a cluster address)."""
    if ray is None:
        return extract.main(conf, image_dir, feats_path, names=names, device=device, overwrite=overwrite)
    return distributed.extract_ray(conf, image_dir, feats_path, ray or None, workers, device=device,
                                   overwrite=overwrite, names=names)


def match_step(matcher, pairs_path: Path, feats_path: Path, matches_path: Path, ray, workers, device,
               overwrite) -> Path:
    """Matching in this process, or on Ray actors."""
    if ray is None:
        return match.main(with_options(matcher, device=device), pairs_path, feats_path, matches_path,
                          overwrite=overwrite)
    return distributed.match_ray(matcher, pairs_path, feats_path, matches_path, ray or None, workers,
                                 overwrite=overwrite)


def attempt(conf, images, outputs, options: Optional[dict] = None, **inputs) -> Tuple[Dict[str, Any], Optional[str]]:
    """``main`` where a reconstruction that verifies or registers nothing is a result, not a
    crash (benchmarks, the demo): (the report, the failure's message or None). Every other
    error is raised."""
    try:
        return read_json(main(conf, images, outputs, options, **inputs)), None
    except RuntimeError as e:
        if not (Path(outputs) / "report.json").is_file():
            raise  # main writes its report on a failed reconstruction only
        return read_json(Path(outputs) / "report.json"), str(e)


def with_global_descriptors(conf: dict, pairs: str, num_matched: int) -> dict:
    """The extractor conf writing global descriptors too (the extractor's default aggregation: VLAD for
    RELF, whose codebook is learned on its aligned descriptors; GeM for the others): retrieval pairs use
    them, and ``query`` pairs new photos with the model's images by them (a compact or RELF + RootSIFT
    descriptor stored in the file is not what the aggregation takes)."""
    if pairs == "retrieval" and num_matched < 1:
        raise ValueError(f"--num-matched must be at least 1, got {num_matched}")
    if conf.get("global"):
        return conf
    return extract.with_global(conf, extractor_class(conf["model"]).global_aggregations[0])


def time_budget(report: Dict[str, Any], num_images: int) -> Dict[str, Any]:
    """Seconds per stage of this run (``relf_hloc.timing``) and per image, from the tally."""
    stages = timing.take()
    total = report["seconds"]["total"]
    return {"stages": stages, "total": total, "per_image": round(total / max(num_images, 1), 2),
            "unaccounted": round(total - sum(stages.get(s, 0.0) for s in MAIN_STAGES), 2)}


MAIN_STAGES = ("load", "features", "matching", "verification", "mapping")  # in the main thread, one after another
PARTS = {"features": ("network", "sampling", "aligning", "rootsift", "detect")}  # stages inside a main stage


def format_budget(budget: Dict[str, Any]) -> str:
    """'time: ...' line of a time budget: the main stages, their parts, decoding (overlapped)."""
    stages = budget["stages"]

    def one(name):
        parts = [f"{p} {stages[p]:.1f}" for p in PARTS.get(name, ()) if stages.get(p)]
        return f"{name} {stages.get(name, 0.0):.1f}" + (f" ({', '.join(parts)})" if parts else "")
    decode = f", decode {stages['decode']:.1f} (overlapped)" if stages.get("decode") else ""
    return (f"time: {budget['total']:.1f} s, {budget['per_image']:.2f} s per image: "
            + ", ".join(one(s) for s in MAIN_STAGES) + decode + f", other {budget['unaccounted']:.1f}")


def format_summary(report: Dict[str, Any]) -> str:
    """The summary lines of an sfm report."""
    model = report["features"]["conf"]
    model = resolve_conf(extractor_class(model).default_conf, model, model["name"])  # the backend it ran
    label = ", ".join([model["name"], *([model["backend"]] if model.get("backend") else []),
                       *([f"pca {model['pca']}"] if model.get("pca") else []),
                       *(["RANDOM weights"] if model.get("random_weights") else [])])
    budget = f"\n{format_budget(report['time_budget'])}" if report.get("time_budget") else ""
    return (f"sfm ({label}): registered {report['registered']}/{report['total']} images, "
            f"{report['points']} points, track length {report['mean_track_length']:.2f}, "
            f"reprojection {report['mean_reprojection_error_px']:.3f} px, "
            f"{report['seconds']['total']:.1f} s" + budget + format_mapping(report.get("mapping")))


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
