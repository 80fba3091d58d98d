"""Rotated-camera pose benchmark: relative pose, SfM and localization accuracy
against ground-truth cameras, for RELF and the classical baselines, upright and
with cameras rolled about their optical axis.

    relf-hloc benchmark pose --scene DIR --format strecha|middlebury|colmap
        --rotation none|90|random [--seed S] --methods relf-fast,sift,... --outputs DIR
        [--random-weights] [--max-images N] [--max-pairs N] [--max-size PX] [--work DIR]

Data path: scene (relf_hloc.datasets.scenes) -> variant images with exact cameras
(upright, and rotated by seeded angles; downscaled to ``--max-size`` first)
-> features per method (any extractor conf of relf_hloc.confs through
relf_hloc.steps.extract, or any hloc features file) -> exhaustive pairs (or a
seeded subset) -> matches (the method's default matcher conf: mutual NN for RELF,
ratio 0.8 for the classical baselines) -> metrics (relf_hloc.eval.poses) ->
OUTPUT/results.json, results.md, auc_vs_rotation.png, registered.png (pose_report).
Intermediate files live in ``--work`` (default OUTPUT/work): ``<variant>/images``,
``cameras.json``, ``features/``, ``matches/``, ``sfm/``, ``loc/``,
``pairs-<method>.json`` (per-pair errors) and ``timings.json``; a rerun resumes
from them. To score another extractor, run once, extract its features from
``<work>/<variant>/images`` and pass ``LABEL={work}/{variant}/FILE.h5``.

Metrics (every one from hloc features + matches files, so any extractor is scored):
- relative pose of each pair with known intrinsics: keypoints normalised by
  K^-1, essential matrix by RANSAC (cv2.findEssentialMat, threshold
  ``ransac_px`` pixels divided by the pair's mean focal length, default 1 px,
  USAC_ACCURATE, confidence 0.99999, at most 10000 iterations), cheirality by
  cv2.recoverPose. Error = max(rotation angle error,
  translation direction error), the translation error folded to [0, 90] as in
  SuperGlue/LoFTR (an essential matrix's sign is fragile). A pair with fewer
  than 5 matches, or no pose, has error infinity. AUC at 5/10/20 degrees
  (percent), overall and per bin of in-plane rotation between the two views
  (0-45, 45-90, 90-135, 135-180 degrees, from the ground-truth poses).
- SfM (relf_hloc.steps.reconstruction, intrinsics estimated by COLMAP from its
  default prior, one camera per image as a rotated canvas has its own size):
  registered / total, points, track length, reprojection error, and the camera
  errors of ``relf_hloc.eval.poses.score_poses`` after a similarity alignment
  (within (2 deg, 2%) and (5 deg, 5%) of ALL images).
- localization (steps.triangulation + steps.localize): each image in
  turn is a query against a model triangulated from the ground-truth poses of
  the others (known-pose triangulation), the query's ground-truth intrinsics
  given; recall at (1 deg, 1%) and (5 deg, 5%) of scene size; a failed query
  counts as failed.
Scene size: the largest distance between two ground-truth camera centres.
Speed: seconds per image for extraction, per pair for matching, and the total
of the method's pipeline (extraction + matching + SfM + localization).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..log import logger
from .. import io
from ..confs import MAX_KEYPOINTS, conf_names, default_matcher, extractor_conf, resolve_conf, with_options
from ..datasets import scenes
from ..datasets.scenes import Scene
from ..eval.poses import model_poses, pose_summary, relative_pose_records, score_poses
from ..features import extractor_class, features_tag
from ..steps import colmap, extract, localize, match, reconstruction, triangulation
from ..steps.pairs import exhaustive
from .pose_report import plot_results, results_markdown

METRICS = ("pose", "sfm", "loc")
default_conf = {
    "rotation": "random",      # none, 90, random or a comma list of angles
    "seed": 0,                 # of the angles and the pair subset
    "upright": True,           # also run the upright scene
    "methods": "relf-fast,sift",
    "metrics": METRICS,
    "max_images": None,
    "max_pairs": None,
    "max_size": 640,
    "max_keypoints": MAX_KEYPOINTS,
    "ratio": None,             # ratio test for LABEL=FEATURES.h5 methods
    "ransac_px": 1.0,
    "sfm_max_seconds": 300,
    "weights": None,
    "random_weights": False,
    "device": "cpu",
}


# ---------------------------------------------------------------- SfM and localization
def sfm_metrics(scene: Scene, sfm_dir: Path, pairs_path: Path, features: Path, matches: Path,
                max_seconds: Optional[float] = None) -> dict:
    """Incremental SfM of the scene's images, scored; max_seconds caps COLMAP's mapping
    (with poor matches it tries up to 50 models of 200 initial pairs each)."""
    total = len(scene)
    # one thread: the seeded mapper then gives the same model on every run
    mapper_options = {"num_threads": 1, **({"max_runtime_seconds": int(max_seconds)} if max_seconds else {})}
    try:
        rec = reconstruction.main(sfm_dir, scene.image_dir, pairs_path, features, matches,
                                  camera_mode="PER_IMAGE", image_list=scene.names,
                                  mapper_options=mapper_options)
    except RuntimeError as e:  # nothing verified / registered: a real outcome, not a crash
        return {"registered": 0, "total": total, "sfm_error": str(e)}
    summary = colmap.model_summary(rec, total)
    score = score_poses(scene, model_poses(rec))
    score.pop("per_image")
    score.pop("estimated")
    return {"registered": summary["registered"], "points": summary["points"],
            "track_length": summary["mean_track_length"],
            "reprojection_px": summary["mean_reprojection_error_px"], **score}


def localization_metrics(scene: Scene, work_dir: Path, pairs: Sequence[Tuple[str, str]],
                         features: Path, matches: Path) -> dict:
    """Leave-one-out: each image is localized against a model triangulated from
    the ground-truth poses of all the other images (with its known camera)."""
    poses, failures = {}, {}
    for query in tqdm(scene.names, desc="localization (leave one out)", unit="query", leave=False):
        qdir = work_dir / Path(query).stem
        db_pairs = [p for p in pairs if query not in p]
        q_pairs = [(query, p[1] if p[0] == query else p[0]) for p in pairs if query in p]
        io.write_pairs(qdir / "pairs-db.txt", db_pairs)
        io.write_pairs(qdir / "pairs-query.txt", q_pairs)
        others = scene.subset(n for n in scene.names if n != query).colmap_model()
        try:
            model = triangulation.main(qdir / "model", others, scene.image_dir, qdir / "pairs-db.txt",
                                       features, matches)
        except RuntimeError as e:  # no 3D point: the query cannot be localized
            failures[query] = str(e)
            continue
        poses_file = localize.main(model, [(query, scene[query].colmap_camera())], features, matches,
                                   qdir / "poses.txt", pairs=qdir / "pairs-query.txt")
        for name, pose in localize.read_poses(poses_file).items():
            poses[name] = (np.asarray(pose.rotation.matrix()), np.asarray(pose.translation, float))
    score = score_poses(scene, poses, align=False, within=((1.0, 1.0), (5.0, 5.0)))
    return {"queries": len(scene), "localized": score["estimated"], "no_reference_points": len(failures),
            "recall_1deg_1pct": score["within_1deg_1pct"], "recall_5deg_5pct": score["within_5deg_5pct"]}


# ---------------------------------------------------------------- methods
def parse_methods(text: str) -> Dict[str, Optional[str]]:
    """``relf-fast,sift,mine={work}/{variant}/mine.h5`` -> {label: None (a conf) or features path}."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    methods = {label: path for label, _, path in (i.partition("=") for i in items if "=" in i)}
    try:
        methods.update({name: None for name in conf_names(",".join(i for i in items if "=" not in i))})
    except ValueError as e:
        raise ValueError(f"--methods: {e}, or LABEL=FEATURES.h5") from None
    if not methods:
        raise ValueError("--methods: no method given")
    return {i.partition("=")[0]: methods[i.partition("=")[0]] for i in items}


