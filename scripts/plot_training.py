"""Plot a training run's curves: losses, training accuracies and validation MMA@5.

    python scripts/plot_training.py RUN_DIR [--output RUN_DIR/training_curve.png] [--smooth 50]
        [--throughput-from STEP]   # median pairs/s of the steps after STEP only (a resumed segment)

Reads RUN_DIR/train.csv (one row per step) and RUN_DIR/val.csv (one row per
validation), both written by ``relf-hloc train``.
"""

import argparse
import csv
from pathlib import Path

import numpy as np

from relf_hloc.figures import plt, save_figure


def read_csv(path: Path):
    """Columns of a CSV file as float arrays, NaN for an empty cell ({} if the file does not exist)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k] or "nan") for r in rows]) for k in rows[0]} if rows else {}


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` steps (shorter at the start) of the steps that have a value
    (a teacher loss is empty on pairs without teacher points)."""
    valid = np.isfinite(values)
    cumsum = np.cumsum(np.insert(np.where(valid, values, 0.0), 0, 0.0))
    count = np.cumsum(np.insert(valid, 0, False))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cumsum[idx] - cumsum[start]) / (count[idx] - count[start])


def plot(run_dir: Path, output: Path, smooth: int, throughput_from: int = 0) -> Path:
    """Plot the losses, validation and throughput of a training run to ``output``."""
    train, val = read_csv(run_dir / "train.csv"), read_csv(run_dir / "val.csv")
    if not train:
        raise FileNotFoundError(f"{run_dir / 'train.csv'}: no training log")
    steps = train["step"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    ax = axes[0]
    for key, label in (("total", "total"), ("desc", "descriptor (InfoNCE)"),
                       ("ori_kl", "orientation KL"), ("ori_entropy", "orientation entropy"),
                       ("relational", "teacher relational"), ("regression", "teacher regression")):
        if key in train:
            ax.plot(steps, moving_average(train[key], smooth), label=label)
    ax.set_yscale("log")
    ax.set_title(f"training losses (mean of {smooth} steps)")
    ax.set_xlabel("step")
    ax.legend()
    ax = axes[1]
    ax.plot(steps, 100 * moving_average(train["ori_acc"], smooth), label="orientation within 1 bin")
    ax.plot(steps, 100 * moving_average(train["desc_acc"], smooth), label="descriptor top-1 retrieval")
    ax.set_ylim(0, 100)
    ax.set_title("training-batch accuracies (%)")
    ax.set_xlabel("step")
    ax.legend()
    ax = axes[2]
    for key in sorted(k for k in val if k.endswith(("/mma5", "/ori_acc"))):
        ax.plot(val["step"], val[key], "o-", label=key.replace("/", " "))
    ax.set_ylim(0, 100)
    ax.set_title("validation (%)")
    ax.set_xlabel("step")
    if val:
        ax.legend(fontsize=8)
    fig.suptitle(f"RELF training: {run_dir}")
    fig.tight_layout()
    save_figure(fig, output)
    best = {k: float(v[np.argmax(val["score"])]) for k, v in val.items()} if val else {}
    timed = steps > throughput_from
    pairs_per_s = np.median(train["pairs_per_s"][timed])
    print(f"plot_training: {len(steps)} steps, median {pairs_per_s:.3f} pairs/s "
          f"({np.median(train['seconds'][timed]):.2f} s/step) over steps {int(steps[timed][0])}-"
          f"{int(steps[timed][-1])}; best validation score "
          f"{best.get('score', float('nan')):.2f} at step {int(best.get('step', 0))} -> {output}")
    return output


def main():
    """Plot a training run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--smooth", type=int, default=50)
    parser.add_argument("--throughput-from", type=int, default=0,
                        help="median pairs/s over the steps after this one only")
    args = parser.parse_args()
    plot(args.run_dir, args.output or args.run_dir / "training_curve.png", args.smooth, args.throughput_from)


if __name__ == "__main__":
    main()
