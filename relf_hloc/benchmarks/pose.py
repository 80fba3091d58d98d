"""Rotated-camera pose benchmark: relative pose, SfM and localization accuracy
against ground-truth cameras, for RELF and the classical baselines, upright and
with cameras rolled about their optical axis.

    relf-hloc benchmark pose --scene DIR --format strecha|middlebury|colmap
        --rotation none|90|random [--seed S] --methods relf,sift,... --output DIR
        [--random-weights] [--max-images N] [--max-pairs N] [--max-size PX] [--work DIR]

Data path: scene (relf_hloc.scenes) -> variant images with exact cameras
(upright, and rotated by seeded angles; downscaled to ``--max-size`` first)
-> features per method (relf_hloc.extract, benchmarks.baselines, or any hloc
features file) -> exhaustive pairs (or a seeded subset) -> matches
(relf_hloc.match: mutual NN; ratio 0.8 for the classical baselines) ->
metrics -> OUTPUT/results.json, results.md, auc_vs_rotation.png, registered.png.
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
- SfM (relf_hloc.reconstruction, intrinsics estimated by COLMAP from its
  default prior, one camera per image as a rotated canvas has its own size): registered / total, points, track length, reprojection error; after
  a similarity alignment of the registered camera centres to the ground truth
  (relf_hloc.geometry.align_and_compare), median rotation and position errors
  and the fraction of ALL images within (2 deg, 2% of scene size) and
  (5 deg, 5%); an unregistered image counts as outside.
- localization (relf_hloc.triangulation + relf_hloc.localize): each image in
  turn is a query against a model triangulated from the ground-truth poses of
  the others (known-pose triangulation), the query's ground-truth intrinsics
  given; recall at (1 deg, 1%) and (5 deg, 5%) of scene size; a failed query
  counts as failed.
Scene size: the largest distance between two ground-truth camera centres.
Speed: seconds per image for extraction, per pair for matching, and the total
of the method's pipeline (extraction + matching + SfM + localization).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from .. import geometry, io, scenes
from ..scenes import Scene

THRESHOLDS = (5, 10, 20)
ROTATION_BINS = ((0, 45), (45, 90), (90, 135), (135, 180))
# method -> RELF extraction conf (CPU-sized pyramids) or a baseline method
RELF_CONFS = {"relf": "relf-fast", "relf-multi": "relf-fast-multi", "relf-paper": "relf"}
BASELINES = ("sift", "rootsift", "orb", "akaze")
# Ratio test for the classical baselines (hloc's NN-ratio practice); RELF uses
# plain mutual nearest neighbours, its paper's protocol.
BASELINE_RATIO = 0.8
METRICS = ("pose", "sfm", "loc")


# ---------------------------------------------------------------- relative pose
def estimate_relative_pose(kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                           threshold_px: float = 1.0, confidence: float = 0.99999,
                           max_iterations: int = 10000) -> Optional[Tuple[np.ndarray, np.ndarray, int]]:
    """Relative pose (x1 = R x0 + t, |t| = 1) from matched pixels [M, 2] of two
    calibrated views; None when it cannot be estimated. Returns (R, t, inliers)."""
    if len(kpts0) < 5:
        return None
    norm0, norm1 = _normalise(kpts0, K0), _normalise(kpts1, K1)
    focal = np.mean([_focal(K0), _focal(K1)])
    # USAC_ACCURATE (GC-RANSAC with local optimisation): plain cv2.RANSAC returns the
    # unrefined minimal-sample model, 0.6 deg off with 0.2 px noise where this is 0.04.
    try:
        E, mask = cv2.findEssentialMat(norm0, norm1, np.eye(3), method=cv2.USAC_ACCURATE,
                                       prob=confidence, threshold=threshold_px / focal,
                                       maxIters=max_iterations)
    except cv2.error:  # degenerate input (e.g. all matches on one pixel)
        return None
    if E is None or mask is None or E.shape[0] < 3:
        return None
    best = None
    for E_i in np.split(E, len(E) // 3):  # several solutions may come stacked
        n, R, t, _ = cv2.recoverPose(E_i, norm0, norm1, np.eye(3), mask=mask.copy())
        if best is None or n > best[2]:
            best = (R, t.ravel(), int(n))
    return best


def _normalise(points, K):
    """K^-1 [x, y, 1] for any invertible K (rotated cameras may have K[1, 0] != 0)."""
    h = np.concatenate([points, np.ones((len(points), 1))], 1) @ np.linalg.inv(K).T
    return h[:, :2] / h[:, 2:]


def _focal(K) -> float:
    return float(math.sqrt(abs(np.linalg.det(K[:2, :2]))))


def relative_pose_records(scene: Scene, pairs: Sequence[Tuple[str, str]], features, matches,
                          threshold_px: float = 1.0) -> List[dict]:
    """One record per pair: in-plane rotation difference, matches, inliers,
    rotation / translation / pose errors (degrees, inf when failed)."""
    records, keypoints = [], {}
    for n0, n1 in pairs:
        for n in (n0, n1):
            if n not in keypoints:
                keypoints[n] = io.read_features(features, n, ["keypoints"])["keypoints"].astype(np.float64)
        m, _ = io.read_matches(matches, n0, n1)
        v0, v1 = scene[n0], scene[n1]
        R_gt, t_gt = geometry.relative_pose(v0.R, v0.t, v1.R, v1.t)
        est = estimate_relative_pose(keypoints[n0][m[:, 0]], keypoints[n1][m[:, 1]], v0.K, v1.K,
                                     threshold_px)
        rec = {"pair": [n0, n1], "rotation_diff": round(scenes.inplane_rotation_difference(v0, v1), 3),
               "matches": int(len(m)), "inliers": 0, "err_R": math.inf, "err_t": math.inf}
        if est is not None:
            R, t, rec["inliers"] = est
            rec["err_R"], rec["err_t"] = geometry.relative_pose_error(R, t, R_gt, t_gt, ignore_sign=True)
        rec["error"] = max(rec["err_R"], rec["err_t"])
        records.append(rec)
    return records


def rotation_bin(angle: float) -> str:
    for lo, hi in ROTATION_BINS:
        if angle < hi or hi == 180:
            return f"{lo}-{hi}"
    raise AssertionError(angle)


def pose_summary(records: Sequence[dict]) -> dict:
    """AUC (percent) at THRESHOLDS overall and per in-plane rotation bin."""
    def auc(recs):
        return {str(k): round(v, 2) for k, v in geometry.pose_auc([r["error"] for r in recs],
                                                                   THRESHOLDS).items()}
    by_bin = {}
    for lo, hi in ROTATION_BINS:
        recs = [r for r in records if rotation_bin(r["rotation_diff"]) == f"{lo}-{hi}"]
        by_bin[f"{lo}-{hi}"] = {"auc": auc(recs), "pairs": len(recs)} if recs else {"auc": None, "pairs": 0}
    return {"auc": auc(records), "auc_by_rotation": by_bin, "pairs": len(records),
            "failed_pairs": sum(not math.isfinite(r["error"]) for r in records),
            "matches_per_pair": round(float(np.mean([r["matches"] for r in records])), 1),
            "inliers_per_pair": round(float(np.mean([r["inliers"] for r in records])), 1)}


# ---------------------------------------------------------------- SfM and localization
def model_poses(rec) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """{image name: (world-to-camera R, t)} of a pycolmap reconstruction's registered images."""
    poses = {}
    for image_id in rec.reg_image_ids():
        image = rec.images[image_id]
        pose = image.cam_from_world()
        poses[image.name] = (np.asarray(pose.rotation.matrix()), np.asarray(pose.translation, float))
    return poses


