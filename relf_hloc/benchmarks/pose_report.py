"""Tables and plots of the pose benchmark (``relf_hloc.benchmarks.pose``) from its results."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from ..eval.poses import ROTATION_BINS, THRESHOLDS
from ..figures import plt, save_figure


def results_markdown(results: dict) -> str:
    """The results table of a pose benchmark run (markdown)."""
    cols = ["variant", "method", "AUC@5", "@10", "@20", "AUC@10 by rotation 0-45/45-90/90-135/135-180",
            "reg.", "points", "track", "reproj px", "med. rot deg", "med. pos %", "(2deg,2%)", "(5deg,5%)",
            "loc (1deg,1%)", "loc (5deg,5%)", "epipolar px of matches <= 10 px (median / p90)",
            "of inliers", "s/img extr.", "s/pair match", "total s"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

    def f(x, fmt="{:.1f}"):
        return "-" if x is None else fmt.format(x)

    for variant, block in results["variants"].items():
        for method, r in block["methods"].items():
            auc = r.get("auc", {})
            bins = "/".join(f((b["auc"] or {}).get("10")) for b in r.get("auc_by_rotation", {}).values())
            loc = r.get("localization", {})
            name = method + (" (untrained)" if r.get("label") == "untrained" else "")
            cells = [variant, name, f(auc.get("5")), f(auc.get("10")), f(auc.get("20")), bins or "-",
                     f"{r['registered']}/{r['total']}" if "registered" in r else "-",
                     f(r.get("points"), "{}"), f(r.get("track_length"), "{:.2f}"),
                     f(r.get("reprojection_px"), "{:.2f}"), f(r.get("median_rot_err_deg"), "{:.2f}"),
                     f(r.get("median_pos_err_pct"), "{:.2f}"), f(r.get("within_2deg_2pct")),
                     f(r.get("within_5deg_5pct")), f(loc.get("recall_1deg_1pct")),
                     f(loc.get("recall_5deg_5pct")), epi(r, "matches"), epi(r, "inliers"),
                     f(r["speed"]["extract_s_per_image"], "{:.2f}"),
                     f(r["speed"]["match_s_per_pair"], "{:.4f}"), f(r["speed"]["total_s"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def epi(r: dict, kind: str) -> str:
    """'median / p90' of a method's epipolar localisation error of ``kind``, '-' where undefined."""
    e = (r.get("epi_error") or {}).get(kind)
    return "-" if not e else f"{e['median']:.2f} / {e['p90']:.2f}"


def plot_results(results: dict, output: Path) -> List[Path]:
    """AUC@5/10/20 against the in-plane rotation bin; registered fraction per method."""
    paths = []
    bins = [f"{lo}-{hi}" for lo, hi in ROTATION_BINS]
    fig, axes = plt.subplots(1, len(THRESHOLDS), figsize=(5 * len(THRESHOLDS), 4), squeeze=False)
    methods = list(dict.fromkeys(m for block in results["variants"].values() for m in block["methods"]))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}  # one colour per method, one style per variant
    for ax, thr in zip(axes[0], THRESHOLDS):
        for variant, block in results["variants"].items():
            for method, r in block["methods"].items():
                if "auc_by_rotation" not in r:
                    continue
                y = [(r["auc_by_rotation"][b]["auc"] or {}).get(str(thr), np.nan) for b in bins]
                ax.plot(bins, y, color=colors[method], marker="o" if variant == "upright" else "s",
                        linestyle="-" if variant == "upright" else "--", label=f"{method} ({variant})")
        ax.set(title=f"relative pose AUC@{thr} deg", xlabel="in-plane rotation between views (deg)",
               ylabel="AUC (%)", ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    paths.append(save_figure(fig, output / "auc_vs_rotation.png"))

    # registered fraction next to the fraction actually within (5 deg, 5%): a model can
    # register every image and still be wrong
    bars = [(method, variant, r) for variant, block in results["variants"].items()
            for method, r in block["methods"].items() if "registered" in r]
    if bars:
        fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(bars)), 4))
        x = np.arange(len(bars))
        ax.bar(x - 0.2, [100 * r["registered"] / r["total"] for _, _, r in bars], 0.4,
               color=[colors[m] for m, _, _ in bars], label="registered")
        ax.bar(x + 0.2, [r.get("within_5deg_5pct", 0.0) for _, _, r in bars], 0.4,
               color=[colors[m] for m, _, _ in bars], alpha=0.45, hatch="//",
               label="within (5 deg, 5%)")
        ax.set_xticks(x, [f"{m}\n{v.split('-seed')[0]}" for m, v, _ in bars], fontsize=8)
        ax.set(ylabel="images (%)", ylim=(0, 105), title="SfM: registered fraction per method")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        paths.append(save_figure(fig, output / "registered.png"))
    return paths
