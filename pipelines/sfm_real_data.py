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
canvas (relf_hloc.images.rotate_image); with ground truth the cameras are
rotated exactly with them (relf_hloc.datasets.scenes.write_variant). Writes
OUTPUTS/results.json and OUTPUTS/results.md; reruns resume finished steps.

Same start for every variant: each image gets the initial camera COLMAP would
guess for the UPRIGHT original (SIMPLE_RADIAL, focal 1.2 x its longer side,
principal point at the centre), since the guess for an expanded rotated canvas
would be up to 41% longer. Mapper: COLMAP's defaults except
``mapper.init_min_tri_angle=8`` (16 by default), because these small sets of
photos have few pairs with a 16-degree baseline: with 16, SIFT registered 3/10
upright Sacre Coeur images for 3 of 4 mapper seeds; with 8, 10/10 for all.
``--seeds`` reruns only the mapping with other seeds and reports each. Mapping runs on one
thread, so that a seed gives the same model on every run.

``--matchers`` compares matcher confs on the same features and pairs (each method's own
matcher by default): one run per (variant, method, matcher), with the median verified
inliers per pair (F-matrix, USAC-MAGSAC, 1 px; ``relf_hloc.eval.matches``). The models are
``OUTPUTS/rot-V/METHOD/sfm`` for the first seed (the last matcher's) and
``sfm-MATCHES-seedS`` for the others (MATCHES: the matcher conf's output name).

    # how to match RELF in SfM: mutual NN, ratio tests, a similarity floor
    python pipelines/sfm_real_data.py --images ../shared/data/sacre_coeur --outputs outputs/matchers \
        --methods relf --matchers relf-nn,relf-ratio,relf-floor --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional


from relf_hloc import sfm  # first: it imports OpenCV before pycolmap (see relf_hloc/__init__.py)
from relf_hloc.confs import EXTRACTORS, MATCHERS, default_matcher, extractor_conf, get_conf
from relf_hloc.datasets import scenes
from relf_hloc.eval.matches import median_verified_inliers
from relf_hloc.eval.poses import model_poses, score_poses
from relf_hloc.images import list_images, read_image, rotate_image, write_image
from relf_hloc.io import read_json, read_pairs, write_json, write_text
from relf_hloc.pipeline import colmap, reconstruction

import pycolmap  # noqa: E402  (after OpenCV)


def parse_methods(text: str) -> List[str]:
    """'sift,relf-fast' -> extractor conf names, checked."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in EXTRACTORS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}: use extractor confs ({', '.join(EXTRACTORS)})")
    return methods


def parse_matchers(text: Optional[str]) -> List[str]:
    """'relf-nn,relf-ratio' -> matcher conf names, checked; [] = each method's own."""
    matchers = [m.strip() for m in (text or "").split(",") if m.strip()]
    unknown = [m for m in matchers if m not in MATCHERS]
    if unknown:
        raise ValueError(f"unknown matcher(s) {unknown}: use matcher confs ({', '.join(MATCHERS)})")
    return matchers


def write_rotated_images(image_dir: Path, output: Path, angles: Dict[str, float],
                         max_size: Optional[int]) -> Dict[str, tuple]:
    """Images without ground truth: downscale, rotate and write as PNG.
    Returns the (w, h) of each downscaled upright image."""
    import cv2

    sizes = {}
    for name, angle in angles.items():
        image = read_image(image_dir / name)
        if max_size and max(image.shape[:2]) > max_size:
            s = max_size / max(image.shape[:2])
            image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        sizes[name] = (image.shape[1], image.shape[0])
        path = output / Path(name).with_suffix(".png")
        if not path.is_file():
            write_image(path, rotate_image(image, angle)[0])
    return sizes


def upright_camera_priors(sizes: Dict[str, tuple], angles: Dict[str, float], rotated_dir: Path,
                          factor: float = 1.2):
    """{rotated image name: pycolmap.Camera} with the focal COLMAP guesses for the
    upright original (factor x its longer side) and the rotated image's centre."""
    cameras = {}
    for name, (w0, h0) in sizes.items():
        new_name = Path(name).with_suffix(".png").as_posix()
        h, w = read_image(rotated_dir / new_name).shape[:2]
        cameras[new_name] = pycolmap.Camera(model="SIMPLE_RADIAL", width=w, height=h,
                                            params=[factor * max(w0, h0), w / 2, h / 2, 0.0])
    return cameras


def score_against_ground_truth(scene: scenes.Scene, sfm_dir: Path) -> Dict[str, float]:
    score = score_poses(scene, model_poses(pycolmap.Reconstruction(sfm_dir)))
    return {k: score[k] for k in ("median_rot_err_deg", "median_pos_err_pct")}


def markdown(results: Dict) -> str:
    has_gt = any("median_rot_err_deg" in r for r in results["runs"])
    seeds = len(results["mapper_seeds"]) > 1
    head = "| rotation | method | matcher | registered | points | track length | reproj. (px) |" + \
           (" rot. err. (deg) | pos. err. (%) |" if has_gt else "") + " time (s) | verified inliers/pair |" + \
           (" registered per mapper seed |" if seeds else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results["runs"]:
        cells = [r["variant"], r["label"], r["matcher"], f"{r['registered']}/{r['total']}",
                 str(r.get("points") or "-"), f"{r['mean_track_length']:.2f}" if r.get("points") else "-",
                 f"{r['mean_reprojection_error_px']:.3f}" if r.get("points") else "-"]
        if has_gt:
            cells += [f"{r['median_rot_err_deg']:.3f}" if r.get("median_rot_err_deg") is not None else "-",
                      f"{r['median_pos_err_pct']:.3f}" if r.get("median_pos_err_pct") is not None else "-"]
        cells.append(f"{r['seconds'].get('total', 0):.0f}")
        cells.append(f"{r['verified_inliers']:.0f}")
        if len(r["registered_per_seed"]) > 1:
            cells.append("/".join(str(v) for v in r["registered_per_seed"].values()))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_seeds(conf, matcher: dict, image_dir: Path, run_dir: Path, cameras, mapper_options,
              seeds: List[int], scene: Optional[scenes.Scene]) -> dict:
    """``relf-hloc sfm`` with the first mapper seed (features and pairs shared by every
    matcher in ``run_dir``), then the mapping alone with the other seeds."""
    try:
        report_path = sfm.main(conf, image_dir, run_dir, matcher, cameras=cameras,
                               mapper_options={**mapper_options, "random_seed": seeds[0]})
        report = read_json(report_path)
    except RuntimeError as e:  # nothing registered: a result, not a crash
        if not (run_dir / "report.json").is_file():
            raise
        print(f"   failed: {e}", file=sys.stderr)
        report = read_json(run_dir / "report.json")
    run = {k: report.get(k) for k in ("registered", "total", "points", "mean_track_length",
                                      "mean_reprojection_error_px", "seconds", "status")}
    if scene is not None and report.get("status") == "ok":
        run.update(score_against_ground_truth(scene, run_dir / "sfm"))
    paths = [run_dir / report[k]["file"] for k in ("pairs", "features", "matches")]
    run["verified_inliers"] = median_verified_inliers(paths[1], paths[2], read_pairs(paths[0]))
    run["registered_per_seed"] = {seeds[0]: report.get("registered")}
    for seed in seeds[1:]:  # mapping only: same features, pairs and matches
        try:
            rec = reconstruction.main(run_dir / f"sfm-{matcher['output']}-seed{seed}", image_dir, *paths,
                                      cameras=cameras, mapper_options={**mapper_options, "random_seed": seed})
            run["registered_per_seed"][seed] = rec.num_reg_images()
        except RuntimeError:
            run["registered_per_seed"][seed] = 0
    return run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="image folder without ground truth")
    src.add_argument("--scene", type=Path, help="scene folder with ground truth (see --format)")
    p.add_argument("--format", choices=scenes.FORMATS, default="strecha")
    p.add_argument("--outputs", type=Path, required=True)
    p.add_argument("--methods", default="sift,relf-fast", help="comma list: sift, rootsift, relf-* confs")
    p.add_argument("--random-weights", action="store_true", help="RELF untrained (labelled so)")
    p.add_argument("--weights", type=Path, help="RELF checkpoint (default: the shipped weights)")
    p.add_argument("--max-keypoints", type=int, default=2000)
    p.add_argument("--rotations", default="none,random",
                   help="comma list of variants: none, 90, random (seeded angles)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-size", type=int, help="downscale images to this longer side first")
    p.add_argument("--mapper-option", action="append", default=["mapper.init_min_tri_angle=8.0", "num_threads=1"],
                   metavar="KEY=VALUE", help="IncrementalPipelineOptions (see module doc)")
    p.add_argument("--seeds", default="0", help="mapper seeds, e.g. 0,1,2 (features reused)")
    p.add_argument("--matchers", help="comma list of matcher confs, each run on the same features "
                                      "(default: each method's own)")
    args = p.parse_args(argv)
    matchers = parse_matchers(args.matchers)
    mapper_options = colmap.parse_option_args(args.mapper_option, pycolmap.IncrementalPipelineOptions())
    seeds = [int(x) for x in args.seeds.split(",")]

    methods = parse_methods(args.methods)
    args.outputs.mkdir(parents=True, exist_ok=True)
    results = {"source": str(args.images or args.scene), "seed": args.seed,
               "max_keypoints": args.max_keypoints, "max_size": args.max_size,
               "mapper_options": mapper_options, "mapper_seeds": seeds, "runs": []}
    for rotation in args.rotations.split(","):
        variant_dir = args.outputs / f"rot-{rotation}"
        if args.scene is not None:
            scene = scenes.read_scene(args.scene, args.format)
            sizes = {v.name: scenes.resize_view(v, args.max_size)[0].size if args.max_size
                     else v.size for v in scene.views}
            angles = scenes.rotation_angles(scene.names, rotation, args.seed)
            scene = scenes.write_variant(scene, variant_dir / "images", angles, args.max_size)
            image_dir = scene.image_dir
        else:
            scene = None
            angles = scenes.rotation_angles(list_images(args.images), rotation, args.seed)
            image_dir = variant_dir / "images"
            sizes = write_rotated_images(args.images, image_dir, angles, args.max_size)
        cameras = upright_camera_priors(sizes, angles, image_dir)
        for method in methods:
            conf = extractor_conf(method, args.max_keypoints, args.weights, args.random_weights)
            label = method
            if conf["model"]["name"] == "relf" and (args.random_weights or args.weights):
                label += " (random weights)" if args.random_weights else f" ({args.weights.name})"
            run_dir = variant_dir / method
            for matcher in matchers or [default_matcher(conf)]:
                print(f"== {rotation}: {label}, {matcher}", flush=True)
                run = {"variant": rotation, "method": method, "label": label, "matcher": matcher,
                       "angles": angles}
                run.update(run_seeds(conf, get_conf(matcher), image_dir, run_dir, cameras, mapper_options,
                                     seeds, scene))
                results["runs"].append(run)
                print("   " + json.dumps({k: v for k, v in run.items() if k != "angles"}), flush=True)
    write_json(args.outputs / "results.json", results)
    table = markdown(results)
    write_text(args.outputs / "results.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
