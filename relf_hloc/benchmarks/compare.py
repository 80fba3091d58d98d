"""Run the whole homography comparison on a folder: baselines and RELF, one table.

    relf-hloc compare --dataset ../shared/data/hpatches --results results --cache outputs/compare \
        [--layout both|hpatches|roto360] [--methods sift,rootsift,orb,akaze,relf-fast,relf-fast-multi] \
        [--max-keypoints 1500] [--relf-keypoints sift|own] [--weights W.pth] [--random-weights] \
        [--step 10] [--angles 0,90] [--sequences a,b]

An HPatches-layout folder is evaluated as is (``results/<name>/``) and through the
Roto-360-layout set generated from it in the cache (``results/<name>-roto360/``); a
Roto-360-layout folder is evaluated as is. Features files live in the cache, named by
their settings, and every extraction skips images already done: an interrupted run
resumes, and a rerun only re-evaluates. Each results folder gets results.md,
results.json (one entry per method, without per-pair records) and the plots.

Every method is an extractor conf of ``relf_hloc.confs`` run through
``relf_hloc.steps.extract``. RELF confs, with ``--relf-keypoints sift`` (default),
describe the SIFT baseline's keypoint locations (the ``file`` detector with OpenCV's
per-orientation duplicates removed: RELF assigns its own orientations), so descriptors
are compared on the same points. The default RELF confs are the 3-level CPU pyramids
(relf-fast, relf-fast-multi); ``--methods sift,relf`` gives the paper's 9-level pyramid.
With ``--random-weights`` (an untrained network, for comparison) RELF rows are labelled
"untrained".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..log import logger
from ..confs import (BENCHMARK_KEYPOINTS, EXTRACTORS, OPENCV_METHODS, extractor_conf, get_conf, resolve_conf,
                     with_options)
from ..datasets import roto360
from ..datasets.homography import dataset_root, detect_layout, image_names, load_pairs
from ..eval.homography import evaluate_pairs, results_from_records
from ..features import extractor_class, features_tag
from ..features.opencv import unavailable_reason
from ..io import write_json
from ..steps import extract
from .homography import format_loc_error, format_ori_acc, write_report

BASELINE_LABELS = {"sift": "SIFT", "rootsift": "RootSIFT", "orb": "ORB", "akaze": "AKAZE"}
DEFAULT_METHODS = (*OPENCV_METHODS, "relf-fast", "relf-fast-multi")


default_conf = {  # everything that selects what is extracted and evaluated (CLI flags of the same names)
    "methods": list(DEFAULT_METHODS),
    "max_keypoints": BENCHMARK_KEYPOINTS,
    "relf_keypoints": "sift",  # 'sift': the SIFT baseline's keypoints; 'own': the conf's detector
    "weights": None,
    "random_weights": False,
    "device": "cpu",
    "sequences": None,
    "step": 10,
    "angles": None,
    "name": None,
    "command": "",  # how the run was started, written below the tables
}


def label(method: str, opts: dict) -> str:
    """The row label of a method in the tables."""
    if method in BASELINE_LABELS:
        return BASELINE_LABELS[method]
    kind = "multi-candidate" if "multi" in method else "top-1"
    keypoints = "SIFT kpts" if opts["relf_keypoints"] == "sift" else "own kpts"
    return f"RELF {kind} ({method}, {keypoints}{', untrained' if opts['random_weights'] else ''})"


def homography_sets(hpatches: Path, cache: Path, step: int = 10) -> Dict[str, tuple]:
    """The development sets: {name: (image root, layout, pairs)} of the Roto-360-layout set made
    from ``hpatches`` (image 1 of every sequence turned every ``step`` degrees, in ``cache``)
    and of the HPatches viewpoint pairs themselves."""
    roto = roto360.main(hpatches, Path(cache) / "roto360-images", step=step)
    return {"Roto-360": (roto, "roto360", load_pairs(roto, "roto360")),
            "HPatches": (hpatches, "hpatches", load_pairs(hpatches, "hpatches"))}


def score(conf: dict, root: Path, pairs, features_dir: Path, relf_keypoints: str = "sift",
          device: str = "cpu", overwrite: bool = False, progress: bool = True) -> Tuple[List[dict], Path, float]:
    """Extract one extractor conf's features of the images of ``pairs`` (resumable) and evaluate
    every pair: (per-pair records, features path, extraction seconds per image). With
    ``relf_keypoints="sift"`` a RELF conf describes the SIFT conf's keypoints (duplicates removed)."""
    names = image_names(pairs)
    if extractor_class(conf["model"]).describes_keypoints and relf_keypoints == "sift":
        sift = extractor_conf("sift", conf["model"]["max_keypoints"])
        _, sift_path, _ = score(sift, root, pairs, features_dir, device=device, progress=progress)
        conf = with_options(conf, detector={"name": "file", "path": str(sift_path), "unique": True})
    path = Path(features_dir) / f"{features_tag(conf)}.h5"
    start = time.time()
    extract.main(conf, root, path, names=names, device=device, overwrite=overwrite, progress=progress)
    seconds = (time.time() - start) / len(names)
    return evaluate_pairs(pairs, path), path, seconds