def pose_accuracy(scene: Scene, estimated: Dict[str, Tuple[np.ndarray, np.ndarray]],
                  align: bool) -> Dict[str, Tuple[float, float]]:
    """{name: (rotation error deg, position error as a fraction of scene size)}
    for the estimated images; with ``align`` a similarity on camera centres first
    maps the estimate to the ground-truth frame (needs 3 or more images)."""
    names = [n for n in scene.names if n in estimated]
    size = scene.scene_size()
    if align:
        res = geometry.align_named(estimated, scene, names, scale=size)
        if res is None:
            return {}
        return {n: (float(r), float(p)) for n, r, p in zip(names, res["rot_err_deg"], res["pos_err"])}
    out = {}
    for n in names:
        R, t = estimated[n]
        v = scene[n]
        out[n] = (float(geometry.rotation_error_deg(R, v.R)),
                  float(np.linalg.norm(-R.T @ t - v.center) / size))
    return out


def recall_within(errors: Dict[str, Tuple[float, float]], total: int, deg: float, frac: float) -> float:
    """Percent of ``total`` images whose errors are within (deg, frac); missing ones fail."""
    return round(100.0 * sum(r <= deg and p <= frac for r, p in errors.values()) / total, 2)


def sfm_metrics(scene: Scene, sfm_dir: Path, pairs_path: Path, features: Path, matches: Path,
                max_seconds: Optional[float] = None) -> dict:
    """Incremental SfM of the scene's images; max_seconds caps COLMAP's mapping
    (with poor matches it tries up to 50 models of 200 initial pairs each)."""
    from .. import colmap_utils, reconstruction

    total = len(scene)
    mapper_options = {"max_runtime_seconds": int(max_seconds)} if max_seconds else None
    try:
        rec = reconstruction.main(sfm_dir, scene.image_dir, pairs_path, features, matches,
                                  camera_mode="PER_IMAGE", image_list=scene.names,
                                  mapper_options=mapper_options)
    except RuntimeError as e:  # nothing verified / registered: a real outcome, not a crash
        return {"registered": 0, "total": total, "sfm_error": str(e)}
    summary = colmap_utils.model_summary(rec, total)
    errors = pose_accuracy(scene, model_poses(rec), align=True)
    rot = [e[0] for e in errors.values()]
    pos = [e[1] for e in errors.values()]
    return {"registered": summary["registered"], "total": total, "points": summary["points"],
            "track_length": summary["mean_track_length"],
            "reprojection_px": summary["mean_reprojection_error_px"],
            "median_rot_err_deg": round(float(np.median(rot)), 3) if rot else None,
            "median_pos_err_pct": round(100 * float(np.median(pos)), 3) if pos else None,
            "within_2deg_2pct": recall_within(errors, total, 2, 0.02),
            "within_5deg_5pct": recall_within(errors, total, 5, 0.05)}


