"""Real-photo SfM matrix: COLMAP alone, our SIFT and RELF confs, upright and rolled, several mapper seeds.

Each scene is run as a user would run a photo collection: intrinsics unknown (COLMAP's
guess: EXIF, else focal 1.2 x the longer side), images downscaled to ``--max-size``, then
rotated in-plane per variant (``none``; ``random``: seeded angles over [0, 360) on an
enlarged canvas; ``90``: seeded multiples of 90 degrees). Rows:

- ``colmap``: COLMAP's own pipeline (``pycolmap.extract_features`` + ``match_exhaustive`` +
  ``incremental_mapping``, its defaults, one thread), the reference a user compares with;
- every extractor conf (``sift``, ``relf``, ``relf-fast``...): ``relf-hloc sfm`` with its defaults
  (SfM keypoints and matcher of ``relf_hloc.confs``, mapper recovery), then the mapping alone with
  each further seed.

Per row: images registered for each mapper seed, and for the first seed points, track length,
reprojection error and, on scenes with ground truth (Strecha, Middlebury), the median rotation
and position error of the cameras after a similarity alignment. Writes OUTPUTS/results.json and
OUTPUTS/results.md; reruns resume finished runs.

    # the README's matrix (shared data; about an hour on 2 CPU cores)
    python pipelines/sfm_real_data.py --outputs outputs/sfm_matrix \
        --scenes sacre_coeur,fountain-P11,Herz-Jesus-P8,entry-P10,temple \
        --methods colmap,sift,relf,relf-fast --rotations none,random,90 --seeds 0,1,2
    # how to match RELF in SfM: several matchers on the same features
    python pipelines/sfm_real_data.py --outputs outputs/matchers --scenes sacre_coeur \
        --methods relf --matchers relf-nn,relf-ratio,relf-floor --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple


from relf_hloc import sfm  # first: it imports OpenCV before pycolmap (see relf_hloc/__init__.py)
from relf_hloc.cli.options import use_threads
from relf_hloc.confs import conf_names, default_matcher, extractor_conf, get_conf, parse_variant, with_variant
from relf_hloc.datasets import scenes
from relf_hloc.eval.poses import model_poses, score_poses
from relf_hloc.images import list_images
from relf_hloc.io import read_json, write_json, write_text
from relf_hloc.steps import colmap, reconstruction
from relf_hloc.timing import timed

import numpy as np

import pycolmap  # noqa: E402  (after OpenCV)


def score_against_ground_truth(scene: scenes.Scene, sfm_dir: Path) -> Dict[str, float]:
    """Median rotation (deg) and position (%) errors of the model in ``sfm_dir`` against the scene's poses."""
    score = score_poses(scene, model_poses(pycolmap.Reconstruction(sfm_dir)))
    return {k: score[k] for k in ("median_rot_err_deg", "median_pos_err_pct")}


def versus_colmap(run: dict, runs: List[dict]) -> str:
    """'points x / reproj. x / rot. err. x' of a run against COLMAP alone's run on the same scene and
    rotation ('-' without one, or where a figure is missing)."""
    ref = next((r for r in runs if r["method"] == "colmap" and r["scene"] == run["scene"]
                and r["variant"] == run["variant"]), None)
    if ref is None or run is ref:
        return "-"
    keys = ("points", "mean_reprojection_error_px", "median_rot_err_deg")
    return " / ".join(f"{run[k] / ref[k]:.2f}x" if run.get(k) and ref.get(k) else "-" for k in keys)


