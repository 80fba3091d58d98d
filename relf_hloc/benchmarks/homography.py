"""Homography benchmark reports: results.md tables and plots, and the
``relf-hloc evaluate homography`` command, over the metrics of
``relf_hloc.eval.homography`` (the RELF paper's protocol).

    relf-hloc evaluate homography --dataset DIR --layout hpatches|roto360 \
        --features FILE.h5 --outputs DIR [--label NAME] [--sequences a,b] [--angles 0,90]
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

from ..log import logger
from ..datasets.homography import dataset_root, image_names, load_pairs
from ..eval.homography import TABLE_THRESHOLDS, evaluate_pairs, results_from_records
from ..images import image_size
from ..io import check_image_sizes, write_json, write_text
from .plots import plot_results


def format_ori_acc(summary: dict) -> str:
    """Orientation accuracy 'matches / gt' (percent) of a summary, '-' where undefined."""
    ori = summary.get("ori_acc") or {}
    return " / ".join("-" if ori.get(k) is None else f"{ori[k]:.1f}" for k in ("matches", "gt"))


def format_loc_error(summary: dict, kind: str) -> str:
    """'median / p90 (dx, dy)' in px of a summary's localisation error of ``kind`` ('matches'
    or 'inliers'), '-' where undefined."""
    e = (summary.get("loc_error") or {}).get(kind)
    return "-" if not e else f"{e['median']:.2f} / {e['p90']:.2f} ({e['dx']:+.2f}, {e['dy']:+.2f})"


def _row(label: str, summary: dict) -> str:
    mma = " | ".join(f"{summary['mma'][str(t)]:.2f}" for t in TABLE_THRESHOLDS)
    return (f"| {label} | {summary['pairs']} | {mma} | {summary['pred_matches']:.1f} | "
            f"{summary['total_points']:.1f} | {format_ori_acc(summary)} | {format_loc_error(summary, 'matches')} | "
            f"{format_loc_error(summary, 'inliers')} |")


def results_markdown(results_by_method: Dict[str, dict]) -> str:
    """Markdown tables: one row per method (and per HPatches group); per-angle MMA for Roto-360."""
    header = ("| method | pairs | " + " | ".join(f"MMA@{t}" for t in TABLE_THRESHOLDS)
              + " | pred. match | total points | ori. ±1 bin matches / GT | loc. error of matches <= 10 px "
              "| loc. error of verified inliers |\n|---|---|" + "---|" * (len(TABLE_THRESHOLDS) + 5))
    rows = []
    for label, res in results_by_method.items():
        rows.append(_row(label, res))
        for group, summary in res.get("per_group", {}).items():
            if len(res["per_group"]) > 1:
                rows.append(_row(f"{label}, {group}", summary))
    text = [header, *rows]
    angle_results = {m: r["per_angle"] for m, r in results_by_method.items() if "per_angle" in r}
    if angle_results:
        angles = sorted({int(a) for per in angle_results.values() for a in per})
        text += ["", "MMA@3 / MMA@5 (%) per rotation angle:", "",
                 "| angle | " + " | ".join(angle_results) + " |",
                 "|---|" + "---|" * len(angle_results)]
        for a in angles:
            cells = [f"{per[str(a)]['mma']['3']:.1f} / {per[str(a)]['mma']['5']:.1f}" if str(a) in per else "-"
                     for per in angle_results.values()]
            text.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(text) + "\n"


PROTOCOL_NOTE = ("Mutual nearest neighbours of L2-normalised descriptors (no ratio test, no RANSAC); "
                 "MMA@t = mean over pairs of the % of matches within t px of the ground truth "
                 "(0 for a pair without matches); pred. match = mean matches per pair; "
                 "total points = mean (N0 + N1) / 2 keypoints per pair, duplicates included; "
                 "ori. ±1 bin = % of keypoint pairs whose orientation turn is within one bin (22.5°) "
                 "of the true rotation, over the predicted matches / over ground-truth correspondences "
                 "(nearest keypoint within 3 px), mean over pairs; loc. error = median / 90th percentile of "
                 "the distance (px) of kpts1 from H(kpts0), with the mean signed offset (dx, dy) in px, of the "
                 "matches within 10 px of the truth and of the inliers of a USAC-MAGSAC homography (3 px), "
                 "median over pairs.")


def write_report(output_dir, results_by_method: Dict[str, dict], title: str, footer: str = "") -> None:
    """results.md and the plots for one or several methods evaluated on one dataset."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = plot_results(results_by_method, output_dir)
    figures = "".join(f"\n![{p.stem}]({p.name})\n" for p in plots)
    write_text(output_dir / "results.md", f"# {title}\n\n{PROTOCOL_NOTE}\n\n"
               f"{results_markdown(results_by_method)}{figures}{footer}")


def main(dataset, layout: str, features, output, label: Optional[str] = None,
         sequences: Optional[Sequence[str]] = None, angles: Optional[Sequence[int]] = None) -> Path:
    """Evaluate one features file on a dataset; writes output/{results.json, results.md, *.png}.

    Returns the path of results.json.
    """
    pairs = load_pairs(dataset, layout, sequences, angles)
    if not pairs:
        raise ValueError(f"{dataset}: no pairs selected (sequences={sequences}, angles={angles})")
    root = dataset_root(dataset, layout)
    check_image_sizes(features, {n: image_size(root / n) for n in image_names(pairs)}, "benchmark image")
    label = label or Path(features).stem
    records = evaluate_pairs(pairs, features)
    results = results_from_records(records, layout, method=label, dataset=str(dataset_root(dataset, layout)),
                                   features=str(features))
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    write_json(output / "results.json", results)
    write_report(output, {label: results}, f"{label} on {Path(dataset).name} ({layout})")
    mma = results["mma"]
    logger.info(f"evaluate homography: {label}: {results['pairs']} pairs, MMA@3 {mma['3']:.2f} "
                f"@5 {mma['5']:.2f} @10 {mma['10']:.2f}, {results['pred_matches']:.1f} matches, "
                f"{results['total_points']:.1f} points -> {output / 'results.json'}")
    return output / "results.json"
