"""The localization benchmark on every shared scene with ground truth, pooled into one report.

    python pipelines/localization.py --data ../shared/data --outputs outputs/localization \
        --results results/localization [--methods sift,rootsift,relf-fast-rs,relf-rs,colmap]

Runs ``relf-hloc benchmark localization`` (``relf_hloc.benchmarks.localization``) on the Strecha
scenes and the Middlebury temple (resuming from ``--outputs``), and writes ``--results``/README.md:
the tables pooled over the scenes, recall at (0.5 %, 1°) per scene, and the recall plot.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from relf_hloc import io
from relf_hloc.benchmarks import localization
from relf_hloc.benchmarks.localization_report import MAIN, markdown, pick, plot_recall, pooled

SCENES = {"fountain-P11": ("strecha/fountain-P11", "strecha"), "Herz-Jesus-P8": ("strecha/Herz-Jesus-P8", "strecha"),
          "entry-P10": ("strecha/entry-P10", "strecha"),
          "templeSparseRing": ("middlebury/templeSparseRing", "middlebury")}


def per_scene(results: dict) -> str:
    """Recall at (0.5 %, 1°) per scene, SfM model with known intrinsics: upright against rolled."""
    variants = list(dict.fromkeys(r["variant"] for res in results.values() for r in res["rows"]))
    head = "| scene | method | model of | " + " | ".join(variants) + " |\n" + "|---" * (3 + len(variants)) + "|\n"
    lines = []
    for scene, res in results.items():
        methods = list(dict.fromkeys(r["method"] for r in res["rows"]))
        for method in methods:
            for e in sorted({r["every"] for r in res["rows"]}):
                cells = [pick(res["rows"], method=method, every=e, variant=v, model="sfm", intrinsics="known")
                         for v in variants]
                lines.append(f"| {scene} | {method} | every {e} | "
                             + " | ".join(f"{pooled(c)['recall'][MAIN]:.1f}" if c else "-" for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run every scene, then write the pooled report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--outputs", type=Path, default=Path("outputs/localization"))
    p.add_argument("--results", type=Path, default=Path("results/localization"))
    p.add_argument("--methods", default=localization.default_conf["methods"])
    p.add_argument("--scenes", default=",".join(SCENES), help="comma list of " + ", ".join(SCENES))
    args = p.parse_args(argv)
    command = "python pipelines/localization.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = {}
    for name in args.scenes.split(","):
        folder, fmt = SCENES[name]
        conf = {**localization.default_conf, "methods": args.methods}
        path = localization.main(conf, args.data / folder, fmt, args.outputs / name, command=command)
        results[name] = io.read_json(path)
        io.write_json(args.results / f"{name}.json", results[name])
    rows = [r for res in results.values() for r in res["rows"]]
    plot = plot_recall(rows, args.results / "recall.png")
    io.write_text(args.results / "README.md",
                  f"# Localization of upright and rolled photos: {', '.join(results)}\n\n`{command}`\n\n"
                  f"Pooled over the scenes ({sum(r['images'] for r in results.values())} photos). "
                  + markdown(rows) + f"\n![recall]({plot.name})\n\nRecall (%) at (0.5 %, 1°) per scene, SfM "
                  "reference model, known intrinsics:\n\n" + per_scene(results))
    print(f"localization: {len(results)} scene(s) -> {args.results / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