def markdown(results: Dict) -> str:
    """One row per (scene, rotation, method, matcher): registered images per mapper seed, then
    the first seed's model, and its ratios to COLMAP alone's."""
    has_gt = any(r.get("median_rot_err_deg") is not None for r in results["runs"])
    head = ("| scene | rotation | method | matcher | registered per seed | points | track length | reproj. (px) |"
            + (" rot. err. (deg) | pos. err. (%) |" if has_gt else "") + " verified inliers/pair | time (s) |"
            + " vs COLMAP alone: points / reproj." + (" / rot. err." if has_gt else "") + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for r in results["runs"]:
        total = r.get("total", "?")
        cells = [r["scene"], r["variant"], r["label"], r["matcher"],
                 " / ".join(f"{v}" for v in r["registered_per_seed"].values()) + f" of {total}",
                 str(r.get("points") or "-"), fmt(r.get("mean_track_length") if r.get("points") else None, ".2f"),
                 fmt(r.get("mean_reprojection_error_px") if r.get("points") else None, ".3f")]
        if has_gt:
            cells += [fmt(r.get("median_rot_err_deg"), ".2f"), fmt(r.get("median_pos_err_pct"), ".2f")]
        cells += [f"{r['verified_inliers']:.0f}", f"{(r.get('seconds') or {}).get('total', 0):.0f}"]
        ratio = versus_colmap(r, results["runs"])
        cells.append(ratio if has_gt or ratio == "-" else ratio.rsplit(" / ", 1)[0])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SPEED_STAGES = ("features", "network", "matching", "verification", "mapping")


def speed_markdown(results: Dict) -> str:
    """The time budget of each run beside COLMAP alone's on the same scene and rotation: total
    seconds, the ratio, seconds per image and per stage (COLMAP alone verifies inside matching),
    and the accuracy ratios of ``versus_colmap``."""
    head = ("| scene | rotation | method | total (s) | vs COLMAP alone | s per image | features (s) | network (s) "
            "| matching (s) | verification (s) | mapping (s) | vs COLMAP alone: points / reproj. / rot. err. |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results["runs"]:
        ref = next((c for c in results["runs"] if c["method"] == "colmap" and c["scene"] == r["scene"]
                    and c["variant"] == r["variant"]), None)
        total = (r.get("seconds") or {}).get("total")
        ratio = f"{total / ref['seconds']['total']:.1f}x" if ref and total and ref is not r else "-"
        stages = r.get("stages") or {}
        cells = [r["scene"], r["variant"], r["label"], f"{total:.1f}" if total else "-", ratio,
                 f"{total / r['total']:.2f}" if total and r.get("total") else "-"]
        cells += [f"{stages[k]:.1f}" if k in stages else "-" for k in SPEED_STAGES]
        cells.append(versus_colmap(r, results["runs"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_seeds(conf, matcher: dict, image_dir: Path, run_dir: Path, cameras, mapper_options,
              seeds: List[int], scene: Optional[scenes.Scene]) -> dict:
    """``relf-hloc sfm`` with the first mapper seed (features and pairs shared by every
    matcher in ``run_dir``), then the mapping alone with the other seeds."""
    report, failure = sfm.attempt(conf, image_dir, run_dir, {"matcher": matcher, "mapper_options": {
        **mapper_options, "random_seed": seeds[0]}}, cameras=cameras)
    if failure:
        print(f"   failed: {failure}", file=sys.stderr)
    run = {k: report.get(k) for k in ("registered", "total", "points", "mean_track_length",
                                      "mean_reprojection_error_px", "seconds", "status")}
    run["stages"] = (report.get("time_budget") or {}).get("stages", {})
    if scene is not None and report.get("status") == "ok":
        run.update(score_against_ground_truth(scene, run_dir / "sfm"))
    paths = [run_dir / report[k]["file"] for k in ("pairs", "features", "matches")]
    run["verified_inliers"] = verified_inliers(run_dir / "sfm" / "database.db") \
        if (run_dir / "sfm" / "database.db").is_file() else 0.0
    run["registered_per_seed"] = {seeds[0]: report.get("registered")}
    for seed in seeds[1:]:  # mapping only: same features, pairs and matches
        try:
            rec = reconstruction.main(run_dir / f"sfm-{matcher['output']}-seed{seed}", image_dir, *paths,
                                      cameras=cameras, mapper_options={**mapper_options, "random_seed": seed})
            run["registered_per_seed"][seed] = rec.num_reg_images()
        except RuntimeError:
            run["registered_per_seed"][seed] = 0
    return run


# scene presets, relative to --data: (folder, ground-truth format or None)
SCENES = {"sacre_coeur": ("sacre_coeur", None),
          "fountain-P11": ("strecha/fountain-P11", "strecha"),
          "Herz-Jesus-P8": ("strecha/Herz-Jesus-P8", "strecha"),
          "entry-P10": ("strecha/entry-P10", "strecha"),
          "temple": ("middlebury/templeSparseRing", "middlebury")}


def model_stats(rec: pycolmap.Reconstruction, total: int, scene) -> dict:
    """Summary of a reconstruction out of ``total`` images, with pose errors where the scene has ground truth."""
    run = {k: v for k, v in colmap.model_summary(rec, total).items() if k != "registered_images"}
    if scene is not None:
        score = score_poses(scene, model_poses(rec))
        run.update({k: score[k] for k in ("median_rot_err_deg", "median_pos_err_pct")})
    return run


def verified_inliers(database: Path) -> float:
    """Median inliers per verified pair of a COLMAP database (COLMAP's own verification, so
    that COLMAP alone and our runs are compared on one measure)."""
    inliers = list(colmap.verified_pairs(database).values())
    return float(np.median(inliers)) if inliers else 0.0


def database_of(outputs: Path, run: dict) -> Path:
    """The COLMAP database a run wrote."""
    run_dir = outputs / run["scene"] / f"rot-{run['variant']}" / run["method"]
    return run_dir / ("database.db" if run["method"] == "colmap" else "sfm/database.db")


def colmap_alone(image_dir: Path, run_dir: Path, seeds: List[int], scene, threads: int = 1) -> dict:
    """COLMAP's own pipeline with its defaults on ``threads`` threads, mapped with each seed; its
    seconds per stage (features, matching, mapping) in ``stages``."""
    database = run_dir / "database.db"
    total = len(list_images(image_dir))
    if not database.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / "database.tmp.db"
        tmp.unlink(missing_ok=True)
        seconds: Dict[str, float] = {}
        timed(seconds, "features", pycolmap.extract_features, tmp, image_dir,
              extraction_options=pycolmap.FeatureExtractionOptions(num_threads=threads))
        timed(seconds, "matching", pycolmap.match_exhaustive, tmp,
              matching_options=pycolmap.FeatureMatchingOptions(num_threads=threads))
        write_json(run_dir / "seconds.json", seconds)
        tmp.rename(database)
    run = {"registered_per_seed": {}, "verified_inliers": verified_inliers(database)}
    stages = read_json(run_dir / "seconds.json")
    for seed in seeds:
        t0 = time.time()
        options = pycolmap.IncrementalPipelineOptions(num_threads=threads, random_seed=seed)
        models = pycolmap.incremental_mapping(database, image_dir, run_dir / f"models-seed{seed}", options=options)
        rec = colmap.largest_model(models)
        run["registered_per_seed"][seed] = rec.num_reg_images() if rec else 0
        if seed == seeds[0]:
            run.update(model_stats(rec, total, scene) if rec else {"registered": 0, "total": total})
            run["stages"] = {**stages, "mapping": round(time.time() - t0, 2)}
            run["seconds"] = {"total": round(sum(run["stages"].values()), 2)}
    return run


def scene_variant(name: str, data: Path, rotation: str, outputs: Path, seed: int, max_size: Optional[int]):
    """(image folder, ground-truth scene or None) of one scene preset and rotation variant."""
    folder, fmt = SCENES[name]
    variant_dir = outputs / name / f"rot-{rotation}"
    source = data / folder if fmt is None else scenes.read_scene(data / folder, fmt)
    image_dir, scene = scenes.rotated_variant(source, variant_dir, rotation, seed, max_size)
    return variant_dir, image_dir, scene


def our_runs(method: str, args, variants: List[Tuple[str, dict]], matchers: List[str], mapper_options: dict,
             seeds: List[int], base: dict, image_dir: Path, variant_dir: Path, scene) -> Iterator[dict]:
    """The runs of ``relf-hloc sfm`` with one extractor conf: per ``--variant`` of a RELF conf (the
    conf as it is first, label ''), per matcher."""
    conf = extractor_conf(method, args.max_keypoints, args.weights, args.random_weights)
    relf = conf["model"]["name"] == "relf"
    for name, options in variants if relf else variants[:1]:
        label, run_dir = (f"{method} ({name})", f"{method}-{name}") if name else (method, method)
        run_dir = variant_dir / run_dir
        if relf and (args.random_weights or args.weights):
            label += " (random weights)" if args.random_weights else f" ({args.weights.name})"
        for matcher in matchers or [default_matcher(conf, "sfm")]:
            print(f"== {base['scene']} {base['variant']}: {label}, {matcher}", flush=True)
            run = {**base, "method": run_dir.name, "label": label, "matcher": matcher}
            run.update(run_seeds(with_variant(conf, options), get_conf(matcher), image_dir, run_dir, None,
                                 mapper_options, seeds, scene))
            print("   " + json.dumps(run), flush=True)
            yield run


def write_tables(outputs: Path, results: Dict) -> None:
    """OUTPUTS/results.md (the models) and OUTPUTS/speed.md (the time budgets), printed too."""
    write_text(outputs / "results.md", markdown(results))
    write_text(outputs / "speed.md", speed_markdown(results))
    print(markdown(results) + "\n" + speed_markdown(results))


def main(argv=None) -> int:
    """Run the chosen methods on the scenes and rotations; write the runs (JSON) and the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    p.add_argument("--scenes", default="sacre_coeur", help=f"comma list of {', '.join(SCENES)}")
    p.add_argument("--outputs", type=Path, required=True)
    p.add_argument("--methods", default="colmap,sift,relf-fast",
                   help="comma list: colmap (COLMAP alone) and extractor confs (sift, relf, relf-fast...)")
    p.add_argument("--random-weights", action="store_true", help="RELF untrained (labelled so)")
    p.add_argument("--weights", type=Path, help="RELF checkpoint (default: the shipped weights)")
    p.add_argument("--max-keypoints", type=int, help="keypoints per image (default: each conf's)")
    p.add_argument("--rotations", default="none,random",
                   help="comma list of variants: none, 90, random (seeded angles)")
    p.add_argument("--seed", type=int, default=0, help="seed of the rotation angles")
    p.add_argument("--max-size", type=int, default=1024, help="downscale images to this longer side first")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads of every run: COLMAP alone's extraction, matching and mapper, and ours "
                        "(the network, matching, OpenCV, the mapper)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                   help="RELF model options, a further run of every RELF method labelled NAME "
                        "(e.g. int8:backend=onnxruntime-int8, pca256:pca=256)")
    p.add_argument("--mapper-option", action="append", default=[],
                   metavar="KEY=VALUE", help="IncrementalPipelineOptions for our runs")
    p.add_argument("--seeds", default="0", help="mapper seeds, e.g. 0,1,2 (features reused)")
    p.add_argument("--matchers", help="comma list of matcher confs, each run on the same features "
                                      "(default: each method's own for SfM)")
    p.add_argument("--table-only", action="store_true",
                   help="rewrite OUTPUTS/results.md from results.json (verified inliers re-read from each "
                        "run's database), without running anything")
    args = p.parse_args(argv)
    if args.table_only:
        results = read_json(args.outputs / "results.json")
        for run in results["runs"]:
            if database_of(args.outputs, run).is_file():
                run["verified_inliers"] = verified_inliers(database_of(args.outputs, run))
        write_json(args.outputs / "results.json", results)
        write_tables(args.outputs, results)
        return 0
    unknown = [s for s in args.scenes.split(",") if s not in SCENES]
    if unknown:
        raise SystemExit(f"unknown scene(s) {unknown}: choose from {', '.join(SCENES)}")
    matchers = conf_names(args.matchers, "matcher")
    mapper_options = colmap.parse_option_args([f"num_threads={args.threads}", *args.mapper_option],
                                              pycolmap.IncrementalPipelineOptions())
    use_threads(args.threads)
    variants = [("", {})] + [parse_variant(v) for v in args.variant]
    seeds = [int(x) for x in args.seeds.split(",")]
    methods = conf_names(args.methods, "extractor", extra=["colmap"])
    args.outputs.mkdir(parents=True, exist_ok=True)
    results = {"data": str(args.data), "seed": args.seed, "max_size": args.max_size,
               "max_keypoints": args.max_keypoints, "mapper_options": mapper_options,
               "mapper_seeds": seeds, "runs": []}
    for name in args.scenes.split(","):
        for rotation in args.rotations.split(","):
            variant_dir, image_dir, scene = scene_variant(name, args.data, rotation, args.outputs,
                                                          args.seed, args.max_size)
            for method in methods:
                base = {"scene": name, "variant": rotation, "method": method, "label": method}
                if method == "colmap":
                    print(f"== {name} {rotation}: COLMAP alone", flush=True)
                    run = {**base, "matcher": "COLMAP (ratio 0.8, cross-check)",
                           **colmap_alone(image_dir, variant_dir / "colmap", seeds, scene, args.threads)}
                    results["runs"].append(run)
                    print("   " + json.dumps(run), flush=True)
                    continue
                for run in our_runs(method, args, variants, matchers, mapper_options, seeds, base,
                                    image_dir, variant_dir, scene):
                    results["runs"].append(run)
            write_json(args.outputs / "results.json", results)
    write_tables(args.outputs, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
