"""Visual localization of upright and rolled query photos against a reference model.

    relf-hloc benchmark localization --scene DIR --format strecha|middlebury|colmap --outputs DIR
        [--methods sift,rootsift,relf-fast-rs,relf-rs,colmap] [--every 2,3] [--rotation random,90]
        [--seed 0] [--max-size 640] [--work DIR]

Data path: scene (relf_hloc.datasets.scenes) downscaled to ``--max-size`` -> variants of every
image: upright, rolled by seeded random angles on an enlarged canvas (``random``), rolled by
multiples of 90 degrees (``90``) -> for each density d of ``--every``: the reference images are
every d-th upright photo, the queries all the others, in every variant -> per method: features of
all images (an extractor conf of relf_hloc.confs, or ``colmap``: COLMAP's own SIFT features and
matches, ``pycolmap.extract_features`` + ``match_exhaustive``) -> matches of the reference pairs
and of each query with every reference image (the method's SfM matcher) -> two reference models:
``sfm`` (COLMAP's mapper on the reference images, their intrinsics known and fixed, then aligned to the
ground truth by a similarity of its camera centres) and ``gt`` (points triangulated from the
ground-truth poses: the error of the query alone) -> each query localized
(relf_hloc.steps.localize) with its intrinsics ``known`` or ``guessed`` (COLMAP's prior for an
image without EXIF) -> OUTPUT/results.json, results.md, recall.png.

Metrics per method, density, model, variant and intrinsics: localized / total, recall at
(0.25 %, 0.5 deg), (0.5 %, 1 deg) and (1 %, 2 deg) of the scene size (the largest distance
between two ground-truth camera centres; a query that fails counts as outside), median errors
of the localized queries (metres too on Strecha scenes, whose ground truth is metric), the
reasons of the failures, and seconds per query (extraction + matching against the reference
images + pose).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pycolmap

from .. import geometry, io
from ..confs import conf_names, default_matcher, extractor_conf, resolve_conf
from ..datasets import scenes
from ..datasets.scenes import Scene
from ..eval.poses import Poses, model_poses, score_poses, within_key
from ..features import features_tag
from ..steps import extract, localize, match, reconstruction, triangulation
from ..steps.pairs import exhaustive
from ..log import logger
from .localization_report import THRESHOLDS, markdown, plot_recall
from .pose import Timings

# the reference images' intrinsics are known and kept (refined from 3 or 4 views they drift by 10 %);
# one thread: the seeded mapper gives the same model on every run
KNOWN_INTRINSICS = {"num_threads": 1, "ba_refine_focal_length": False, "ba_refine_principal_point": False,
                    "ba_refine_extra_params": False}
VARIANTS = {"upright": "none", "rolled": "random", "rolled-90": "90"}
default_conf = {
    "methods": "sift,rootsift,relf-fast-rs,relf-rs,colmap",
    "every": "2,3",             # reference models of every 2nd and every 3rd photo
    "rotation": "random,90",    # query variants besides upright
    "seed": 0,
    "max_size": 640,
    "min_inliers": 12,
    "device": "cpu",
}


def combined_scene(scene: Scene, work: Path, rotations: Sequence[str], seed: int, max_size: int) -> Scene:
    """One scene of every variant's images, named ``<variant>/images/<name>`` under ``work``."""
    views = []
    for variant in ["upright"] + [v for v, r in VARIANTS.items() if r in rotations]:
        _, rotated = scenes.rotated_variant(scene, work / variant, VARIANTS[variant], seed, max_size)
        views += [replace(v, name=f"{variant}/images/{v.name}") for v in rotated.views]
    return Scene(work, views, name=scene.name, meta=scene.meta)


def split(scene: Scene, every: int) -> Dict[str, List[str]]:
    """{'reference': every ``every``-th upright image, <variant>: the other images in that variant}."""
    upright = [n for n in scene.names if n.startswith("upright/")]
    reference = upright[::every]
    stems = {n.split("/", 2)[2] for n in reference}
    out = {"reference": reference}
    for name in scene.names:
        variant, _, stem = name.split("/", 2)
        if stem not in stems:
            out.setdefault(variant, []).append(name)
    return out


def colmap_files(scene: Scene, work: Path, timings: Timings) -> tuple:
    """COLMAP's own SIFT features and matches of every image, as hloc files (features, matches)."""
    from ..steps import colmap as cu

    features, matches = work / "features.h5", work / "matches.h5"
    if matches.is_file():
        return features, matches
    work.mkdir(parents=True, exist_ok=True)
    database = work / "database.db"
    database.unlink(missing_ok=True)
    options = pycolmap.FeatureExtractionOptions(num_threads=1)
    timings.run("colmap/extract", pycolmap.extract_features, database, scene.image_dir, image_names=scene.names,
                camera_mode=pycolmap.CameraMode.PER_IMAGE, extraction_options=options)
    timings.run("colmap/match", pycolmap.match_exhaustive, database)
    cu.export_database(database, features, matches)
    cu.check_inputs(None, scene.names, features)
    return features, matches


