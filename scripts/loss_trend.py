"""Mean of train.csv columns over a run's first and last N steps (empty and NaN cells skipped).

    python scripts/loss_trend.py results/teacher_study/c-relational --columns relational desc --steps 150
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path


def mean(rows, column):
    """Mean of a CSV column over ``rows``, skipping blanks and NaN."""
    values = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else float("nan")


def main(argv=None) -> int:
    """Print the first and last ``--steps`` mean of each column per run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders holding train.csv")
    p.add_argument("--columns", nargs="+", default=["total"])
    p.add_argument("--steps", type=int, default=150)
    args = p.parse_args(argv)
    print(f"| run | column | first {args.steps} steps | last {args.steps} steps |\n|---|---|---|---|")
    for run in args.runs:
        with open(run / "train.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        for column in args.columns:
            if column in rows[0]:
                print(f"| {run.name} | {column} | {mean(rows[:args.steps], column):.3f} | "
                      f"{mean(rows[-args.steps:], column):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