def localization_metrics(scene: Scene, work_dir: Path, pairs: Sequence[Tuple[str, str]],
                         features: Path, matches: Path) -> dict:
    """Leave-one-out: each image is localized against a model triangulated from
    the ground-truth poses of all the other images (with its known camera)."""
    from .. import localize, triangulation

    poses, failures = {}, {}
    for query in tqdm(scene.names, desc="localization (leave one out)", unit="query", leave=False):
        qdir = work_dir / Path(query).stem
        db_pairs = [p for p in pairs if query not in p]
        q_pairs = [(query, p[1] if p[0] == query else p[0]) for p in pairs if query in p]
        io.write_pairs(qdir / "pairs-db.txt", db_pairs)
        io.write_pairs(qdir / "pairs-query.txt", q_pairs)
        others = reference_model(scene.subset(n for n in scene.names if n != query))
        try:
            model = triangulation.main(qdir / "model", others, scene.image_dir, qdir / "pairs-db.txt",
                                       features, matches)
        except RuntimeError as e:  # no 3D point: the query cannot be localized
            failures[query] = str(e)
            continue
        camera = gt_camera(scene[query])
        poses_file = localize.main(model, [(query, camera)], features, matches, qdir / "poses.txt",
                                   pairs=qdir / "pairs-query.txt")
        for name, pose in localize.read_poses(poses_file).items():
            poses[name] = (np.asarray(pose.rotation.matrix()), np.asarray(pose.translation, float))
    accuracy = pose_accuracy(scene, poses, align=False)
    total = len(scene)
    return {"queries": total, "localized": len(accuracy), "no_reference_points": len(failures),
            "recall_1deg_1pct": recall_within(accuracy, total, 1, 0.01),
            "recall_5deg_5pct": recall_within(accuracy, total, 5, 0.05)}


