"""Retrieval benchmark (#33): recall of the truly overlapping pairs, SfM with retrieval
pairs against exhaustive pairs, and scaling on a rendered collection.

    # as run for results/retrieval.md (2 shared CPU cores: about 35 min of CPU in all)
    nice python scripts/benchmark_retrieval.py --data ../shared/data --parts recall,sfm
    nice python scripts/benchmark_retrieval.py --data ../shared/data --parts scaling \
        --scaling-sizes 25,50,100,200 --exhaustive-sizes 25,50,100 --scaling-keypoints 512
    nice python scripts/benchmark_retrieval.py --data ../shared/data --parts rendered,report \
        --scaling-sizes 25,50,100,200

Overlap (the ground truth of a pair), from the ground-truth cameras: every camera's image
is sampled on a 16 x 16 grid of pixels, each lifted to the depth of the *scene centre* (the
point nearest to all optical axes, least squares) along its ray; the frustum overlap of a pair
is the smaller of the two fractions of such points that the other camera sees (in front,
inside its image); a pair overlaps when that is >= 0.3 and the optical axes are <= 60 degrees
apart (``relf_hloc.datasets.scenes.overlapping_pairs``). Overlap is computed from the upright cameras
(a roll changes neither number).

Recall@K: the fraction of overlapping pairs among the retrieval pairs (each image with its K
most similar, each unordered pair once) for: the shipped global descriptors (``gem``,
``vlad``: group-aligned descriptors), the same aggregations WITHOUT group aligning (the
equivariant vectors, recovered exactly from the stored descriptors by undoing each keypoint's
roll; VLAD with a codebook learned on unaligned vectors by scripts/make_codebook.py), and
exhaustive pairs. Variants: upright and every image rolled by a seeded random angle.

Features: relf-fast (3 levels), --keypoints per image, images downscaled to 640 px; one
extraction per scene variant, shared by every run on it (its time is counted in each total).
Writes OUTPUTS/results.json, results/retrieval.md and results/retrieval_scaling.png.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from relf_hloc import sfm  # first: OpenCV before pycolmap (relf_hloc/__init__.py)
from relf_hloc import io, retrieval
from relf_hloc.confs import extractor_conf
from relf_hloc.datasets import render, scenes
from relf_hloc.datasets.scenes import overlapping_pairs
from relf_hloc.eval.poses import model_poses, score_poses
from relf_hloc.features.relf import shift_groups
from relf_hloc.steps import extract
from relf_hloc.steps.pairs import exhaustive

import pycolmap  # noqa: E402  (after OpenCV)

SCENES = {"fountain-P11": ("strecha/fountain-P11", "strecha"),
          "Herz-Jesus-P8": ("strecha/Herz-Jesus-P8", "strecha"),
          "entry-P10": ("strecha/entry-P10", "strecha"),
          "temple": ("middlebury/templeSparseRing", "middlebury")}
KS = (5, 10, 20)
G = 16  # RELF's group


# ---------------------------------------------------------------- ground truth


# ---------------------------------------------------------------- descriptors


def unalign(desc: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """The equivariant vectors (L2-normalised) of aligned descriptors [N, D]: each keypoint's
    roll undone (relf.align shifts by its orientation in bins; this shifts back)."""
    bins = torch.from_numpy(orientations.astype(np.float32)) * G / 360.0
    v = shift_groups(torch.from_numpy(desc.astype(np.float32)), -bins, G)
    return torch.nn.functional.normalize(v, dim=1).numpy()


def global_sets(feats: Path, names: List[str], unaligned_book: Path) -> Dict[str, np.ndarray]:
    """{method: [N, G]} global descriptors of every image, aligned and not."""
    out = {f"{a}{s}": [] for a in retrieval.AGGREGATIONS for s in ("", " unaligned")}
    for name in names:
        f = io.read_features(feats, name, ["descriptors", "orientations"])
        desc = f["descriptors"].T
        raw = unalign(desc, f["orientations"])
        for a in retrieval.AGGREGATIONS:
            out[a].append(retrieval.global_descriptor(desc, a))
            out[f"{a} unaligned"].append(retrieval.global_descriptor(raw, a, unaligned_book if a == "vlad" else None))
    return {k: np.stack(v) for k, v in out.items()}


def recall_rows(scene: str, rotation: str, names, sets, truth) -> List[dict]:
    """Recall and precision of the overlapping pairs ``truth`` at each k, exhaustive then per descriptor set."""
    rows = [{"scene": scene, "rotation": rotation, "method": "exhaustive", "images": len(names),
             "overlapping": len(truth), "pairs": {k: len(exhaustive(names)) for k in KS},
             "recall": {k: 1.0 for k in KS}, "precision": {k: len(truth) / len(exhaustive(names)) for k in KS}}]
    for method, desc in sets.items():
        row = {**rows[0], "method": method, "pairs": {}, "recall": {}, "precision": {}}
        for k in KS:
            pairs = {frozenset(p) for p in retrieval.collection_pairs(names, desc, k)}
            row["pairs"][k], row["recall"][k] = len(pairs), len(pairs & truth) / max(len(truth), 1)
            row["precision"][k] = len(pairs & truth) / max(len(pairs), 1)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- runs


def conf_of(keypoints: int) -> dict:
    """The relf-fast extractor conf with ``keypoints`` and the VLAD global descriptor."""
    return extract.with_global(extractor_conf("relf-fast", keypoints), "vlad")


def features(conf, image_dir: Path, feats: Path, names=None) -> float:
    """Extract (resumable) into ``feats``; seconds spent, kept beside it for reruns."""
    record = feats.with_suffix(".seconds.json")
    done = io.read_json(record) if record.exists() else {}
    todo = [n for n in (names or [v for v in sorted(p.name for p in image_dir.glob("*.png"))])
            if n not in done]
    if todo:  # images a stopped run extracted but did not time get the mean time of the others
        present = set(io.list_names(feats)) if feats.exists() else set()
        t0 = time.time()
        extract.main(conf, image_dir, feats, names=todo, progress=False)
        new = [n for n in todo if n not in present]
        each = (time.time() - t0) / len(new) if new else float(np.mean(list(done.values())))
        done.update({n: each for n in todo})
        io.write_json(record, done)
    return sum(done[n] for n in (names or done))


def sfm_run(conf, image_dir, run_dir: Path, feats: Path, extract_s: float, scene=None, names=None, **pairs) -> dict:
    """``relf-hloc sfm`` on shared features (linked into ``run_dir``); the extraction's
    seconds are added to the total."""
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / f"feats-{sfm.features_tag(conf)}-global-vlad.h5"
    if not target.exists():
        target.symlink_to(feats.resolve())
    try:
        report = io.read_json(sfm.main(conf, image_dir, run_dir, pairs, names=names))
    except RuntimeError:
        report = io.read_json(run_dir / "report.json")
    s = report["seconds"]
    row = {"registered": report.get("registered", 0), "total": report.get("total"),
           "pairs": report["pairs"].get("count"), "match_s": s.get("match", 0),
           "reconstruction_s": s.get("reconstruction", 0), "extract_s": round(extract_s, 1),
           "total_s": round(extract_s + s.get("pairs", 0) + s.get("match", 0) + s.get("reconstruction", 0), 1)}
    if scene is not None and report.get("status") == "ok":
        score = score_poses(scene, model_poses(pycolmap.Reconstruction(run_dir / "sfm")))
        row.update({k: score[k] for k in ("median_rot_err_deg", "median_pos_err_pct")})
    return row


def real_scene(name: str, rotation: str, args, parts) -> dict:
    """Recall and SfM rows of one scene at one rotation (the parts asked for)."""
    folder, fmt = SCENES[name]
    source = scenes.read_scene(args.data / folder, fmt)
    variant_dir = args.outputs / name / f"rot-{rotation}"
    upright = scenes.write_variant(source, args.outputs / name / "rot-none" / "images", None, args.max_size)
    angles = scenes.rotation_angles(source.names, rotation, args.seed)
    scene = scenes.write_variant(source, variant_dir / "images", angles, args.max_size)
    conf, feats = conf_of(args.keypoints), variant_dir / "feats.h5"
    seconds = features(conf, scene.image_dir, feats)
    out = {"recall": [], "sfm": []}
    if "recall" in parts:
        truth, sets = overlapping_pairs(upright.views), global_sets(feats, scene.names, args.unaligned_codebook)
        out["recall"] = recall_rows(name, rotation, scene.names, sets, truth)
        out["mix"] = ([f"{name}/{n}" for n in scene.names], sets,
                      {frozenset(f"{name}/{n}" for n in p) for p in truth})
    if "sfm" in parts:
        for mode, opts in (("exhaustive", {}), ("retrieval top-10", {"num_matched": 10})):
            row = sfm_run(conf, scene.image_dir, variant_dir / mode.split()[0], feats, seconds, scene,
                          pairs=mode.split()[0], **opts)
            out["sfm"].append({"scene": name, "rotation": rotation, "mode": mode, **row})
            print(out["sfm"][-1], flush=True)
    return out


def rendered_recall(args) -> List[dict]:
    """Recall on the scaling's rendered collection (every other view rolled 30-180 degrees)."""
    n_max = max(args.scaling_sizes)
    scene = render.read_scene(args.outputs / f"rendered-{n_max}")
    feats = args.outputs / f"rendered-{n_max}-feats.h5"
    sets = global_sets(feats, scene.names, args.unaligned_codebook)
    return recall_rows(f"rendered, {n_max} views", "every other view rolled", scene.names, sets,
                       overlapping_pairs(scene.views))


