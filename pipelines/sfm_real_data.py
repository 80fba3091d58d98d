"""Real-data SfM check: `relf-hloc sfm` with SIFT and RELF, upright and rotated.

For every (rotation variant, method) it runs relf_hloc.sfm.main and collects its
report.json: registered images, 3D points, mean track length, reprojection error,
seconds. On scenes with ground-truth cameras (Strecha, Middlebury, COLMAP) it also
scores the model after a similarity alignment of the camera centres: median
rotation error (degrees) and median position error (% of the scene size).

    # hloc's 10 Sacre Coeur photos (no ground truth), upright and randomly rotated
    python pipelines/sfm_real_data.py --images ../shared/data/sacre_coeur \
        --outputs outputs/sacre_coeur --methods sift,relf-fast --random-weights
    # a Strecha scene with its ground truth, images downscaled to 1024 px
    python pipelines/sfm_real_data.py --scene ../shared/data/strecha/fountain-P11 \
        --format strecha --max-size 1024 --outputs outputs/fountain --methods sift,relf-fast

Rotated variants rotate each image in-plane by a seeded angle on an expanded
canvas (relf_hloc.scenes.rotate_image); with ground truth the cameras are
rotated exactly with them (relf_hloc.scenes.write_variant). Writes
OUTPUTS/results.json and OUTPUTS/results.md; reruns resume finished steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from relf_hloc import scenes, sfm
from relf_hloc.images import list_images, read_image


def parse_methods(text: str) -> List[Dict[str, Optional[str]]]:
    """'sift,relf-fast' -> [{'features': 'sift', 'conf': None}, {'features': 'relf', 'conf': 'relf-fast'}]."""
    methods = []
    for item in filter(None, (m.strip() for m in text.split(","))):
        if item in sfm.BASELINES:
            methods.append({"name": item, "features": item, "conf": None})
        elif item.startswith("relf"):
            methods.append({"name": item, "features": "relf", "conf": item})
        else:
            raise ValueError(f"unknown method '{item}': use {', '.join(sfm.BASELINES)} or a RELF conf")
    return methods


def write_rotated_images(image_dir: Path, output: Path, angles: Dict[str, float],
                         max_size: Optional[int]) -> Path:
    """Images without ground truth: downscale, rotate and write as PNG (resumable)."""
    import cv2

    output.mkdir(parents=True, exist_ok=True)
    for name, angle in angles.items():
        path = output / Path(name).with_suffix(".png")
        if path.is_file():
            continue
        image = read_image(image_dir / name)
        if max_size and max(image.shape[:2]) > max_size:
            s = max_size / max(image.shape[:2])
            image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        image = scenes.rotate_image(image, angle)
        tmp = path.with_name(path.stem + ".tmp.png")
        cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        tmp.replace(path)
    return output


def score_against_ground_truth(scene: scenes.Scene, sfm_dir: Path) -> Dict[str, float]:
    import pycolmap
    from relf_hloc.benchmarks.pose import model_poses, pose_accuracy

    errors = pose_accuracy(scene, model_poses(pycolmap.Reconstruction(sfm_dir)), align=True)
    if not errors:
        return {"rot_err_median_deg": None, "pos_err_median_pct": None}
    rot, pos = np.array(list(errors.values())).T
    return {"rot_err_median_deg": round(float(np.median(rot)), 3),
            "pos_err_median_pct": round(100 * float(np.median(pos)), 3)}


def markdown(results: Dict) -> str:
    has_gt = any("rot_err_median_deg" in r for r in results["runs"])
    head = "| images | method | registered | points | track length | reproj. (px) |" + \
           (" rot. err. (deg) | pos. err. (%) |" if has_gt else "") + " time (s) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results["runs"]:
        cells = [r["variant"], r["label"], f"{r['registered']}/{r['total']}",
                 str(r.get("points") or "-"), f"{r['mean_track_length']:.2f}" if r.get("points") else "-",
                 f"{r['mean_reprojection_error_px']:.3f}" if r.get("points") else "-"]
        if has_gt:
            cells += [str(r.get("rot_err_median_deg", "-")), str(r.get("pos_err_median_pct", "-"))]
        cells.append(f"{r['seconds'].get('total', 0):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="image folder without ground truth")
    src.add_argument("--scene", type=Path, help="scene folder with ground truth (see --format)")
    p.add_argument("--format", choices=scenes.FORMATS, default="strecha")
    p.add_argument("--outputs", type=Path, required=True)
    p.add_argument("--methods", default="sift,relf-fast", help="comma list: sift, rootsift, relf-* confs")
    p.add_argument("--random-weights", action="store_true", help="RELF untrained (labelled so)")
    p.add_argument("--max-keypoints", type=int, default=2000)
    p.add_argument("--rotations", default="none,random",
                   help="comma list of variants: none, 90, random (seeded angles)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-size", type=int, help="downscale images to this longer side first")
    p.add_argument("--camera-mode", default="AUTO")
    args = p.parse_args(argv)

    methods = parse_methods(args.methods)
    args.outputs.mkdir(parents=True, exist_ok=True)
    results = {"source": str(args.images or args.scene), "seed": args.seed,
               "max_keypoints": args.max_keypoints, "max_size": args.max_size, "runs": []}
    for rotation in args.rotations.split(","):
        variant_dir = args.outputs / f"rot-{rotation}"
        if args.scene is not None:
            scene = scenes.read_scene(args.scene, args.format)
            angles = scenes.rotation_angles(scene.names, rotation, args.seed)
            scene = scenes.write_variant(scene, variant_dir / "images", angles, args.max_size)
            image_dir = scene.image_dir
        else:
            scene = None
            angles = scenes.rotation_angles(list_images(args.images), rotation, args.seed)
            image_dir = write_rotated_images(args.images, variant_dir / "images", angles, args.max_size)
        for method in methods:
            label = method["name"] + (" (random weights)" if method["features"] == "relf"
                                      and args.random_weights else "")
            run_dir = variant_dir / method["name"]
            print(f"== {rotation}: {label}", flush=True)
            try:
                report_path = sfm.main(image_dir, run_dir, method["features"], method["conf"],
                                       args.max_keypoints, args.random_weights and
                                       method["features"] == "relf", camera_mode=args.camera_mode)
                report = json.loads(report_path.read_text())
            except RuntimeError as e:  # nothing registered: a result, not a crash
                if not (run_dir / "report.json").is_file():
                    raise
                print(f"   failed: {e}", file=sys.stderr)
                report = json.loads((run_dir / "report.json").read_text())
            run = {"variant": rotation, "method": method["name"], "label": label,
                   "angles": angles, **{k: report.get(k) for k in (
                       "registered", "total", "points", "mean_track_length",
                       "mean_reprojection_error_px", "seconds", "status")}}
            if scene is not None and report.get("status") == "ok":
                run.update(score_against_ground_truth(scene, run_dir / "sfm"))
            results["runs"].append(run)
            print("   " + json.dumps({k: v for k, v in run.items() if k != "angles"}), flush=True)
    (args.outputs / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    (args.outputs / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