def gt_camera(view, camera_id: int = 1):
    """pycolmap PINHOLE camera of a view (COLMAP's pixel-corner origin: +0.5).
    K's off-diagonal terms (only for rotations off the 90-degree grid when
    fx != fy; well under a pixel on the shared scenes) are not representable
    in COLMAP and are dropped."""
    import pycolmap

    K = view.K
    return pycolmap.Camera(model="PINHOLE", width=view.size[0], height=view.size[1],
                           params=np.array([K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]),
                           camera_id=camera_id)


def reference_model(scene: Scene):
    """pycolmap.Reconstruction with the scene's ground-truth cameras and poses,
    one camera per image, no 3D points."""
    import pycolmap

    rec = pycolmap.Reconstruction()
    for image_id, view in enumerate(scene.views, 1):
        rec.add_camera_with_trivial_rig(gt_camera(view, image_id))
        image = pycolmap.Image(name=view.name, camera_id=image_id, image_id=image_id)
        rec.add_image_with_trivial_frame(image, pycolmap.Rigid3d(pycolmap.Rotation3d(view.R), view.t))
    return rec


# ---------------------------------------------------------------- methods
def parse_methods(text: str) -> Dict[str, Optional[str]]:
    """``relf,sift,mine={work}/{variant}/mine.h5`` -> {label: None (built in) or features path}."""
    methods = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        label, sep, path = item.partition("=")
        if sep:
            methods[label] = path
        elif item in RELF_CONFS or item in BASELINES:
            methods[item] = None
        else:
            raise ValueError(f"unknown method '{item}': choose from "
                             f"{', '.join(list(RELF_CONFS) + list(BASELINES))} or LABEL=FEATURES.h5")
    if not methods:
        raise ValueError("--methods: no method given")
    return methods


def extract_features(method: str, scene: Scene, output: Path, max_keypoints: int, args) -> Path:
    if method in RELF_CONFS:
        from .. import extract
        return extract.main(scene.image_dir, output, conf=RELF_CONFS[method],
                            max_keypoints=max_keypoints, device=args.device,
                            random_weights=args.random_weights, weights=args.weights,
                            names=scene.names)
    from . import baselines
    return baselines.main(scene.image_dir, output, method, max_keypoints, names=scene.names)


def match_features(pairs: Path, features: Path, output: Path, ratio: Optional[float]) -> Path:
    """Mutual nearest neighbours (dot product of L2-normalised descriptors; every
    stored descriptor is unit-norm, binary ones included), optional ratio test."""
    from .. import match
    return match.main(pairs, features, output, ratio=ratio, progress=False)


def select_pairs(names: Sequence[str], max_pairs: Optional[int], seed: int) -> List[Tuple[str, str]]:
    """Exhaustive pairs, or a seeded random subset of them."""
    from ..pairs import exhaustive
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


