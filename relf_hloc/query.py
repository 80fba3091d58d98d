"""Localize new photos against an ``sfm`` output, in one call (hloc's ``localize_sfm`` pipeline).

    relf-hloc query --sfm OUTPUTS --images QUERY_DIR --outputs QOUT [--queries queries.txt]
        [--num-matched 10] [--min-inliers 12] [--ray [ADDRESS] --workers N]

Data path: the query photos are extracted into the model's features file (``OUTPUTS/feats-*.h5``,
the same extractor settings, resuming), each query is paired with the model's images (every
registered image when the model has at most ``num_matched``, else its ``num_matched`` most
similar by the rotation-invariant global descriptor of ``relf_hloc.retrieval``), matched with
the model's matcher, and its pose estimated by ``relf_hloc.steps.localize``.

Writes into ``QOUT``: ``pairs-query.txt``, ``matches-query.h5`` (resumed by pair),
``poses.txt`` (hloc's format: the localized queries only), ``poses.txt.log.json`` (every
query with its status, and for a failure its reason) and ``report.json`` (counts, reasons,
seconds per stage and per query). A query named like one of the model's images is refused
before any work: its features would replace that image's.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pycolmap

from . import io, retrieval
from .timing import timed
from .confs import get_conf
from .features import extractor_class
from .images import list_images
from .steps import localize
from .steps.colmap import read_model
from .steps.pairs import read_query_names


def model_settings(sfm_outputs: Path) -> Dict[str, Any]:
    """What a query needs of an ``sfm`` output: its model, features file, extractor and
    matcher confs (from ``report.json`` and the features file's provenance) and image names."""
    report_path = sfm_outputs / "report.json"
    if not report_path.is_file():
        raise FileNotFoundError(f"{report_path}: not found; --sfm takes the --outputs folder of relf-hloc sfm")
    report = io.read_json(report_path)
    if report.get("status") != "ok":
        raise ValueError(f"{report_path}: the sfm run registered no model ({report.get('error', 'failed')})")
    features = sfm_outputs / report["features"]["file"]
    provenance = io.read_provenance(features) if features.is_file() else None
    if provenance is None:
        raise FileNotFoundError(f"{features}: the model's features file is missing or not written by relf-hloc")
    conf = {"output": features.stem, "model": report["features"]["conf"],
            "preprocessing": provenance.get("preprocessing") or {}}
    if provenance.get("global"):
        conf["global"] = {"aggregation": provenance["global"]["aggregation"]}
    rec = read_model(sfm_outputs / report["model"])
    pairs = io.read_pairs(sfm_outputs / report["pairs"]["file"])
    names = {n for p in pairs for n in p} | {rec.images[i].name for i in rec.images}
    return {"model": rec, "features": features, "conf": conf,
            "matcher": {"output": "matches-query", "model": report["matches"]["conf"]}, "names": names}


def query_list(images: Path, queries: Optional[Path], model_names) -> List[str]:
    """The query names (the queries file's, or every image of ``images``), none of them a model image."""
    names = read_query_names(queries) if queries is not None else list_images(images)
    io.check_names(names, queries or images)
    clash = sorted(set(names) & set(model_names))
    if clash:
        raise ValueError(f"{queries or images}: {len(clash)} query name(s) are images of the model, e.g. "
                         f"'{clash[0]}': their features would replace the model's; rename the queries or put "
                         "them in a subfolder (names are relative to --images)")
    return names


def database_for(queries: Sequence[str], rec: pycolmap.Reconstruction, features: Path,
                 num_matched: int, aggregation: str) -> List[tuple]:
    """Query-database pairs: every registered image, or the ``num_matched`` most similar by the
    global descriptors (those of the features file, else aggregated from its local descriptors)."""
    if num_matched < 1:
        raise ValueError(f"--num-matched must be at least 1, got {num_matched}")
    database = sorted(rec.images[i].name for i in rec.reg_image_ids())
    if len(database) <= num_matched:
        return [(q, d) for q in queries for d in database]
    q_desc = retrieval.global_descriptors(features, queries, aggregation)
    db_desc = retrieval.global_descriptors(features, database, aggregation)
    return retrieval.query_pairs(list(queries), q_desc, database, db_desc, num_matched)


def main(sfm_outputs, images, outputs, queries: Optional[Path] = None, num_matched: int = 10,
         min_inliers: int = 12, ransac_thresh: float = 12.0, device: str = "cpu",
         ray: Optional[str] = None, workers: int = 2) -> Path:
    """Localize the photos of ``images`` (or those of the ``queries`` file, with their cameras)
    against the model of ``sfm_outputs``; returns ``outputs/report.json``.

    Args:
        sfm_outputs: the ``--outputs`` folder of ``relf-hloc sfm`` (model, features, report).
        images: folder of the query photos (names relative to it).
        outputs: folder for the pairs, matches, poses and report (created).
        queries: hloc queries file (``name MODEL W H PARAMS...``, or bare names whose cameras
            are guessed from EXIF); default: every image of ``images``, cameras guessed.
        num_matched: database images per query (every registered one for smaller models).
        min_inliers, ransac_thresh: see ``relf_hloc.steps.localize.main``.
        ray, workers: extract and match on Ray actors (as ``relf-hloc sfm``).
    """
    from .sfm import extract_step, match_step  # the sfm driver's engine choice, shared

    sfm_outputs, images, outputs = Path(sfm_outputs), Path(images), Path(outputs)
    model = model_settings(sfm_outputs)
    names = query_list(images, queries, model["names"])
    query_cameras = localize.read_queries(queries, images) if queries is not None else [(n, None) for n in names]
    aggregation = ((model["conf"].get("global") or {}).get("aggregation")
                   or extractor_class(model["conf"]["model"]).global_aggregations[0])
    outputs.mkdir(parents=True, exist_ok=True)
    seconds: Dict[str, float] = {}
    start = time.time()
    engine = {"ray": ray, "workers": workers, "device": device, "overwrite": False}
    timed(seconds, "extract", extract_step, get_conf(model["conf"]), images, model["features"], names, **engine)
    pairs_path, matches_path = outputs / "pairs-query.txt", outputs / "matches-query.h5"
    timed(seconds, "pairs", lambda: io.write_pairs(
        pairs_path, database_for(names, model["model"], model["features"], num_matched, aggregation)))
    timed(seconds, "match", match_step, model["matcher"], pairs_path, model["features"], matches_path, **engine)
    poses = timed(seconds, "localize", localize.main, model["model"], query_cameras, model["features"], matches_path,
                  outputs / "poses.txt", pairs=pairs_path, image_dir=images, min_inliers=min_inliers,
                  ransac_thresh=ransac_thresh)
    log = io.read_json(localize.log_path(poses))
    total = time.time() - start
    report = {"sfm": str(sfm_outputs), "images": str(images), "num_matched": num_matched,
              "localized": log["localized"], "total": log["total"],
              "failures": dict(Counter(localize.failure_kind(e["reason"]) for e in log["queries"].values()
                                       if e["status"] != "localized")),
              "seconds": {**seconds, "total": round(total, 2),
                          "per_query": round(total / len(names), 3)},
              "queries_per_second": round(len(names) / total, 3), "poses": poses.name}
    return io.write_json(outputs / "report.json", report)


def format_summary(report: Dict[str, Any]) -> str:
    """The summary line of a query report."""
    failures = "".join(f", {n} failed ({kind})" for kind, n in report["failures"].items())
    return (f"query: localized {report['localized']}/{report['total']}{failures}; "
            f"{report['seconds']['per_query']:.2f} s per query ({report['queries_per_second']:.2f} queries/s)")
