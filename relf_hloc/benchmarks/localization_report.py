"""Tables and the recall plot of the localization benchmark (``relf_hloc.benchmarks.localization``),
for one scene or pooled over several (``summary``)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np

from ..eval.poses import within_key
from ..figures import plt, save_figure

THRESHOLDS = ((0.5, 0.25), (1.0, 0.5), (2.0, 1.0))  # (degrees, % of the scene size)
RECALL_KEYS = [within_key(d, p) for d, p in THRESHOLDS]
MAIN = within_key(1.0, 0.5)


def pick(rows: Sequence[dict], **where) -> List[dict]:
    """The rows whose fields equal ``where``."""
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def pooled(rows: Sequence[dict]) -> dict:
    """Rows of the same setting on several scenes as one: counts summed, recall over all queries."""
    total = sum(r["total"] for r in rows)
    errors = [e for r in rows for e in r.get("errors", [])]
    return {"localized": sum(r["localized"] for r in rows), "total": total,
            "recall": {k: sum(r["recall"][k] * r["total"] for r in rows) / max(total, 1) for k in RECALL_KEYS},
            "median_rot_err_deg": float(np.median([e[0] for e in errors])) if errors else None,
            "median_pos_err_pct": float(np.median([e[1] for e in errors])) if errors else None,
            "failures": {k: sum(r.get("failures", {}).get(k, 0) for r in rows)
                         for k in sorted({k for r in rows for k in r.get("failures", {})})},
            "seconds_per_query": float(np.mean([r.get("seconds_per_query", 0.0) for r in rows]))}


def fmt(value, digits: int = 2) -> str:
    """A number for a table, '-' for None."""
    return "-" if value is None else f"{value:.{digits}f}"


def main_table(rows: Sequence[dict], methods: Sequence[str], every: Sequence[int], variants: Sequence[str]) -> str:
    """SfM reference model, known intrinsics: recall, medians, failures and time per query."""
    head = ("| method | model of | queries | localized | (0.25 %, 0.5°) | (0.5 %, 1°) | (1 %, 2°) | "
            "median pos. (%) | median rot. (°) | failures | s / query |\n" + "|---" * 11 + "|\n")
    lines = []
    for method in methods:
        for e in every:
            for variant in variants:
                sel = pick(rows, method=method, every=e, variant=variant, model="sfm", intrinsics="known")
                if not sel:
                    continue
                r = pooled(sel)
                fails = ", ".join(f"{n} {k}" for k, n in r["failures"].items() if n) or "-"
                lines.append(f"| {method} | every {e} | {variant} | {r['localized']}/{r['total']} | "
                             + " | ".join(f"{r['recall'][k]:.1f}" for k in RECALL_KEYS)
                             + f" | {fmt(r['median_pos_err_pct'])} | {fmt(r['median_rot_err_deg'])} | {fails} | "
                             f"{r['seconds_per_query']:.2f} |")
    return head + "\n".join(lines) + "\n"


def split_table(rows: Sequence[dict], methods: Sequence[str], every: Sequence[int], variants: Sequence[str]) -> str:
    """Recall at (0.5 %, 1°): SfM model against the ground-truth-triangulated one (the query's own
    error), and guessed intrinsics."""
    head = ("| method | model of | queries | SfM model, known K | ground-truth model, known K | SfM model, "
            "guessed K |\n|---|---|---|---|---|---|\n")
    lines = []
    for method in methods:
        for e in every:
            for variant in variants:
                cells = [pick(rows, method=method, every=e, variant=variant, model=m, intrinsics=k)
                         for m, k in (("sfm", "known"), ("gt", "known"), ("sfm", "guessed"))]
                if all(cells):
                    lines.append(f"| {method} | every {e} | {variant} | "
                                 + " | ".join(f"{pooled(c)['recall'][MAIN]:.1f}" for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


def markdown(rows: Sequence[dict]) -> str:
    """Both tables of some rows (one scene, or several pooled)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    every = sorted({r["every"] for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    return ("Recall (%) of the queries within (position error as % of the scene size, rotation error); "
            "SfM reference model, known intrinsics:\n\n" + main_table(rows, methods, every, variants)
            + "\nRecall (%) at (0.5 %, 1°) by the model's origin and the query's intrinsics:\n\n"
            + split_table(rows, methods, every, variants))


def plot_recall(rows: Sequence[dict], path, every: int = None) -> Path:
    """Recall against the threshold (t % of the scene size and 2t degrees), SfM model and known
    intrinsics, upright (solid) against rolled (dashed), one colour per method."""
    every = every or min(r["every"] for r in rows)
    ts = np.linspace(0.05, 2.0, 40)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for i, method in enumerate(methods):
        for variant, style in (("upright", "-"), ("rolled", "--"), ("rolled-90", ":")):
            sel = pick(rows, method=method, every=every, variant=variant, model="sfm", intrinsics="known")
            if not sel:
                continue
            errors = np.array([e for r in sel for e in r.get("errors", [])]).reshape(-1, 2)
            total = sum(r["total"] for r in sel)
            recall = [100 * np.sum((errors[:, 0] <= 2 * t) & (errors[:, 1] <= t)) / total for t in ts]
            ax.plot(ts, recall, style, color=f"C{i}", label=f"{method}, {variant}")
    ax.set(xlabel="threshold: t % of the scene size and 2t degrees", ylabel="queries localized within (%)",
           ylim=(0, 100), title=f"localization, reference model of every {every} photo(s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    return save_figure(fig, path, bbox_inches="tight")