# ---------------------------------------------------------------- one variant
class Timings:
    """Seconds per step, kept in a json file so a resumed run keeps the first measurement."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}

    def run(self, key: str, fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        elapsed = time.perf_counter() - start
        if key not in self.data or elapsed > 0.5 * self.data[key]:  # not a no-op resume
            self.data[key] = elapsed
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            tmp.replace(self.path)
        return out


def cache_name(method: str, args) -> str:
    """File name of a method's features in the work folder; RELF's names its weights
    (``weights_tag``), so a rerun with other weights never reuses stale features."""
    if method not in RELF_CONFS:
        return method
    from ..model.relf import weights_tag
    return f"{method}-{weights_tag(args.weights, args.random_weights)}"


def evaluate_variant(scene: Scene, work: Path, methods: Dict[str, Optional[str]], args) -> dict:
    """All metrics of all methods on one (upright or rotated) variant scene."""
    pairs = select_pairs(scene.names, args.max_pairs, args.seed)
    pairs_path = work / "pairs.txt"
    io.write_pairs(pairs_path, pairs)
    timings = Timings(work / "timings.json")
    results = {}
    for method, external in methods.items():
        print(f"[{work.name}] {method}: {len(scene)} images, {len(pairs)} pairs")
        if external is None:
            features = work / "features" / f"{cache_name(method, args)}.h5"
            timings.run(f"{method}/extract", extract_features, method, scene, features,
                        args.max_keypoints, args)
        else:
            features = Path(external.replace("{work}", str(work.parent)).replace("{variant}", work.name))
            if not features.is_file():
                raise FileNotFoundError(f"{features}: features file of method '{method}' not found")
        matches = work / "matches" / f"{cache_name(method, args) if external is None else method}.h5"
        ratio = BASELINE_RATIO if method in BASELINES else None if method in RELF_CONFS else args.ratio
        timings.run(f"{method}/match", match_features, pairs_path, features, matches, ratio)
        res = {"features": str(features)}
        if "pose" in args.metrics:
            records = relative_pose_records(scene, pairs, features, matches, args.ransac_px)
            res.update(pose_summary(records))
            finite = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in r.items()} for r in records]  # failed pairs: null errors
            write_atomic(work / f"pairs-{method}.json", json.dumps(finite, indent=0))
        if "sfm" in args.metrics:
            res.update(timings.run(f"{method}/sfm", sfm_metrics, scene, work / "sfm" / method,
                                   pairs_path, features, matches, args.sfm_max_seconds))
        if "loc" in args.metrics:
            res["localization"] = timings.run(f"{method}/loc", localization_metrics, scene,
                                              work / "loc" / method, pairs, features, matches)
        t = timings.data
        # only the steps of this run's metrics (timings.json may hold others from earlier runs)
        steps = [t.get(f"{method}/{s}", 0.0) if s in ("extract", "match") or s in args.metrics else 0.0
                 for s in ("extract", "match", "sfm", "loc")]
        res["speed"] = {"extract_s_per_image": round(steps[0] / len(scene), 3) if external is None else None,
                        "match_s_per_pair": round(steps[1] / max(len(pairs), 1), 4),
                        "total_s": round(sum(steps), 1)}
        res["keypoints_per_image"] = round(float(np.mean(
            [len(io.read_features(features, n, ["keypoints"])["keypoints"]) for n in scene.names])), 1)
        if method in RELF_CONFS and args.random_weights:
            res["label"] = "untrained"
        results[method] = res
    return results


def variant_scene(scene: Scene, output: Path, rotation: str, seed: int, max_size: int) -> Scene:
    angles = scenes.rotation_angles(scene.names, rotation, seed)
    variant = scenes.write_variant(scene, output / "images", angles, max_size)
    cameras = {v.name: {"angle": v.angle, "K": v.K.tolist(), "R": v.R.tolist(), "t": v.t.tolist(),
                        "size": list(v.size)} for v in variant.views}
    (output / "cameras.json").write_text(json.dumps(cameras, indent=1))
    return variant


# ---------------------------------------------------------------- report
def results_markdown(results: dict) -> str:
    cols = ["variant", "method", "AUC@5", "@10", "@20", "AUC@10 by rotation 0-45/45-90/90-135/135-180",
            "reg.", "points", "track", "reproj px", "med. rot deg", "med. pos %", "(2deg,2%)", "(5deg,5%)",
            "loc (1deg,1%)", "loc (5deg,5%)", "s/img extr.", "s/pair match", "total s"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

    def f(x, fmt="{:.1f}"):
        return "-" if x is None else fmt.format(x)

    for variant, block in results["variants"].items():
        for method, r in block["methods"].items():
            auc = r.get("auc", {})
            bins = "/".join(f((b["auc"] or {}).get("10")) for b in r.get("auc_by_rotation", {}).values())
            loc = r.get("localization", {})
            name = method + (" (untrained)" if r.get("label") == "untrained" else "")
            cells = [variant, name, f(auc.get("5")), f(auc.get("10")), f(auc.get("20")), bins or "-",
                     f"{r['registered']}/{r['total']}" if "registered" in r else "-",
                     f(r.get("points"), "{}"), f(r.get("track_length"), "{:.2f}"),
                     f(r.get("reprojection_px"), "{:.2f}"), f(r.get("median_rot_err_deg"), "{:.2f}"),
                     f(r.get("median_pos_err_pct"), "{:.2f}"), f(r.get("within_2deg_2pct")),
                     f(r.get("within_5deg_5pct")), f(loc.get("recall_1deg_1pct")),
                     f(loc.get("recall_5deg_5pct")), f(r["speed"]["extract_s_per_image"], "{:.2f}"),
                     f(r["speed"]["match_s_per_pair"], "{:.4f}"), f(r["speed"]["total_s"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_results(results: dict, output: Path) -> List[Path]:
    """AUC@5/10/20 against the in-plane rotation bin; registered fraction per method."""
    import matplotlib.pyplot as plt

    from .plots import _save  # atomic PNG writes (plots also selects the Agg backend)

    paths = []
    bins = [f"{lo}-{hi}" for lo, hi in ROTATION_BINS]
    fig, axes = plt.subplots(1, len(THRESHOLDS), figsize=(5 * len(THRESHOLDS), 4), squeeze=False)
    methods = list(dict.fromkeys(m for block in results["variants"].values() for m in block["methods"]))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}  # one colour per method, one style per variant
    for ax, thr in zip(axes[0], THRESHOLDS):
        for variant, block in results["variants"].items():
            for method, r in block["methods"].items():
                if "auc_by_rotation" not in r:
                    continue
                y = [(r["auc_by_rotation"][b]["auc"] or {}).get(str(thr), np.nan) for b in bins]
                ax.plot(bins, y, color=colors[method], marker="o" if variant == "upright" else "s",
                        linestyle="-" if variant == "upright" else "--", label=f"{method} ({variant})")
        ax.set(title=f"relative pose AUC@{thr} deg", xlabel="in-plane rotation between views (deg)",
               ylabel="AUC (%)", ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    paths.append(_save(fig, output / "auc_vs_rotation.png"))

    # registered fraction next to the fraction actually within (5 deg, 5%): a model can
    # register every image and still be wrong
    bars = [(method, variant, r) for variant, block in results["variants"].items()
            for method, r in block["methods"].items() if "registered" in r]
    if bars:
        fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(bars)), 4))
        x = np.arange(len(bars))
        ax.bar(x - 0.2, [100 * r["registered"] / r["total"] for _, _, r in bars], 0.4,
               color=[colors[m] for m, _, _ in bars], label="registered")
        ax.bar(x + 0.2, [r.get("within_5deg_5pct", 0.0) for _, _, r in bars], 0.4,
               color=[colors[m] for m, _, _ in bars], alpha=0.45, hatch="//",
               label="within (5 deg, 5%)")
        ax.set_xticks(x, [f"{m}\n{v.split('-seed')[0]}" for m, v, _ in bars], fontsize=8)
        ax.set(ylabel="images (%)", ylim=(0, 105), title="SfM: registered fraction per method")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        paths.append(_save(fig, output / "registered.png"))
    return paths




def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# ---------------------------------------------------------------- command
def command_line(args) -> str:
    """The command as typed (from the console entry point), else rebuilt from args."""
    if sys.argv[1:3] == ["benchmark", "pose"]:
        return "relf-hloc " + shlex.join(sys.argv[1:])
    options = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, list) else v}"
               for k, v in sorted(vars(args).items())
               if k not in ("command", "benchmark", "func") and v not in (None, False)]
    return "relf-hloc benchmark pose " + shlex.join(options)


def main(args) -> Path:
    """Run the benchmark described by ``args`` (see add_arguments); returns results.json."""
    methods = parse_methods(args.methods)
    unknown = set(args.metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"--metrics: unknown {sorted(unknown)}; choose from {', '.join(METRICS)}")
    scene = scenes.read_scene(args.scene, args.format)
    scene = scene.subset(select_images(scene.names, args.max_images))
    if len(scene) < 2:
        raise ValueError(f"{args.scene}: need at least 2 images with cameras, found {len(scene)}")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    variants = {} if args.no_upright and args.rotation != "none" else {"upright": "none"}
    if args.rotation != "none":
        variants[f"rotated-{args.rotation.replace(',', '_')}-seed{args.seed}"] = args.rotation
    results = {"scene": str(args.scene), "format": args.format, "rotation": args.rotation,
               "seed": args.seed, "images": len(scene), "max_size": args.max_size,
               "ransac_px": args.ransac_px, "max_keypoints": args.max_keypoints,
               "relf_weights": "random (untrained)" if args.random_weights else (args.weights or "shipped"),
               "command": command_line(args),
               "variants": {}}
    start = time.perf_counter()
    for name, rotation in variants.items():
        work = Path(args.work or output / "work") / name
        variant = variant_scene(scene, work, rotation, args.seed, args.max_size)
        results["variants"][name] = {"rotation": rotation,
                                     "methods": evaluate_variant(variant, work, methods, args)}
    # the top-level "methods" are those of the requested rotation
    results["methods"] = list(results["variants"].values())[-1]["methods"]
    write_atomic(output / "results.json", json.dumps(results, indent=1) + "\n")
    plots = plot_results(results, output)
    figures = "".join(f"\n![{p.stem}]({p.name})\n" for p in plots)
    title = f"Pose benchmark: {Path(args.scene).name} ({args.format}), rotation {args.rotation}, seed {args.seed}"
    write_atomic(output / "results.md", f"# {title}\n\n`{results['command']}`\n\n"
                 f"{results_markdown(results)}{figures}")
    summary = ", ".join(f"{m} AUC@5 {r['auc']['5']:.1f}" + (f" reg {r['registered']}/{r['total']}"
                                                            if "registered" in r else "")
                        for m, r in results["methods"].items() if "auc" in r)
    print(f"benchmark pose: {len(scene)} images, {time.perf_counter() - start:.0f} s; {summary} "
          f"-> {output / 'results.json'}")
    return output / "results.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``relf-hloc benchmark pose ...``: the pose benchmark as a nested subcommand."""
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    add_pose_arguments(sub.add_parser("pose", help=__doc__.splitlines()[0], description=__doc__.splitlines()[0]))


