"""The embedded demo: SfM with RELF and with SIFT on a scene rendered on the
spot with known cameras, scored against them. Nothing to download.

    relf-hloc demo [--output outputs/demo] [--methods relf,sift] [--random-weights]

Steps: render the scene (``relf_hloc.render``: textured room corner, 12
cameras at 640x480, every other one rolled by 30-180 degrees); then for each
method extract features, match all pairs, reconstruct with pycolmap (the true
intrinsics, fixed: the comparison is about the features); align each model to
the ground truth by a similarity on the camera centres (Umeyama) and measure
every registered camera's rotation error (degrees) and position error (as a
fraction of the scene size: the largest distance between two ground-truth
camera centres). Unregistered cameras count as failures in the ``within``
fractions.

Writes into OUTPUT: ``scene/`` (images, ground-truth COLMAP text model),
``<method>/`` (``relf_hloc.sfm``'s outputs: features, pairs, matches, ``sfm/``
COLMAP model, its own report.json), ``report.json``,
``cameras.png`` (top view: ground truth and aligned estimates) and
``summary.png`` (registered fraction and errors per method).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from . import geometry, render

METHODS = ("relf", "sift")
# Thresholds (degrees, fraction of scene size) of the "cameras within" fractions.
WITHIN = ((2.0, 0.02), (5.0, 0.05))
# SIFT is matched the way hloc matches it (mutual nearest neighbour + Lowe's ratio);
# RELF with plain mutual nearest neighbours, the paper's protocol.
MATCH_RATIO = {"relf": None, "sift": 0.8}


def evaluate(rec, cameras: Sequence[render.Camera]) -> Dict:
    """Score a reconstruction (pycolmap.Reconstruction or None) against the
    ground-truth cameras. Returns the report entry of one method (medians over
    registered images; ``within_*`` fractions over all images)."""
    total = len(cameras)
    gt = {c.name: c for c in cameras}
    scale = geometry.scene_scale(np.array([c.centre for c in cameras]))
    poses = {}
    if rec is not None:
        for image_id in rec.reg_image_ids():
            image = rec.images[image_id]
            if image.name in gt:
                pose = image.cam_from_world()
                poses[image.name] = (pose.rotation.matrix(), np.asarray(pose.translation))
    names = sorted(poses)
    out = {"registered": len(names), "total": total, "rot_err_median_deg": None,
           "pos_err_median": None, "pos_err_unit": f"fraction of scene size ({scale:.3f} m)",
           "per_image": {}}
    for rot_thr, pos_thr in WITHIN:
        out[f"within_{rot_thr:g}deg_{pos_thr * 100:g}pct"] = 0.0
    err = geometry.align_named(poses, gt, names, scale=scale)
    if err is None:  # fewer than three cameras, or on a line: cannot be scored
        return out
    out["rot_err_median_deg"] = float(np.median(err["rot_err_deg"]))
    out["pos_err_median"] = float(np.median(err["pos_err"]))
    for rot_thr, pos_thr in WITHIN:
        ok = (err["rot_err_deg"] < rot_thr) & (err["pos_err"] < pos_thr)
        out[f"within_{rot_thr:g}deg_{pos_thr * 100:g}pct"] = float(ok.sum() / total)
    out["per_image"] = {n: {"roll_deg": gt[n].roll_deg, "rot_err_deg": float(r), "pos_err": float(p),
                            "centre_aligned": c.round(5).tolist()}
                        for n, r, p, c in zip(names, err["rot_err_deg"], err["pos_err"],
                                              err["centres_aligned"])}
    return out


def method_dir(output: Path, method: str, signature: dict) -> Path:
    """``output/method``, emptied when it holds results of other settings
    (so features of another scene or keypoint budget are never reused)."""
    folder = output / method
    stamp = folder / "settings.json"
    if folder.exists():
        try:
            same = json.loads(stamp.read_text()) == signature
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(signature, indent=1))
    return folder


def weights_identity(weights, random_weights: bool):
    """What identifies the RELF network in use (path, size, mtime), so features
    extracted with other weights (say, before retraining) are never reused."""
    if random_weights:
        return "random"
    from .model.relf import DEFAULT_WEIGHTS
    path = Path(weights or DEFAULT_WEIGHTS)
    if not path.is_file():
        return str(path)  # extraction will stop with a message naming it
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def run_method(method: str, scene: Path, folder: Path, cameras: Sequence[render.Camera],
               max_keypoints: int, conf: str, weights=None, random_weights: bool = False) -> Dict:
    """SfM of the scene with one method (``relf_hloc.sfm``: extract, exhaustive
    pairs, match, reconstruct) into ``folder``, scored; returns its report entry."""
    import pycolmap

    from . import sfm

    K = cameras[0].K
    # a resumed run's step times cover only the work left: say which steps started from files
    resumed = [step for step, pattern in (("extract", "feats-*.h5"), ("match", "matches-*.h5"))
               if any(folder.glob(pattern))]
    try:
        sfm.main(scene / "images", folder, features=method,
                 conf=conf if method == "relf" else None, max_keypoints=max_keypoints,
                 random_weights=random_weights, weights=weights, pairs="exhaustive",
                 names=[c.name for c in cameras], ratio=MATCH_RATIO[method], camera_mode="SINGLE",
                 image_options={"camera_model": "PINHOLE",
                                "camera_params": f"{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}"},
                 # the intrinsics are exact: keep them fixed so that only the features differ
                 mapper_options={"ba_refine_focal_length": False, "ba_refine_extra_params": False})
        rec, failure = pycolmap.Reconstruction(str(folder / "sfm")), None
    except RuntimeError as e:
        if not (folder / "report.json").exists():
            raise  # sfm writes its report on a failed reconstruction only; anything else is an error
        rec, failure = None, str(e)  # nothing verified or registered: a result, not a crash
    sfm_report = json.loads((folder / "report.json").read_text())
    entry = evaluate(rec, cameras)
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
        rows.append((name, f"{m['registered']}/{m['total']}", num(m["rot_err_median_deg"], ".3f"),
                     num(None if m["pos_err_median"] is None else 100 * m["pos_err_median"], ".3f"),
                     f"{100 * m['within_2deg_2pct']:.0f}%", num(m.get("points"), "d"),
                     num(m.get("mean_track_length"), ".2f"),
                     num(m.get("mean_reprojection_error_px"), ".2f"), f"{m['seconds']['total']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot_cameras(report: Dict, cameras: Sequence[render.Camera], path: Path) -> Path:
    """Top view (x, y) of the ground-truth camera centres and each method's
    aligned estimates, over the outline of the scene."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(report["methods"])
    fig, axes = plt.subplots(1, len(methods), figsize=(5 * len(methods), 5), squeeze=False)
    gt = {c.name: c.centre for c in cameras}
    outline = [np.array([r.origin, r.origin + r.u_edge, r.origin + r.u_edge + r.v_edge,
                         r.origin + r.v_edge, r.origin]) for r in render.demo_scene()]
    for ax, name in zip(axes[0], methods):
        m = report["methods"][name]
        for rect in outline:  # floor tiles as squares, walls and box sides as lines
            ax.plot(rect[:, 0], rect[:, 1], color="0.6", lw=1)
        for c in cameras:  # viewing direction of the ground truth
            d = c.R[2][:2] / max(np.linalg.norm(c.R[2][:2]), 1e-9)
            ax.annotate("", c.centre[:2] + 0.8 * d, c.centre[:2],
                        arrowprops=dict(arrowstyle="->", color="0.6"))
        g = np.array(list(gt.values()))
        ax.scatter(g[:, 0], g[:, 1], s=60, facecolors="none", edgecolors="k", label="ground truth")
        est = m["per_image"]
        if est:
            e = np.array([v["centre_aligned"] for v in est.values()])
            g_reg = np.array([gt[n] for n in est])
            ax.scatter(e[:, 0], e[:, 1], s=25, marker="x", color="C3", label="estimate (aligned)")
            for a, b in zip(g_reg, e):
                ax.plot([a[0], b[0]], [a[1], b[1]], color="C3", lw=1)
        missing = [n for n in gt if n not in est]
        if missing:
            mm = np.array([gt[n] for n in missing])
            ax.scatter(mm[:, 0], mm[:, 1], s=80, marker="s", facecolors="none", edgecolors="C1",
                       label="not registered")
        ax.set_title(f"{name}: {m['registered']}/{m['total']} registered")
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.legend(loc="upper center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_summary(report: Dict, path: Path) -> Path:
    """Bars per method: registered fraction, median rotation and position errors."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["methods"])
    ms = [report["methods"][n] for n in names]
    panels = [("registered (%)", [100 * m["registered"] / m["total"] for m in ms]),
              ("median rotation error (deg)", [m["rot_err_median_deg"] for m in ms]),
              ("median position error (% scene)",
               [None if m["pos_err_median"] is None else 100 * m["pos_err_median"] for m in ms])]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    for ax, (title, values) in zip(axes, panels):
        heights = [np.nan if v is None else v for v in values]
        bars = ax.bar(names, heights, color=[f"C{i}" for i in range(len(names))])
        for bar, v in zip(bars, values):
            ax.annotate("failed" if v is None else f"{v:.3g}", (bar.get_x() + bar.get_width() / 2,
                        0 if v is None else v), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(output="outputs/demo", methods: Sequence[str] = METHODS, num_cameras: int = 12,
         width: int = 640, height: int = 480, seed: int = 0, max_keypoints: int = 2000,
         conf: str = "relf-fast", weights=None, random_weights: bool = False,
         overwrite: bool = False) -> Path:
    """Run the demo; returns the path of report.json."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown demo method(s) {unknown}; choose from {', '.join(METHODS)}")
    output = Path(output)
    if overwrite:  # only what the demo writes: OUTPUT may hold other files
        for name in ("scene", *methods):
            shutil.rmtree(output / name, ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    start = time.time()
    scene = render.main(output / "scene", num_cameras, width, height, seed)
    cameras = render.read_scene(scene)
    render_seconds = time.time() - start
    print(f"demo: scene of {len(cameras)} cameras rendered in {scene} ({render_seconds:.1f} s)")
    scene_params = json.loads((scene / "scene.json").read_text())["params"]
    report = {"scene": {"path": str(scene), "images": len(cameras), **scene_params,
                        "rolls_deg": {c.name: c.roll_deg for c in cameras},
                        "scene_size_m": geometry.scene_scale(np.array([c.centre for c in cameras]))},
              "methods": {}}
    if "relf" in methods:
        report["relf_weights"] = "random (untrained)" if random_weights else str(weights or "shipped")
    for method in methods:
        settings = {"scene": scene_params, "max_keypoints": max_keypoints}
        if method == "relf":
            settings.update(conf=conf, weights=weights_identity(weights, random_weights))
        folder = method_dir(output, method, settings)
        print(f"demo: {method}")
        report["methods"][method] = run_method(method, scene, folder, cameras, max_keypoints, conf,
                                               weights, random_weights)
    report["seconds_total"] = round(time.time() - start, 1)
    plot_cameras(report, cameras, output / "cameras.png")
    plot_summary(report, output / "summary.png")
    from .sfm import write_json  # atomic (tmp + rename)
    write_json(output / "report.json", report)
    print(format_table(report))
    print("rot err / pos err: medians over registered images after a similarity alignment; "
          "pos err in % of the scene size (largest distance between two ground-truth cameras, "
          f"{report['scene']['scene_size_m']:.2f} m)")
    print(f"demo: {output / 'report.json'}, {output / 'cameras.png'}, {output / 'summary.png'} "
          f"({report['seconds_total']:.0f} s)")
    return output / "report.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("outputs/demo"), help="output folder")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--num-cameras", type=int, default=12)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0, help="scene seed (camera placement, rolls)")
    parser.add_argument("--max-keypoints", type=int, default=2000)
    parser.add_argument("--conf", default="relf-fast", help="RELF extractor conf")
    parser.add_argument("--weights", type=Path, help="RELF checkpoint (default: the shipped weights)")
    parser.add_argument("--random-weights", action="store_true",
                        help="untrained RELF network (pipeline check only: its numbers mean nothing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="render and compute everything again (default: reuse what matches)")


def run(args) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    main(args.output, methods, args.num_cameras, args.width, args.height, args.seed,
         args.max_keypoints, args.conf, args.weights, args.random_weights, args.overwrite)
    return 0