def select_pairs(names: Sequence[str], max_pairs: Optional[int], seed: int) -> List[Tuple[str, str]]:
    """Exhaustive pairs, or a seeded random subset of them."""
    pairs = exhaustive(list(names))
    if max_pairs and len(pairs) > max_pairs:
        keep = np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)
        pairs = [pairs[i] for i in sorted(keep)]
    return pairs


def select_images(names: Sequence[str], max_images: Optional[int]) -> List[str]:
    """Evenly spaced subset (keeps the scene's full baseline range)."""
    if not max_images or len(names) <= max_images:
        return list(names)
    idx = np.unique(np.round(np.linspace(0, len(names) - 1, max_images)).astype(int))
    return [names[i] for i in idx]


class Timings:
    """Seconds per step, kept in a json file so a resumed run keeps the first measurement."""

    def __init__(self, path: Path):
        self.path = path
        self.data = io.read_json(path) if path.is_file() else {}

    def run(self, key: str, fn, *args, **kwargs):
        """Call ``fn`` and record its seconds under ``key`` (saved at once)."""
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        elapsed = time.perf_counter() - start
        if key not in self.data or elapsed > 0.5 * self.data[key]:  # not a no-op resume
            self.data[key] = elapsed
            io.write_json(self.path, self.data)
        return out