def method_files(method: str, scene: Scene, work: Path, pairs: Path, timings: Timings, conf: dict) -> tuple:
    """(features, matches) of every image and of the ``pairs`` of a method, resumed from ``work``."""
    if method == "colmap":
        return colmap_files(scene, work / "colmap", timings)
    extractor = extractor_conf(method)
    features = work / "features" / f"{features_tag(extractor)}.h5"
    matches = work / "matches" / f"{features_tag(extractor)}.h5"
    timings.run(f"{method}/extract", extract.main, extractor, scene.image_dir, features, names=scene.names,
                device=conf["device"], progress=False)
    timings.run(f"{method}/match", match.main, default_matcher(extractor, "sfm"), pairs, features, matches,
                progress=False)
    return features, matches


def to_frame(poses: Poses, s: float, R: np.ndarray, t: np.ndarray) -> Poses:
    """World-to-camera poses of a model mapped into the frame where X' = s R X + t."""
    return {n: (Rc @ R.T, s * tc - Rc @ R.T @ t) for n, (Rc, tc) in poses.items()}


def reference_model(kind: str, scene: Scene, reference: List[str], model_dir: Path, pairs: Path,
                    features: Path, matches: Path):
    """(pycolmap model, similarity into the ground-truth frame (s, R, t)) or (None, reason)."""
    try:
        if kind == "gt":
            rec = triangulation.main(model_dir, scene.subset(reference).colmap_model(), scene.image_dir, pairs,
                                     features, matches)
            return rec, (1.0, np.eye(3), np.zeros(3))
        rec = reconstruction.main(model_dir, scene.image_dir, pairs, features, matches, camera_mode="PER_IMAGE",
                                  image_list=reference, cameras={n: scene[n].colmap_camera() for n in reference},
                                  mapper_options=KNOWN_INTRINSICS)
    except RuntimeError as e:
        return None, str(e)
    estimated = model_poses(rec)
    if len(estimated) < 2:
        return None, f"{len(estimated)} registered reference image(s): no similarity to the ground truth"
    names = sorted(estimated)
    return rec, geometry.similarity_from_poses(np.stack([estimated[n][0] for n in names]),
                                               np.stack([estimated[n][1] for n in names]),
                                               np.stack([scene[n].R for n in names]),
                                               np.stack([scene[n].t for n in names]))


def score_queries(scene: Scene, queries: List[str], poses_file: Path, sim) -> dict:
    """Recall at ``THRESHOLDS`` and median errors of the localized queries, in the ground-truth frame."""
    poses = {n: (np.asarray(p.rotation.matrix()), np.asarray(p.translation, float))
             for n, p in localize.read_poses(poses_file).items()}
    score = score_poses(scene.subset(queries), to_frame(poses, *sim), align=False, within=THRESHOLDS)
    errors = [[e["rot_err_deg"], e["pos_err_pct"]] for e in score["per_image"].values()]
    log = io.read_json(localize.log_path(poses_file))
    out = {"localized": score["estimated"], "total": len(queries),
           "recall": {within_key(d, p): score[within_key(d, p)] for d, p in THRESHOLDS},
           "median_rot_err_deg": score["median_rot_err_deg"], "median_pos_err_pct": score["median_pos_err_pct"],
           "failures": dict(Counter(localize.failure_kind(e["reason"]) for e in log["queries"].values()
                                    if e["status"] != "localized")),
           "errors": np.round(errors, 4).tolist()}
    if scene.meta.get("format") == "strecha" and out["median_pos_err_pct"] is not None:  # metric ground truth
        out["median_pos_err_m"] = out["median_pos_err_pct"] / 100 * scene.scene_size()
    return out


def write_pairs(scene: Scene, work: Path, every: Sequence[int]) -> Dict[int, dict]:
    """Per density: its split and pairs files (reference pairs, each query with every reference
    image); ``work``/pairs-all.txt: the union, matched once per method."""
    out, union = {}, []
    for e in every:
        parts = split(scene, e)
        reference = parts.pop("reference")
        folder = work / f"every{e}"
        io.write_pairs(folder / "pairs-reference.txt", exhaustive(reference))
        io.write_pairs(folder / "pairs-query.txt", [(q, r) for qs in parts.values() for q in qs for r in reference])
        union += io.read_pairs(folder / "pairs-reference.txt") + io.read_pairs(folder / "pairs-query.txt")
        out[e] = {"reference": reference, "variants": parts, "folder": folder}
    io.write_pairs(work / "pairs-all.txt", list(dict.fromkeys(union)))
    return out