def scaling(args) -> List[dict]:
    """A rendered collection of max(--scaling-sizes) views; subsets of N evenly spaced views
    (the same arc), SfM with retrieval top-10 and (for --exhaustive-sizes) exhaustive pairs."""
    n_max = max(args.scaling_sizes)
    t0 = time.time()
    folder = render.main(args.outputs / f"rendered-{n_max}", num_cameras=n_max, supersample=1)
    print(f"rendered {n_max} views in {time.time() - t0:.0f} s", flush=True)
    scene = render.read_scene(folder)
    conf, feats = conf_of(args.scaling_keypoints), folder.parent / f"rendered-{n_max}-feats.h5"
    partial = args.outputs / "scaling.partial.json"  # rows kept as they come: a stopped run resumes
    rows = io.read_json(partial) if partial.exists() else []
    for n in sorted(args.scaling_sizes):
        names = scene.names[::n_max // n][:n]
        seconds = features(conf, scene.image_dir, feats, names)
        modes = [("retrieval top-10", {"num_matched": 10})]
        modes += [("exhaustive", {})] if n in args.exhaustive_sizes else []
        for mode, opts in modes:
            if any(r["images"] == n and r["mode"] == mode for r in rows):
                continue
            run_dir = args.outputs / f"rendered-{n}" / mode.split()[0]
            shutil.rmtree(run_dir, ignore_errors=True)  # timed from scratch (features shared)
            row = sfm_run(conf, scene.image_dir, args.outputs / f"rendered-{n}" / mode.split()[0], feats,
                          seconds, scene.subset(names), names, pairs=mode.split()[0], **opts)
            rows.append({"images": n, "mode": mode, **row})
            io.write_json(partial, rows)
            print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------- report


def mixed_rows(rotation: str, parts: List[tuple]) -> List[dict]:
    """Recall on one collection of every scene together (the others' images as distractors)."""
    names = [n for p in parts for n in p[0]]
    sets = {m: np.concatenate([p[1][m] for p in parts]) for m in parts[0][1]}
    return recall_rows("all scenes together", rotation, names, sets, set().union(*(p[2] for p in parts)))


def recall_table(rows: List[dict]) -> str:
    """Markdown table of the recall rows."""
    head = "| scene | rotation | images | overlapping pairs | method | " + " | ".join(
        f"recall / precision @{k} (pairs)" for k in KS) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = [r["scene"], r["rotation"], str(r["images"]), str(r["overlapping"]), r["method"]]
        cells += [f"{100 * r['recall'][k]:.1f} / {100 * r.get('precision', {}).get(k, float('nan')):.0f} "
                  f"({r['pairs'][k]})" for k in KS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_recall(rows: List[dict]) -> str:
    """Recall pooled over scenes (overlapping pairs found / all overlapping pairs), per rotation and method."""
    rows = [r for r in rows if r["scene"] != "all scenes together"]
    lines = ["| rotation | method | " + " | ".join(f"recall@{k}" for k in KS) + " |", "|---|---|" + "---|" * len(KS)]
    for rot in dict.fromkeys(r["rotation"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["rotation"] == rot and r["method"] == method]
            found = [sum(r["recall"][k] * r["overlapping"] for r in sel) / sum(r["overlapping"] for r in sel)
                     for k in KS]
            lines.append(f"| {rot} | {method} | " + " | ".join(f"{100 * x:.1f}" for x in found) + " |")
    return "\n".join(lines)


def sfm_table(rows: List[dict], first: str) -> str:
    """Markdown table of the SfM rows, keyed by ``first`` (scene or image count)."""
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    head = (f"| {first} | mode | pairs | registered | rot. err. (deg) | pos. err. (%) | extract (s) | "
            "match (s) | mapping (s) | total (s) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        key = f"{r['scene']} {r['rotation']}" if "scene" in r else str(r["images"])
        lines.append(f"| {key} | {r['mode']} | {r['pairs']} | {r['registered']}/{r['total']} | "
                     f"{fmt(r.get('median_rot_err_deg'), '.2f')} | {fmt(r.get('median_pos_err_pct'), '.2f')} | "
                     f"{r['extract_s']:.0f} | {r['match_s']:.0f} | {r['reconstruction_s']:.0f} | {r['total_s']:.0f} |")
    return "\n".join(lines)


def plot(rows: List[dict], path: Path) -> None:
    """Plot pairs and total seconds against the image count, exhaustive and retrieval, to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, style, colour in (("exhaustive", "o-", "C0"), ("retrieval top-10", "s-", "C1")):
        sel = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["images"])
        n = [r["images"] for r in sel]
        a.plot(n, [r["match_s"] + r["reconstruction_s"] for r in sel], style, color=colour,
               label=f"{mode}: match + mapping")
        a.plot(n, [r["total_s"] for r in sel], style, color=colour, alpha=0.35,
               label=f"{mode}: total (with extraction)")
        b.plot(n, [r["registered"] for r in sel], style, color=colour, label=mode)
    n = sorted({r["images"] for r in rows})
    b.plot(n, n, "k:", label="all images")
    a.set(xlabel="images", ylabel="seconds (2 shared CPU cores)", title="time", yscale="log")
    b.set(xlabel="images", ylabel="registered images", title="registration")
    a.legend(fontsize=7, loc="lower right")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def real_scenes(args, parts, results: dict, results_path: Path) -> None:
    """The recall and SfM rows of every scene and rotation into ``results`` (saved after each scene)."""
    for rotation in args.rotations.split(","):
        mix = []
        for name in args.scenes.split(","):
            out = real_scene(name, rotation, args, parts)
            for part in ("recall", "sfm"):  # rows of this scene and rotation replaced
                kept = [r for r in results.get(part, []) if (r["scene"], r["rotation"]) != (name, rotation)]
                results[part] = kept + out[part] if part in parts else results.get(part, [])
            mix += [out["mix"]] if "mix" in out else []
            io.write_json(results_path, results)
        if mix and len(mix) == len(SCENES):
            mixed = mixed_rows(rotation, mix)
            results["recall"] = [r for r in results["recall"] if (r["scene"], r["rotation"]) !=
                                 (mixed[0]["scene"], rotation)] + mixed


def main(argv=None) -> int:
    """Run the asked parts (recall, sfm, scaling, report), resuming from the cached features."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--outputs", type=Path, default=Path("outputs/retrieval"))
    p.add_argument("--parts", default="recall,sfm,scaling")
    p.add_argument("--scenes", default=",".join(SCENES))
    p.add_argument("--rotations", default="none,random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-size", type=int, default=640)
    p.add_argument("--keypoints", type=int, default=2048)
    p.add_argument("--scaling-keypoints", type=int, default=1024)
    p.add_argument("--scaling-sizes", default="50,100,200")
    p.add_argument("--exhaustive-sizes", default="50,100,200")
    p.add_argument("--unaligned-codebook", type=Path, default=Path("outputs/retrieval/codebook_unaligned.npz"))
    p.add_argument("--report", type=Path, default=Path("results/retrieval.md"))
    args = p.parse_args(argv)
    args.scaling_sizes = [int(x) for x in args.scaling_sizes.split(",")]
    args.exhaustive_sizes = [int(x) for x in args.exhaustive_sizes.split(",") if x]
    parts = args.parts.split(",")
    command = "python scripts/benchmark_retrieval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    torch.set_num_threads(2)
    results_path = args.outputs / "results.json"
    results = io.read_json(results_path) if results_path.exists() else {}
    results.pop("scaling", None)
    for row in results.get("recall", []) + results.get("rendered_recall", []):  # JSON keys are text
        for field in ("pairs", "recall", "precision"):
            row[field] = {int(k): v for k, v in row.get(field, {}).items()}
    if "recall" in parts or "sfm" in parts:
        results["commands"] = list(dict.fromkeys(results.get("commands", []) + [command]))
        real_scenes(args, parts, results, results_path)
    if "rendered" in parts:
        results["rendered_recall"] = rendered_recall(args)
        results["commands"] = list(dict.fromkeys(results.get("commands", []) + [command]))
        io.write_json(results_path, results)
    scaling_path = args.outputs / "scaling.json"  # its own file: the parts may run at the same time
    if "scaling" in parts:
        io.write_json(scaling_path, {"command": command, "rows": scaling(args)})
    partial = args.outputs / "scaling.partial.json"
    if scaling_path.exists():
        results["scaling"], results["scaling_command"] = (io.read_json(scaling_path)[k] for k in ("rows", "command"))
    elif partial.exists():  # a scaling run still going, or stopped: the rows it finished
        results["scaling"] = io.read_json(partial)
        results["scaling_command"] = "(rows of an unfinished --parts scaling run, from OUTPUTS/scaling.partial.json)"
    if results.get("scaling"):
        plot(results["scaling"], args.report.with_name("retrieval_scaling.png"))
    write_report(results, args.report)
    return 0


def ordered(rows: List[dict]) -> List[dict]:
    """Rows by rotation (upright first), then scene (SCENES order, all together last); stable."""
    scene_rank = {name: i for i, name in enumerate(SCENES)}
    return sorted(rows, key=lambda r: (r["rotation"] != "none", scene_rank.get(r["scene"], len(SCENES))))


def write_report(results: dict, path: Path) -> None:
    """Write the results as the markdown report at ``path``, with the commands that made them."""
    results = {**results, **{k: ordered(results.get(k, [])) for k in ("recall", "sfm")}}
    commands = results.get("commands", []) + [results.get("scaling_command", "-")]
    text = ["Made by these runs (from the repository root; each part resumes from the "
            "features cached in OUTPUTS; `--parts report` rewrites this file):", "",
            *(f"    {c}" for c in commands), "",
            "Recall of the overlapping pairs (%; module doc of the script for the definition), "
            "pooled over the scenes (each scene its own collection):", "", mean_recall(results.get("recall", [])), "",
            "Per scene, and all scenes as one collection (each scene's images distractors for the others):", "",
            recall_table(results.get("recall", [])), "", "The rendered collection of the scaling (one collection):", "",
            recall_table(results.get("rendered_recall", [])), "", "SfM (relf-fast, relf-ratio matcher):", "",
            sfm_table(results.get("sfm", []), "scene"), "",
            "Scaling (rendered collection, relf-fast):", "", sfm_table(results.get("scaling", []), "images"), ""]
    io.write_text(path, "\n".join(text))


if __name__ == "__main__":
    sys.exit(main())