# ---------------------------------------------------------------- one variant
def evaluate_variant(scene: Scene, work: Path, methods: Dict[str, Optional[str]], conf: dict) -> dict:
    """All metrics of all methods on one (upright or rotated) variant scene."""
    pairs = select_pairs(scene.names, conf["max_pairs"], conf["seed"])
    pairs_path = work / "pairs.txt"
    io.write_pairs(pairs_path, pairs)
    timings = Timings(work / "timings.json")
    results = {}
    for method, external in methods.items():
        logger.info(f"[{work.name}] {method}: {len(scene)} images, {len(pairs)} pairs")
        if external is None:
            extractor = extractor_conf(method, conf["max_keypoints"], conf["weights"], conf["random_weights"])
            name = features_tag(extractor)
            features = work / "features" / f"{name}.h5"
            timings.run(f"{method}/extract", extract.main, extractor, scene.image_dir, features,
                        names=scene.names, device=conf["device"])
            matcher = default_matcher(extractor)
        else:
            name = method
            features = Path(external.replace("{work}", str(work.parent)).replace("{variant}", work.name))
            if not features.is_file():
                raise FileNotFoundError(f"{features}: features file of method '{method}' not found")
            matcher = with_options("relf-nn", ratio_threshold=conf["ratio"])
        matches = work / "matches" / f"{name}.h5"
        timings.run(f"{method}/match", match.main, matcher, pairs_path, features, matches, progress=False)
        res = {"features": str(features)}
        if "pose" in conf["metrics"]:
            records = relative_pose_records(scene, pairs, features, matches, conf["ransac_px"])
            res.update(pose_summary(records))
            finite = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in r.items()} for r in records]  # failed pairs: null errors
            io.write_json(work / f"pairs-{method}.json", finite)
        if "sfm" in conf["metrics"]:
            res.update(timings.run(f"{method}/sfm", sfm_metrics, scene, work / "sfm" / method,
                                   pairs_path, features, matches, conf["sfm_max_seconds"]))
        if "loc" in conf["metrics"]:
            res["localization"] = timings.run(f"{method}/loc", localization_metrics, scene,
                                              work / "loc" / method, pairs, features, matches)
        t = timings.data
        # only the steps of this run's metrics (timings.json may hold others from earlier runs)
        steps = [t.get(f"{method}/{s}", 0.0) if s in ("extract", "match") or s in conf["metrics"] else 0.0
                 for s in ("extract", "match", "sfm", "loc")]
        res["speed"] = {"extract_s_per_image": round(steps[0] / len(scene), 3) if external is None else None,
                        "match_s_per_pair": round(steps[1] / max(len(pairs), 1), 4),
                        "total_s": round(sum(steps), 1)}
        res["keypoints_per_image"] = round(float(np.mean(
            [len(io.read_features(features, n, ["keypoints"])["keypoints"]) for n in scene.names])), 1)
        if external is None and conf["random_weights"] and extractor_class(extractor["model"]).weights:
            res["label"] = "untrained"
        results[method] = res
    return results


# ---------------------------------------------------------------- the benchmark
def main(conf: dict, scene_dir, format: str, output, work=None, command: str = "") -> Path:
    """Run the benchmark on the scene ``scene_dir`` (a scenes.FORMATS format) with options
    ``conf`` (``default_conf`` updated); writes ``output``/results.json (returned),
    results.md and the plots. Intermediate files go to ``work`` (default output/work)."""
    conf = resolve_conf(default_conf, conf, "pose benchmark")
    methods = parse_methods(conf["methods"])
    if set(conf["metrics"]) - set(METRICS):
        raise ValueError(f"--metrics: unknown {sorted(set(conf['metrics']) - set(METRICS))}; "
                         f"choose from {', '.join(METRICS)}")
    scene = scenes.read_scene(scene_dir, format)
    scene = scene.subset(select_images(scene.names, conf["max_images"]))
    if len(scene) < 2:
        raise ValueError(f"{scene_dir}: need at least 2 images with cameras, found {len(scene)}")
    output = Path(output)
    rotation = conf["rotation"]
    variants = {"upright": "none"} if conf["upright"] or rotation == "none" else {}
    if rotation != "none":
        variants[f"rotated-{rotation.replace(',', '_')}-seed{conf['seed']}"] = rotation
    results = {"scene": str(scene_dir), "format": format, "images": len(scene),
               **{k: conf[k] for k in ("rotation", "seed", "max_size", "ransac_px", "max_keypoints")},
               "relf_weights": "random (untrained)" if conf["random_weights"] else (conf["weights"] or "shipped"),
               "command": command, "variants": {}}
    start = time.perf_counter()
    for name, variant_rotation in variants.items():
        variant_work = Path(work or output / "work") / name
        _, variant = scenes.rotated_variant(scene, variant_work, variant_rotation, conf["seed"], conf["max_size"])
        results["variants"][name] = {"rotation": variant_rotation,
                                     "methods": evaluate_variant(variant, variant_work, methods, conf)}
    # the top-level "methods" are those of the requested rotation
    results["methods"] = list(results["variants"].values())[-1]["methods"]
    io.write_json(output / "results.json", results)
    plots = plot_results(results, output)
    figures = "".join(f"\n![{p.stem}]({p.name})\n" for p in plots)
    title = f"Pose benchmark: {Path(scene_dir).name} ({format}), rotation {rotation}, seed {conf['seed']}"
    io.write_text(output / "results.md", f"# {title}\n\n`{command}`\n\n{results_markdown(results)}{figures}")
    summary = ", ".join(f"{m} AUC@5 {r['auc']['5']:.1f}" + (f" reg {r['registered']}/{r['total']}"
                                                            if "registered" in r else "")
                        for m, r in results["methods"].items() if "auc" in r)
    logger.info(f"benchmark pose: {len(scene)} images, {time.perf_counter() - start:.0f} s; {summary} "
                f"-> {output / 'results.json'}")
    return output / "results.json"