def evaluate(scene: Scene, method: str, every: int, split_: dict, files: tuple, conf: dict) -> List[dict]:
    """The rows of one method and reference density (both models, every variant and intrinsics)."""
    reference, folder = split_["reference"], split_["folder"]
    rows = []
    for kind in ("sfm", "gt"):
        model_dir = folder / method / kind
        rec, sim = reference_model(kind, scene, reference, model_dir / "model", folder / "pairs-reference.txt",
                                   *files)
        for variant, queries in split_["variants"].items():
            for intrinsics in ("known", "guessed"):
                row = {"method": method, "every": every, "model": kind, "variant": variant,
                       "intrinsics": intrinsics, "reference": len(reference),
                       "registered": rec.num_reg_images() if rec is not None else 0}
                if rec is None:
                    rows.append({**row, "localized": 0, "total": len(queries), "model_error": sim,
                                 "recall": {within_key(d, p): 0.0 for d, p in THRESHOLDS}})
                    continue
                cams = [(q, scene[q].colmap_camera() if intrinsics == "known" else None) for q in queries]
                poses_file = model_dir / f"{variant}-{intrinsics}.txt"
                t0 = time.perf_counter()
                localize.main(rec, cams, *files, poses_file, pairs=folder / "pairs-query.txt",
                              image_dir=scene.image_dir, min_inliers=conf["min_inliers"])
                row["pose_s_per_query"] = (time.perf_counter() - t0) / len(queries)
                rows.append({**row, **score_queries(scene, queries, poses_file, sim)})
    return rows


def speed(method: str, scene: Scene, timings: Timings, num_pairs: int) -> Dict[str, float]:
    """Seconds of extraction per image and of matching per pair of a method (first measurement)."""
    if method == "colmap":  # COLMAP matches every pair of the images
        num_pairs = len(scene) * (len(scene) - 1) // 2
    t = timings.data
    return {"extract_s_per_image": t.get(f"{method}/extract", 0.0) / len(scene),
            "match_s_per_pair": t.get(f"{method}/match", 0.0) / max(num_pairs, 1)}


def main(conf: dict, scene_dir, format: str, output, work=None, command: str = "") -> Path:
    """Run the benchmark on one scene; writes ``output``/results.json (returned), results.md and
    recall.png. Intermediate files go to ``work`` (default output/work; reruns resume)."""
    conf = resolve_conf(default_conf, conf, "localization benchmark")
    methods = [m.strip() for m in conf["methods"].split(",") if m.strip()]
    conf_names(",".join(m for m in methods if m != "colmap"))  # unknown names fail here, before any work
    try:
        every = [int(e) for e in str(conf["every"]).split(",")]
    except ValueError:
        raise ValueError(f"--every '{conf['every']}': a comma list of integers, e.g. 2,3") from None
    if min(every) < 2:
        raise ValueError(f"--every {conf['every']}: each density must be at least 2 (one reference photo in 2)")
    rotations = [r.strip() for r in conf["rotation"].split(",") if r.strip()]
    unknown = sorted(set(rotations) - {"random", "90"})
    if unknown:
        raise ValueError(f"--rotation: unknown {unknown}; choose from random, 90")
    scene = scenes.read_scene(scene_dir, format)
    output = Path(output)
    work = Path(work or output / "work")
    combined = combined_scene(scene, work, rotations, conf["seed"], conf["max_size"])
    timings = Timings(work / "timings.json")
    splits = write_pairs(combined, work, every)
    num_pairs = len(io.read_pairs(work / "pairs-all.txt"))
    start = time.perf_counter()
    rows, speeds = [], {}
    for method in methods:
        files = method_files(method, combined, work, work / "pairs-all.txt", timings, conf)
        speeds[method] = speed(method, combined, timings, num_pairs)
        for e in every:
            for row in evaluate(combined, method, e, splits[e], files, conf):
                s = speeds[method]  # one query: its extraction, its matches against the reference, its pose
                row["seconds_per_query"] = round(s["extract_s_per_image"] + s["match_s_per_pair"] * row["reference"]
                                                 + row.get("pose_s_per_query", 0.0), 3)
                rows.append(row)
    results = {"scene": scene.name, "format": format, "images": len(scene), "scene_size": scene.scene_size(),
               "command": command, **{k: conf[k] for k in ("every", "rotation", "seed", "max_size", "min_inliers")},
               "speed": speeds, "rows": rows}
    io.write_json(output / "results.json", results)
    plot = plot_recall(rows, output / "recall.png")
    io.write_text(output / "results.md", f"# Localization benchmark: {scene.name}\n\n`{command}`\n\n"
                  f"{markdown(rows)}\n![recall]({plot.name})\n")
    logger.info(f"benchmark localization: {scene.name}, {len(rows)} rows, {time.perf_counter() - start:.0f} s "
          f"-> {output / 'results.json'}")
    return output / "results.json"