def add_pose_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scene", required=True, type=Path, help="scene folder")
    parser.add_argument("--format", required=True, choices=scenes.FORMATS)
    parser.add_argument("--rotation", default="random",
                        help="none, 90 (multiples of 90), random (uniform [0, 360)) or a comma list "
                             "of angles; the upright scene is also run unless --no-upright")
    parser.add_argument("--seed", type=int, default=0, help="seed of the angles and pair subset")
    parser.add_argument("--methods", default="relf,sift",
                        help=f"comma list of {', '.join(list(RELF_CONFS) + list(BASELINES))} or "
                             "LABEL=FEATURES.h5 ({work} and {variant} in the path are replaced by the work folder and "
                             "the variant's subfolder name, e.g. 'mine={work}/{variant}/mine.h5', extracted "
                             "from {work}/{variant}/images)")
    parser.add_argument("--output", required=True, type=Path,
                        help="output folder: results.json, results.md, plots")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the rotated images, features, matches and models "
                             "(default: OUTPUT/work; reruns resume from it)")
    parser.add_argument("--no-upright", action="store_true", help="skip the upright reference run")
    parser.add_argument("--metrics", default="pose,sfm,loc", type=lambda s: s.split(","),
                        help="comma list of pose, sfm, loc")
    parser.add_argument("--max-images", type=int, default=None, help="evenly spaced subset of images")
    parser.add_argument("--max-pairs", type=int, default=None, help="seeded random subset of pairs")
    parser.add_argument("--max-size", type=int, default=640,
                        help="downscale images to this longer side before rotating (default 640)")
    parser.add_argument("--max-keypoints", type=int, default=2000)
    parser.add_argument("--ratio", type=float, default=None,
                        help="ratio test when matching LABEL=FEATURES.h5 methods (default: plain mutual NN; "
                             f"baselines use {BASELINE_RATIO}, RELF plain mutual NN)")
    parser.add_argument("--ransac-px", type=float, default=1.0,
                        help="essential-matrix RANSAC threshold in pixels (default 1)")
    parser.add_argument("--random-weights", action="store_true",
                        help="RELF with untrained random weights (results labelled 'untrained')")
    parser.add_argument("--sfm-max-seconds", type=float, default=300,
                        help="cap on COLMAP's incremental mapping per method and variant (default 300; "
                             "the largest model found by then is scored)")
    parser.add_argument("--weights", default=None, help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])


def run(args) -> int:
    main(args)
    return 0
