"""Score RELF weights and options on the development sets, with SIFT, in one run.

    python scripts/score_weights.py [--weights shipped runs/a/best.pth ...] [--variant NAME:KEY=VALUE,...]
        [--confs relf-fast ...] [--data ../shared/data] [--cache outputs/score] [--output results/x.md]

For each RELF conf and variant (a checkpoint, and optional conf overrides such as
``subbin=false``), with the seconds each row took (extraction of every set, matching):
- Roto-360-layout MMA@5: HPatches image 1 of every shared sequence rotated every 10 degrees
  (``relf-hloc make-roto360``), the paper's protocol (mutual NN, 1500 SIFT keypoints);
- HPatches MMA@5: the shared viewpoint pairs, same protocol;
- Roto-360-layout MMA@3 at multiples of 90 degrees (where the network is exactly equivariant)
  and at every other angle: means over the angles;
- an SfM proxy: median fundamental-matrix inliers per pair (USAC-MAGSAC, 1 px) of the matches
  of the first 5 Sacre Coeur photos (mutual NN for RELF, ratio 0.8 for SIFT), 10 pairs
  (``--sacre-images 10``: all 10 photos, 45 pairs);
- rotated fountain-P11 AUC@5: relative pose (essential matrix, USAC, 1 px) of all 55 pairs of
  Strecha fountain-P11 with every image rolled by a seeded random angle, at 640 px and 2000
  keypoints (``relf-hloc benchmark pose --scene .../fountain-P11 --format strecha --rotation
  random --seed 0 --metrics pose``: the same figure).
RELF describes the SIFT keypoints (as ``relf-hloc compare --relf-keypoints sift``). Prints a
markdown table (and writes it to --output).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from relf_hloc.confs import (BENCHMARK_KEYPOINTS, MAX_KEYPOINTS, default_matcher, extractor_conf, parse_variant,
                             with_options, with_variant)
from relf_hloc.benchmarks.compare import homography_sets, score
from relf_hloc.datasets import scenes
from relf_hloc.eval.poses import pose_summary, relative_pose_records
from relf_hloc.eval.homography import group_summaries, summarize
from relf_hloc.eval.matches import median_verified_inliers
from relf_hloc.features import features_tag
from relf_hloc.images import list_images
from relf_hloc.io import write_text
from relf_hloc.steps import extract, match, pairs as pairs_step


def variants(args, name: str):
    """[(label, extractor conf)] of conf ``name``: one per --weights, then one per --variant
    (on the first weights); labels start with the conf's name when there are several."""
    out = []
    prefix = f"{name} " if len(args.confs) > 1 else ""
    folders = [Path(w).parent.name for w in args.weights]
    for w, folder in zip(args.weights, folders):
        conf = extractor_conf(name, BENCHMARK_KEYPOINTS, None if w == "shipped" else w)
        label = w if w == "shipped" else folder if folders.count(folder) == 1 else f"{folder}/{Path(w).stem}"
        out.append((prefix + label, conf))
    for item in args.variant:
        label, options = parse_variant(item)
        conf = extractor_conf(name, BENCHMARK_KEYPOINTS,
                              None if args.weights[0] == "shipped" else args.weights[0])
        out.append((prefix + label, with_variant(conf, options)))
    return out


def extract_and_match(images: Path, names, conf, cache: Path):
    """Features and matches (the conf's default matcher) of all pairs of ``names``, in ``cache``
    (resumable): (features path, matches path, pairs)."""
    features = cache / f"{features_tag(conf)}.h5"
    extract.main(conf, images, features, names=names, progress=False)
    pairs_path = pairs_step.main(cache / "pairs.txt", names=names)
    matches = cache / f"matches-{features_tag(conf)}.h5"
    match.main(default_matcher(conf), pairs_path, features, matches, progress=False)
    return features, matches, pairs_step.exhaustive(names)


def sfm_inliers(images: Path, names, conf, cache: Path) -> float:
    """Median F-matrix inliers (USAC-MAGSAC, 1 px) over all pairs of ``names``."""
    return median_verified_inliers(*extract_and_match(images, names, conf, cache))


def grid_mma3(records) -> str:
    """'on / off': mean MMA@3 over the angles that are multiples of 90 degrees (0 excluded) and over
    the others, of Roto-360-layout records (their group is the angle)."""
    per_angle = {int(g): s["mma"]["3"] for g, s in group_summaries(records).items()}
    on = [v for a, v in per_angle.items() if a % 90 == 0 and a % 360]
    off = [v for a, v in per_angle.items() if a % 90]
    return f"{sum(on) / len(on):.2f} / {sum(off) / len(off):.2f}"


def rotated_pose_auc(scene_dir: Path, conf, cache: Path) -> float:
    """Relative-pose AUC@5 over all pairs of the scene rolled by seeded random angles (seed 0,
    640 px), as the pose benchmark's rotated variant."""
    _, scene = scenes.rotated_variant(scenes.read_scene(scene_dir, "strecha"), cache, "random", 0, 640)
    features, matches, pairs = extract_and_match(scene.image_dir, scene.names, conf, cache)
    return pose_summary(relative_pose_records(scene, pairs, features, matches, 1.0))["auc"]["5"]


def main(argv=None) -> int:
    """Score each weights / variant of each conf on the benchmarks; print or write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=["shipped"])
    parser.add_argument("--variant", action="append", default=[],
                        help="LABEL:KEY=VALUE,... RELF conf overrides on the first weights, e.g. integer:subbin=false")
    parser.add_argument("--confs", nargs="+", default=["relf-fast"], help="RELF confs to score")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("outputs/score"))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--sacre-images", type=int, default=5, help="Sacre Coeur photos of the SfM proxy")
    parser.add_argument("--no-pose", action="store_true", help="skip the rotated fountain-P11 column")
    parser.add_argument("--no-sift", action="store_true", help="skip the SIFT row")
    args = parser.parse_args(argv)
    sets = homography_sets(args.data / "hpatches", args.cache)
    sacre = args.data / "sacre_coeur"
    sacre_names = list_images(sacre)[:args.sacre_images]
    rows = [] if args.no_sift else [("SIFT", extractor_conf("sift", BENCHMARK_KEYPOINTS))]
    rows += [row for name in args.confs for row in variants(args, name)]
    fountain = None if args.no_pose else args.data / "strecha" / "fountain-P11"
    columns = (["variant"] + [f"{name} MMA@5" for name in sets]
               + ["Roto-360 MMA@3 at 90-degree multiples / other angles", "Sacre Coeur F-inliers/pair (median)"]
               + ["rotated fountain-P11 AUC@5"] * bool(fountain) + ["s"])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for label, conf in rows:
        t0 = time.time()
        cache = args.cache / "features"
        records = {name: score(conf, root, pairs, cache / name, progress=False)[0]
                   for name, (root, layout, pairs) in sets.items()}
        scores = [summarize(r)["mma"]["5"] for r in records.values()]
        two_view_conf = with_options(conf, max_keypoints=MAX_KEYPOINTS)
        inl = sfm_inliers(sacre, sacre_names, two_view_conf, cache / f"sacre-{len(sacre_names)}")
        pose = f" | {rotated_pose_auc(fountain, two_view_conf, cache / 'fountain-rotated'):.1f}" if fountain else ""
        lines.append(f"| {label} | " + " | ".join(f"{s:.2f}" for s in scores) + f" | {grid_mma3(records['Roto-360'])}"
                     f" | {inl:.1f}{pose} | {time.time() - t0:.0f} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        write_text(args.output, f"`python scripts/score_weights.py {' '.join(argv or sys.argv[1:])}`\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
