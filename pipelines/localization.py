"""The localization benchmark on every shared scene with ground truth, pooled into one report, with
the retrieval recall of rolled photos scene by scene.

    python pipelines/localization.py --data ../shared/data --outputs outputs/localization \
        --results results/localization [--methods sift,rootsift,colmap,relf-fast-rs,relf-rs]

Runs ``relf-hloc benchmark localization`` (``relf_hloc.benchmarks.localization``) on the Strecha
scenes and the Middlebury temple (or ``--scenes NAME=FOLDER:FORMAT,...``), resuming from
``--outputs``, and writes ``--results``/README.md: the tables pooled over the scenes, recall at
(0.5 %, 1°) per scene, the recall plot, and the retrieval recall per scene of ``--retrieval-method``'s
features: each variant's photos retrieve each other (recall@K of the overlapping pairs, the truth of
``relf_hloc.datasets.scenes.overlapping_pairs``), rolled ones also without the keypoints within 7 px of the rolled
canvas's fill (the first suspect when rolled photos lose recall). ``--report-only`` rewrites the
report from the results of an earlier run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

from relf_hloc import io, retrieval
from relf_hloc.benchmarks import localization
from relf_hloc.benchmarks.localization_report import MAIN, markdown, pick, plot_recall, pooled
from relf_hloc.confs import extractor_conf
from relf_hloc.datasets import scenes
from relf_hloc.features import extractor_class, features_tag
from relf_hloc.images import read_image

SCENES = {"fountain-P11": "strecha/fountain-P11:strecha", "Herz-Jesus-P8": "strecha/Herz-Jesus-P8:strecha",
          "entry-P10": "strecha/entry-P10:strecha", "templeSparseRing": "middlebury/templeSparseRing:middlebury"}
KS = (3, 5, 10)


def per_scene(results: dict) -> str:
    """Recall at (0.5 %, 1°) per scene, SfM model with known intrinsics: upright against rolled."""
    variants = list(dict.fromkeys(r["variant"] for res in results.values() for r in res["rows"]))
    head = "| scene | method | model of | " + " | ".join(variants) + " |\n" + "|---" * (3 + len(variants)) + "|\n"
    lines = []
    for scene, res in results.items():
        for method in dict.fromkeys(r["method"] for r in res["rows"]):
            for e in sorted({r["every"] for r in res["rows"]}):
                cells = [pick(res["rows"], method=method, every=e, variant=v, model="sfm", intrinsics="known")
                         for v in variants]
                lines.append(f"| {scene} | {method} | every {e} | "
                             + " | ".join(f"{pooled(c)['recall'][MAIN]:.1f}" if c else "-" for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


def off_fill(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """[N] bool: keypoints farther than 7 px from the canvas fill of a rolled image (pixels <= 8)."""
    near = cv2.dilate((image.max(2) <= 8).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    k = keypoints.round().astype(int)
    return ~near[k[:, 1].clip(0, image.shape[0] - 1), k[:, 0].clip(0, image.shape[1] - 1)]


def retrieval_rows(scene: scenes.Scene, work: Path, method: str) -> list:
    """Recall@K of each variant's retrieval pairs (the features of ``method`` in ``work``)."""
    conf = extractor_conf(method)
    found = sorted((work / "features").glob(f"{features_tag(conf).rsplit('-', 1)[0]}-*.h5"))  # any version's tag
    if len(found) != 1:
        raise FileNotFoundError(f"{work / 'features'}: {len(found)} features files of {method}; expected one")
    features = found[0]
    aggregation = extractor_class(conf["model"]).global_aggregations[0]
    truth = scenes.overlapping_pairs(scene.views)
    rows = []
    for variant in [v for v in localization.VARIANTS if (work / v).is_dir()]:
        for drop in (False, True) if variant == "rolled" else (False,):
            desc, on_fill = [], []
            for name in scene.names:
                key = f"{variant}/images/{Path(name).with_suffix('.png').as_posix()}"
                keep = off_fill(read_image(work / key), io.read_features(features, key, ["keypoints"])["keypoints"])
                on_fill.append(100 * (1 - keep.mean()))
                d = io.read_descriptors(features, key)
                desc.append(retrieval.global_descriptor(d[keep] if drop else d, aggregation))
            found = {k: {frozenset(p) for p in retrieval.collection_pairs(scene.names, np.stack(desc), k)} for k in KS}
            rows.append({"variant": variant + (", without fill keypoints" if drop else ""), "pairs": len(truth),
                         "on_fill": float(np.mean(on_fill)),
                         "recall": {k: 100 * len(found[k] & truth) / max(len(truth), 1) for k in KS}})
    return rows


def retrieval_table(results: dict, method: str) -> str:
    """The retrieval rows of every scene."""
    lines = ["| scene | overlapping pairs | photos | keypoints on the fill (%) | "
             + " | ".join(f"recall@{k}" for k in KS) + " |", "|---" * (4 + len(KS)) + "|"]
    for name, res in results.items():
        for r in res.get("retrieval", []):
            lines.append(f"| {name} | {r['pairs']} | {r['variant']} | {r['on_fill']:.1f} | "
                         + " | ".join(f"{r['recall'][k]:.1f}" for k in KS) + " |")
    return f"Retrieval recall (%) per scene ({method} features, each variant's photos as one collection):\n\n" \
        + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run every scene (unless --report-only), then write the pooled report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--outputs", type=Path, default=Path("outputs/localization"))
    p.add_argument("--results", type=Path, default=Path("results/localization"))
    p.add_argument("--methods", default=localization.default_conf["methods"])
    p.add_argument("--scenes", default=",".join(SCENES),
                   help="comma list of " + ", ".join(SCENES) + " or NAME=FOLDER:FORMAT (FOLDER under --data)")
    p.add_argument("--every", default=localization.default_conf["every"])
    p.add_argument("--max-size", type=int, default=localization.default_conf["max_size"])
    p.add_argument("--retrieval-method", default="relf-fast-rs", help="whose features the retrieval table uses")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from --results")
    args = p.parse_args(argv)
    command = "python pipelines/localization.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = {}
    for item in args.scenes.split(","):
        name, _, spec = item.partition("=")
        folder, _, fmt = (spec or SCENES[name]).rpartition(":")
        if args.report_only:
            results[name] = io.read_json(args.results / f"{name}.json")
            command = results[name]["command"]
        else:
            conf = {**localization.default_conf, "methods": args.methods, "every": args.every,
                    "max_size": args.max_size}
            path = localization.main(conf, args.data / folder, fmt, args.outputs / name, command=command)
            results[name] = io.read_json(path)
        if args.retrieval_method in results[name]["speed"]:
            results[name]["retrieval"] = retrieval_rows(scenes.read_scene(args.data / folder, fmt),
                                                        args.outputs / name / "work", args.retrieval_method)
        io.write_json(args.results / f"{name}.json", results[name])
    rows = [r for res in results.values() for r in res["rows"]]
    plot = plot_recall(rows, args.results / "recall.png")
    io.write_text(args.results / "README.md",
                  f"# Localization of upright and rolled photos: {', '.join(results)}\n\n`{command}`\n\n"
                  f"Pooled over the scenes ({sum(r['images'] for r in results.values())} photos). "
                  + markdown(rows) + f"\n![recall]({plot.name})\n\nRecall (%) at (0.5 %, 1°) per scene, SfM "
                  "reference model, known intrinsics:\n\n" + per_scene(results) + "\n"
                  + retrieval_table(results, args.retrieval_method))
    print(f"localization: {len(results)} scene(s) -> {args.results / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
