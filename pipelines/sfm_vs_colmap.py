"""Step through one photo collection with COLMAP's own pipeline beside ours, one change at a time.

Each row changes one thing on the way images -> keypoints -> matches -> verification -> mapper,
and maps with 3 seeds (one thread), so that every difference between ``relf-hloc sfm`` and
COLMAP alone is measured on its own (README, "SfM on real photos"):

- ``colmap``: ``pycolmap.extract_features`` + ``match_exhaustive`` + ``incremental_mapping``;
- ``colmap-features+ours``: COLMAP's keypoints and descriptors matched, verified and mapped by us;
- ``sift-<N>-c<T>``: our OpenCV SIFT, N keypoints, contrast threshold T, mutual NN + ratio 0.8;
- ``relf-<N>-<matcher>``: RELF (9-level pyramid) with a matcher conf;
- ``+tri8``: the row before with the mapper's ``init_min_tri_angle`` 8 (COLMAP: 16).

Ours are mapped with COLMAP's mapper defaults and one attempt, so the rows show what each
change does alone (``relf-hloc sfm`` adds its retries). Prints and writes a markdown table.

    python pipelines/sfm_vs_colmap.py --images ../shared/data/sacre_coeur --outputs outputs/vs_colmap \
        --output results/sfm/vs_colmap.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from relf_hloc.confs import extractor_conf, get_conf
from relf_hloc.images import list_images
from relf_hloc.io import read_pairs, write_text
from relf_hloc.steps import colmap as cu, extract, match, pairs as pairs_step, reconstruction

import pycolmap  # noqa: E402  (after OpenCV)

SEEDS = (0, 1, 2)


def mapped(database: Path, images: Path, output: Path, mapper: dict) -> list:
    """Images registered in the largest model, per seed (COLMAP's mapper, one attempt)."""
    registered = []
    for seed in SEEDS:
        options = cu.merge_options({"num_threads": 1, "random_seed": seed}, mapper)
        models = reconstruction.run_mapping(database, images, output / f"seed{seed}", options)
        rec = cu.largest_model(models)
        registered.append(rec.num_reg_images() if rec else 0)
    return registered


def inliers(database: Path) -> tuple:
    """(verified pairs, their median inliers, median keypoints per image) of a database."""
    counts = list(cu.verified_pairs(database).values())
    with pycolmap.Database.open(database) as db:
        keypoints = [db.num_keypoints_for_image(i.image_id) for i in db.read_all_images()]
    return len(counts), float(np.median(counts)) if counts else 0.0, float(np.median(keypoints))


def ours(images: Path, work: Path, names, feats: Path, matcher: str, pairs: Path) -> Path:
    """Our matches -> our database and verification; returns the database."""
    matches = work / "matches.h5"
    match.main(get_conf(matcher), pairs, feats, matches)
    database = work / "database.db"
    database.unlink(missing_ok=True)
    ids = cu.import_images(database, images, names)
    with pycolmap.Database.open(database) as db:
        cu.import_features(db, ids, feats)
        cu.import_matches(db, ids, read_pairs(pairs), matches)
    cu.verify_matches(database, pairs)
    return database


def main(argv=None) -> int:
    """Reconstruct the images with RELF (sfm) and with COLMAP alone; print or write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--outputs", type=Path, required=True)
    p.add_argument("--output", type=Path, help="markdown table to write")
    args = p.parse_args(argv)
    names = list_images(args.images)
    args.outputs.mkdir(parents=True, exist_ok=True)
    pairs = pairs_step.main(args.outputs / "pairs.txt", mode="exhaustive", names=names)
    rows = []

    def row(label, database, mapper=None):
        n, median, kpts = inliers(database)
        registered = mapped(database, args.images, args.outputs / label / "models", mapper or {})
        rows.append(f"| {label} | {kpts:.0f} | {n} | {median:.0f} | {' / '.join(map(str, registered))} |")
        print(rows[-1], flush=True)

    work = args.outputs / "colmap"
    work.mkdir(exist_ok=True)
    database = work / "database.db"
    if not database.is_file():
        pycolmap.extract_features(database, args.images,
                                  extraction_options=pycolmap.FeatureExtractionOptions(num_threads=1))
        pycolmap.match_exhaustive(database)
    row("colmap", database)
    work = args.outputs / "colmap-features+ours"
    work.mkdir(exist_ok=True)
    cu.export_database(database, work / "feats.h5")
    row("colmap-features+ours", ours(args.images, work, names, work / "feats.h5", "nn-ratio", pairs))
    for n, contrast in ((2000, 0.04), (8192, 0.04), (8192, 0.02)):
        label = f"sift-{n}-c{contrast}"
        work = args.outputs / label
        conf = extractor_conf("sift", n)
        conf["model"]["contrast_threshold"] = contrast
        extract.main(conf, args.images, work / "feats.h5", names=names)
        database = ours(args.images, work, names, work / "feats.h5", "nn-ratio", pairs)
        row(label, database)
        if contrast == 0.04:
            row(label + "+tri8", database, {"mapper": {"init_min_tri_angle": 8.0}})
    for matcher in ("relf-nn", "relf-ratio"):
        label = f"relf-4096-{matcher}"
        work = args.outputs / label
        extract.main(extractor_conf("relf", 4096), args.images, args.outputs / "relf-4096.h5", names=names)
        database = ours(args.images, work, names, args.outputs / "relf-4096.h5", matcher, pairs)
        row(label, database)
        row(label + "+tri8", database, {"mapper": {"init_min_tri_angle": 8.0}})
    command = " ".join(["python pipelines/sfm_vs_colmap.py", *(argv if argv is not None else sys.argv[1:])])
    table = "\n".join([f"`{command}` (full-size photos; COLMAP's mapper defaults, one attempt, one thread; "
                       "seeds 0 / 1 / 2)", "",
                       "| pipeline | keypoints/image (median) | verified pairs | inliers/pair (median) "
                       "| registered per seed |", "|---|---|---|---|---|", *rows]) + "\n"
    if args.output:
        write_text(args.output, table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
