"""The embedded demo: SfM with RELF and with SIFT on a scene rendered on the
spot with known cameras, scored against them. Nothing to download.

    relf-hloc demo [--outputs outputs/demo] [--methods relf-fast,sift] [--random-weights]

Steps: render the scene (``relf_hloc.datasets.render``: textured room corner, 12
cameras at 640x480, every other one rolled by 30-180 degrees); then for each
method (an extractor conf) run ``relf_hloc.sfm`` (extract, exhaustive pairs, match
with the method's default matcher, pycolmap reconstruction with the true intrinsics,
fixed: the comparison is about the features) and score the model with
``relf_hloc.eval.poses.score_poses`` (similarity alignment on the camera centres,
rotation errors in degrees, position errors in % of the scene size).

Writes into OUTPUTS: ``scene/`` (images, ground-truth COLMAP text model),
``<method>/`` (``relf_hloc.sfm``'s outputs: features, pairs, matches, ``sfm/``
COLMAP model, its own report.json), ``report.json``,
``cameras.png`` (top view: ground truth and aligned estimates) and
``summary.png`` (registered fraction and errors per method).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import pycolmap

from .log import logger
from . import sfm
from .confs import EXTRACTORS, MAX_KEYPOINTS, extractor_conf
from .datasets import render
from .datasets.scenes import Scene
from .eval.poses import model_poses, score_poses
from .features import extractor_class, identity
from .figures import plt, save_figure
from .io import read_json, write_json

METHODS = ("relf-fast", "sift")


def method_dir(output: Path, method: str, signature: dict) -> Path:
    """``output/method``, emptied when it holds results of other settings
    (so features of another scene or keypoint budget are never reused)."""
    folder = output / method
    stamp = folder / "settings.json"
    if folder.exists():
        try:
            same = read_json(stamp) == signature
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(folder)
    write_json(stamp, signature)
    return folder


def run_method(conf: dict, scene: Scene, folder: Path) -> Dict:
    """SfM of the scene with one extractor conf (``relf_hloc.sfm``) into ``folder``,
    scored; returns its report entry."""
    K = scene.views[0].K + np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])  # COLMAP's pixel-corner origin
    # a resumed run's step times cover only the work left: say which steps started from files
    resumed = [step for step, pattern in (("extract", "feats-*.h5"), ("match", "matches-*.h5"))
               if any(folder.glob(pattern))]
    sfm_report, failure = sfm.attempt(conf, scene.image_dir, folder, {
        "camera_mode": "SINGLE",
        "image_options": {"camera_model": "PINHOLE", "camera_params": f"{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}"},
        # the intrinsics are exact: keep them fixed so that only the features differ;
        # one thread: the seeded mapper then gives the same model on every run
        "mapper_options": {"ba_refine_focal_length": False, "ba_refine_extra_params": False, "num_threads": 1}},
        names=scene.names)
    rec = None if failure else pycolmap.Reconstruction(str(folder / "sfm"))
    entry = score_poses(scene, model_poses(rec))
    entry["registered"] = entry.pop("estimated")
    entry.update({k: sfm_report.get(k) for k in ("points", "mean_track_length",
                                                 "mean_reprojection_error_px")})
    entry["failure"] = failure
    entry["seconds"] = sfm_report["seconds"]
    entry["resumed_steps"] = resumed
    return entry


def format_table(report: Dict) -> str:
    """The demo's result table (plain text)."""
    header = ("method", "registered", "rot err (deg)", "pos err (% scene)", "within 2deg/2%",
              "points", "track len", "reproj (px)", "time (s)")
    rows = [header]
    for name, m in report["methods"].items():
        def num(v, fmt):
            return "-" if v is None else format(v, fmt)
        rows.append((name, f"{m['registered']}/{m['total']}", num(m["median_rot_err_deg"], ".3f"),
                     num(m["median_pos_err_pct"], ".3f"), f"{m['within_2deg_2pct']:.0f}%",
                     num(m.get("points"), "d"), num(m.get("mean_track_length"), ".2f"),
                     num(m.get("mean_reprojection_error_px"), ".2f"), f"{m['seconds']['total']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot_cameras(report: Dict, scene: Scene, path: Path) -> Path:
    """Top view (x, y) of the ground-truth cameras (rolled ones marked with their roll) and
    each method's aligned estimates, over the outline of the scene."""
    methods = list(report["methods"])
    fig, axes = plt.subplots(1, len(methods), figsize=(6.5 * len(methods), 5.5), squeeze=False)
    outline = [np.array([r.origin, r.origin + r.u_edge, r.origin + r.u_edge + r.v_edge,
                         r.origin + r.v_edge, r.origin]) for r in render.demo_scene()]
    for ax, name in zip(axes[0], methods):
        m = report["methods"][name]
        for i, rect in enumerate(outline):  # floor tiles as squares, walls and box sides as lines
            ax.plot(rect[:, 0], rect[:, 1], color="0.75", lw=1, label="scene (floor, walls, box)" if i == 0 else None)
        for i, v in enumerate(scene.views):  # viewing direction of the ground truth
            d = v.R[2][:2] / max(np.linalg.norm(v.R[2][:2]), 1e-9)
            ax.annotate("", v.center[:2] + 0.8 * d, v.center[:2], arrowprops=dict(arrowstyle="->", color="0.5"))
        ax.plot([], [], color="0.5", label="viewing direction")
        upright = np.array([v.center for v in scene.views if v.angle == 0])
        rolled = [v for v in scene.views if v.angle != 0]
        ax.scatter(upright[:, 0], upright[:, 1], s=70, facecolors="none", edgecolors="k",
                   label="true camera, upright")
        ax.scatter([v.center[0] for v in rolled], [v.center[1] for v in rolled], s=70, marker="D",
                   facecolors="none", edgecolors="C0", label="true camera, rolled\n(its roll in degrees)")
        for v in rolled:
            roll = (v.angle + 180) % 360 - 180
            ax.annotate(f"{roll:+.0f}", v.center[:2], xytext=(6, -10), textcoords="offset points",
                        fontsize=7, color="C0")
        est = m["per_image"]
        if est:
            e = np.array([v["centre"] for v in est.values()])
            g_reg = np.array([scene[n].center for n in est])
            ax.scatter(e[:, 0], e[:, 1], s=25, marker="x", color="C3", label="estimate (aligned)")
            for a, b in zip(g_reg, e):
                ax.plot([a[0], b[0]], [a[1], b[1]], color="C3", lw=1)
        missing = [v.center for v in scene.views if v.name not in est]
        if missing:
            mm = np.array(missing)
            ax.scatter(mm[:, 0], mm[:, 1], s=110, marker="s", facecolors="none", edgecolors="C1",
                       label="not registered")
        ax.set_title(f"{name}: {m['registered']}/{m['total']} registered, median error "
                     + ("-" if m["median_pos_err_pct"] is None else f"{m['median_pos_err_pct']:.2f}% of the scene"),
                     fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path, bbox_inches="tight")


def plot_summary(report: Dict, path: Path) -> Path:
    """Bars per method: registered fraction, median rotation and position errors."""
    names = list(report["methods"])
    ms = [report["methods"][n] for n in names]
    panels = [("registered (%)\nhigher is better", [100 * m["registered"] / m["total"] for m in ms]),
              ("median rotation error (deg)\nlower is better", [m["median_rot_err_deg"] for m in ms]),
              ("median position error (% of scene)\nlower is better", [m["median_pos_err_pct"] for m in ms])]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    for ax, (title, values) in zip(axes, panels):
        heights = [np.nan if v is None else v for v in values]
        bars = ax.bar(names, heights, color=[f"C{i}" for i in range(len(names))])
        for bar, v in zip(bars, values):
            ax.annotate("failed" if v is None else f"{v:.3g}", (bar.get_x() + bar.get_width() / 2,
                        0 if v is None else v), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def main(outputs="outputs/demo", methods: Sequence[str] = METHODS, num_cameras: int = 12,
         width: int = 640, height: int = 480, seed: int = 0, max_keypoints: int = MAX_KEYPOINTS,
         weights=None, random_weights: bool = False, overwrite: bool = False) -> Path:
    """Run the demo with each extractor conf of ``methods``; returns the path of report.json."""
    unknown = [m for m in methods if m not in EXTRACTORS]
    if unknown or not methods:
        raise ValueError(f"unknown demo method(s) {unknown}; choose extractor confs from {', '.join(EXTRACTORS)}")
    confs = {m: extractor_conf(m, max_keypoints, weights, random_weights) for m in methods}
    for conf in confs.values():  # missing weights are an error before the scene is rendered
        identity(conf["model"])
    output = Path(outputs)
    if overwrite:  # only what the demo writes: OUTPUTS may hold other files
        for name in ("scene", *methods):
            shutil.rmtree(output / name, ignore_errors=True)
    start = time.time()
    scene_dir = render.main(output / "scene", num_cameras, width, height, seed)
    scene = render.read_scene(scene_dir)
    logger.info(f"demo: scene of {len(scene)} cameras rendered in {scene_dir} ({time.time() - start:.1f} s)")
    scene_params = read_json(scene_dir / "scene.json")["params"]
    report = {"scene": {"path": str(scene_dir), "images": len(scene), **scene_params,
                        "angles_deg": {v.name: v.angle for v in scene.views},
                        "scene_size_m": scene.scene_size()},
              "methods": {}}
    if any(extractor_class(c["model"]).weights for c in confs.values()):
        report["relf_weights"] = "random (untrained)" if random_weights else str(weights or "shipped")
    for method, conf in confs.items():
        folder = method_dir(output, method, {"scene": scene_params, "features": identity(conf["model"])})
        logger.info(f"demo: {method}")
        report["methods"][method] = run_method(conf, scene, folder)
    report["seconds_total"] = round(time.time() - start, 1)
    plot_cameras(report, scene, output / "cameras.png")
    plot_summary(report, output / "summary.png")
    write_json(output / "report.json", report)
    logger.info(format_table(report))
    logger.info("rot err / pos err: medians over registered images after a similarity alignment; "
                "pos err in % of the scene size (largest distance between two ground-truth cameras, "
                f"{report['scene']['scene_size_m']:.2f} m)")
    logger.info(f"demo: {output / 'report.json'}, {output / 'cameras.png'}, {output / 'summary.png'} "
                f"({report['seconds_total']:.0f} s)")
    return output / "report.json"
