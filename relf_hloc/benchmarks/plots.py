"""Benchmark plots: MMA@3 and MMA@5 against rotation angle (Roto-360), MMA against threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from ..eval.homography import THRESHOLDS
from ..figures import plt, save_figure


def plot_mma_vs_angle(results_by_method: Dict[str, dict], path, thresholds=(3, 5)) -> Path:
    """One panel per threshold, one curve per method over the Roto-360 angles."""
    fig, axes = plt.subplots(1, len(thresholds), figsize=(6 * len(thresholds), 4), squeeze=False)
    for ax, t in zip(axes[0], thresholds):
        for label, res in results_by_method.items():
            angles = sorted(res["per_angle"], key=int)
            ax.plot([int(a) for a in angles], [res["per_angle"][a]["mma"][str(t)] for a in angles],
                    marker=".", label=label)
        ax.set(title=f"MMA@{t} px", xlabel="rotation angle (degrees)", ylabel="MMA (%)", ylim=(0, 100),
               xticks=range(0, 361, 45))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: long labels
    return save_figure(fig, path, bbox_inches="tight")


def plot_mma_vs_threshold(results_by_method: Dict[str, dict], path) -> Path:
    """MMA at 1..10 px; HPatches gets one panel per group (all, viewpoint, illumination)."""
    panels = {"all": lambda res: res}
    groups = sorted({g for res in results_by_method.values() for g in res.get("per_group", {})})
    if len(groups) > 1:
        panels.update({g: (lambda res, g=g: res["per_group"].get(g)) for g in groups})
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (title, select) in zip(axes[0], panels.items()):
        for label, res in results_by_method.items():
            summary = select(res)
            if summary:
                ax.plot(THRESHOLDS, [summary["mma"][str(t)] for t in THRESHOLDS], marker=".", label=label)
        ax.set(title=f"{title} pairs", xlabel="threshold (px)", ylabel="MMA (%)", ylim=(0, 100),
               xticks=THRESHOLDS)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: long labels
    return save_figure(fig, path, bbox_inches="tight")


def plot_results(results_by_method: Dict[str, dict], output_dir) -> List[Path]:
    """Every plot that applies to these results; returns their paths."""
    output_dir = Path(output_dir)
    plots = []
    if all("per_angle" in r for r in results_by_method.values()):
        plots.append(plot_mma_vs_angle(results_by_method, output_dir / "mma_vs_angle.png"))
    plots.append(plot_mma_vs_threshold(results_by_method, output_dir / "mma_vs_threshold.png"))
    return plots