def compare_on(dataset: Path, layout: str, out_dir: Path, features_dir: Path, opts: dict,
               angles: Optional[Sequence[int]] = None) -> Path:
    """Extract, evaluate and report every method on one dataset; returns out_dir/results.json."""
    pairs = load_pairs(dataset, layout, opts["sequences"], angles)
    if not pairs:
        raise ValueError(f"{dataset}: no pairs selected (sequences={opts['sequences']}, angles={angles})")
    root = dataset_root(dataset, layout)
    results: Dict[str, dict] = {}
    skipped = {m: unavailable_reason(m) for m in opts["methods"] if unavailable_reason(m)}
    for method, reason in skipped.items():
        logger.info(f"compare: skipping {method}: {reason}")
    for method in (m for m in opts["methods"] if m not in skipped):
        conf = extractor_conf(method, opts["max_keypoints"], opts["weights"], opts["random_weights"])
        records, features, _ = score(conf, root, pairs, features_dir, opts["relf_keypoints"], opts["device"])
        name = label(method, opts)
        res = results_from_records(records, layout, method=name, features=str(features))
        res.pop("per_pair")  # `evaluate homography` on the features file gives them
        results[name] = res
        ori = res.get("ori_acc")
        logger.info(f"compare: {out_dir.name} {name}: MMA@3 {res['mma']['3']:.2f} @5 {res['mma']['5']:.2f} "
                    f"@10 {res['mma']['10']:.2f}, {res['pred_matches']:.1f} matches, {res['total_points']:.1f} points"
                    + (f", orientation within one bin: {format_ori_acc(res)} % (matches / GT)" if ori else "")
                    + ", localisation error (median / p90 (dx, dy) px) of matches <= 10 px "
                    f"{format_loc_error(res, 'matches')}, of verified inliers {format_loc_error(res, 'inliers')}")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", {"dataset": str(root), "layout": layout, "command": opts["command"],
                                          "options": opts, "methods": results})
    footer = "".join(f"\nNot run: {BASELINE_LABELS[m]}: {reason}.\n" for m, reason in skipped.items())
    if layout == "roto360":
        footer += ("\nRoto-360 pairs: reference `*_rot0.jpg` against every `*_rot<deg>.jpg`, 0 degrees "
                   "included (the paper's 10 x 36 = 360 pairs); sets made by `relf-hloc make-roto360` "
                   "rotate image 1 on an enlarged canvas (whole image visible, black corners).\n")
    if opts["random_weights"] and any(extractor_class(get_conf(m)["model"]).weights for m in opts["methods"]):
        footer += "\nRELF rows marked 'untrained' use random weights: they test the pipeline, not the method.\n"
    footer += f"\nProduced by `{opts['command']}`.\n" if opts["command"] else ""
    write_report(out_dir, results, f"{out_dir.name}: homography benchmark ({layout}, {len(pairs)} pairs)",
                 footer)
    return out_dir / "results.json"


def main(dataset, results_dir, cache_dir, layout: str = "both", opts: Optional[dict] = None) -> List[Path]:
    """Compare methods on ``dataset`` with options ``opts`` (``default_conf`` updated); returns
    the results.json paths written."""
    dataset, results_dir, cache_dir = Path(dataset), Path(results_dir), Path(cache_dir)
    opts = resolve_conf(default_conf, opts, "compare")
    unknown = [m for m in opts["methods"] if m not in EXTRACTORS]
    if unknown:  # checked before any extraction starts
        raise ValueError(f"unknown method(s) {unknown} (expected extractor confs: {', '.join(EXTRACTORS)})")
    if opts["relf_keypoints"] not in ("sift", "own"):
        raise ValueError(f"relf_keypoints must be 'sift' or 'own', got '{opts['relf_keypoints']}'")
    name = opts["name"] or dataset.name
    found = detect_layout(dataset)
    if found == "roto360" and layout == "hpatches":
        raise ValueError(f"{dataset}: a Roto-360-layout folder cannot be evaluated as HPatches")
    written = []
    if found == "hpatches" and layout in ("both", "hpatches"):
        written.append(compare_on(dataset, "hpatches", results_dir / name, cache_dir / name / "features", opts))
    if layout in ("both", "roto360"):
        roto_name = name if found == "roto360" else f"{name}-roto360"
        roto_dir = dataset if found == "roto360" else cache_dir / roto_name / "images"
        if found == "hpatches":  # cheap and resumable: only missing angles are written
            roto360.main(dataset, roto_dir, opts["sequences"], opts["step"])
        angles = [a for a in range(0, 360, opts["step"]) if opts["angles"] is None or a in opts["angles"]]
        written.append(compare_on(roto_dir, "roto360", results_dir / roto_name,
                                  cache_dir / roto_name / "features", opts, angles))
    logger.info("compare: wrote " + ", ".join(str(p.parent) for p in written))
    return written
