"""Ship a training checkpoint: fp16 weights + metadata, with the run's config and logs.

    python scripts/export_weights.py RUN_DIR [--checkpoint best.pth] [--outputs relf_hloc/weights]
        [--logs training] [--name relf_c16]

Writes OUTPUT/NAME.pth (model weights only, float16, loadable by RELF by default) with
RUN_DIR's config.yaml beside it as NAME.config.yaml (both ship in the package), and copies
the run's train.csv, val.csv and train.log to LOGS/NAME/ (the repository's training records).
"""

import argparse
import shutil
from pathlib import Path

from relf_hloc.features.checkpoint import load_checkpoint, save_weights


def main():
    """Export a run's checkpoint as shipped weights with its training records."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--checkpoint", default="best.pth")
    parser.add_argument("--outputs", type=Path, default=Path("relf_hloc/weights"), help="folder")
    parser.add_argument("--logs", type=Path, default=Path("training"), help="folder of training records")
    parser.add_argument("--name", default="relf_c16")
    args = parser.parse_args()
    state, meta, _ = load_checkpoint(args.run_dir / args.checkpoint)
    meta = {**meta, "source": f"{args.run_dir.name}/{args.checkpoint}"}
    out = save_weights(args.outputs / f"{args.name}.pth", state, meta)
    if (args.run_dir / "config.yaml").exists():
        shutil.copy(args.run_dir / "config.yaml", args.outputs / f"{args.name}.config.yaml")
    (args.logs / args.name).mkdir(parents=True, exist_ok=True)
    for name in ["train.csv", "val.csv", "train.log"]:
        if (args.run_dir / name).exists():
            shutil.copy(args.run_dir / name, args.logs / args.name / name)
    print(f"{out}: step {meta.get('step')}, metrics {meta.get('metrics')}, "
          f"{out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
