"""Ship a training checkpoint: fp16 weights + metadata, with the run's config and logs.

    python scripts/export_weights.py RUN_DIR [--checkpoint best.pth] [--outputs relf_hloc/weights]

Writes OUTPUT/relf_c16.pth (model weights only, float16, loadable by RELF by
default) and copies RUN_DIR's config.yaml, train.csv, val.csv and train.log beside it as
relf_c16.config.yaml, relf_c16.train.csv, relf_c16.val.csv and relf_c16.train.log.
"""

import argparse
import shutil
from pathlib import Path

from relf_hloc.features.checkpoint import load_checkpoint, save_weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--checkpoint", default="best.pth")
    parser.add_argument("--outputs", type=Path, default=Path("relf_hloc/weights"), help="folder")
    parser.add_argument("--name", default="relf_c16")
    args = parser.parse_args()
    state, meta, _ = load_checkpoint(args.run_dir / args.checkpoint)
    meta = {**meta, "source": f"{args.run_dir.name}/{args.checkpoint}"}
    out = save_weights(args.outputs / f"{args.name}.pth", state, meta)
    for name in ["config.yaml", "train.csv", "val.csv", "train.log"]:
        if (args.run_dir / name).exists():
            shutil.copy(args.run_dir / name, args.outputs / f"{args.name}.{name}")
    print(f"{out}: step {meta.get('step')}, metrics {meta.get('metrics')}, "
          f"{out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
