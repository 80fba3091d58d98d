"""hloc's own SfM pipeline with the RELF confs: extract_features -> pairs_from_exhaustive ->
match_features -> reconstruction, unmodified, after ``relf_hloc.register()``.

    python pipelines/hloc_sfm.py --images ../shared/data/sacre_coeur \
        [--images outputs/sacre_coeur/rot-random/images] [--confs relf,relf-fast] \
        [--seeds 0,1,2] --outputs outputs/hloc_sfm [--output results/sfm/hloc_sacre_coeur.md]

Needs hloc (not on PyPI: ``pip install --no-deps -e`` a clone of
cvg/Hierarchical-Localization). Features, pairs and matches are computed once per folder and
conf; the mapper then runs on one thread with each seed (``mapper_options``: ``random_seed``,
``num_threads``). hloc's geometric verification is not seeded, so two runs can still differ.
Prints and writes a markdown table of registered images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import relf_hloc
from relf_hloc.confs import confs as relf_confs
from relf_hloc.images import list_images
from relf_hloc.io import write_text


def run(images: Path, conf_name: str, seeds, outputs: Path) -> list:
    """Registered images of hloc's reconstruction, one per mapper seed."""
    from hloc import extract_features, match_features, pairs_from_exhaustive, reconstruction
    outputs.mkdir(parents=True, exist_ok=True)
    conf = relf_confs[conf_name]
    features = extract_features.main(conf, images, outputs)  # skips images already done
    pairs = outputs / "pairs-exhaustive.txt"
    pairs_from_exhaustive.main(pairs, features=features)
    matches = match_features.main(relf_confs["relf-nn"], pairs, conf["output"], outputs)
    recs = [reconstruction.main(outputs / f"sfm-seed{seed}", images, pairs, features, matches,
                                mapper_options={"random_seed": seed, "num_threads": 1})
            for seed in seeds]
    return [0 if rec is None else rec.num_reg_images() for rec in recs]


def main(argv=None) -> int:
    """Run hloc's SfM with each RELF conf and seed on the image folders; print or write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, action="append", required=True,
                        help="image folder (repeatable: e.g. upright and rotated copies)")
    parser.add_argument("--confs", default="relf,relf-fast", help="comma list of RELF confs")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of mapper seeds")
    parser.add_argument("--outputs", type=Path, default=Path("outputs/hloc_sfm"))
    parser.add_argument("--output", type=Path, default=None, help="markdown table (file)")
    args = parser.parse_args(argv)
    names = [c for c in args.confs.split(",") if c]
    unknown = [c for c in names if c not in relf_confs or relf_confs[c]["model"]["name"] != "relf"]
    if unknown:
        parser.error(f"--confs: not RELF extractor confs: {', '.join(unknown)}")
    for folder in args.images:
        if not folder.is_dir() or not list_images(folder):
            parser.error(f"--images {folder}: not a folder of images")
    relf_hloc.register()  # raises with an install hint when hloc is missing
    seeds = [int(s) for s in args.seeds.split(",")]
    lines = ["| images | conf | registered per mapper seed |", "|---|---|---|"]
    for i, folder in enumerate(args.images):
        total = len(list_images(folder))
        for name in names:
            counts = run(folder, name, seeds, args.outputs / f"set{i}" / name)
            lines.append(f"| {folder} | {name} | " + " / ".join(f"{c}/{total}" for c in counts) + " |")
            print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        write_text(args.output, f"`python pipelines/hloc_sfm.py {' '.join(argv or sys.argv[1:])}`\n\n"
                   + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
