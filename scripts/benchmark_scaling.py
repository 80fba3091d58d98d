"""Scaling of extraction: one process against Ray with 1 and 2 workers, in one run.

    python scripts/benchmark_scaling.py [--conf relf-fast] [--images 24] [--size 640x480] [--threads 1]

Renders a folder of images (the demo scene), extracts them with ``relf-hloc extract`` in one
process and with ``--ray --workers 1`` and ``--workers 2`` (a local Ray instance; each worker
with ``--threads`` torch threads, the single process too), and prints images/s, the ratio to
one process, the per-shard overhead (Ray with 1 worker against one process, per shard), and an
estimate on paper of the hours for 100,000 images on N workers from the measured per-image time.
The outputs are checked equal to the single-process file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from relf_hloc.io import read_datasets


def run(cmd, env) -> float:
    """Seconds to run ``cmd`` with environment ``env``."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def same(a: Path, b: Path) -> bool:
    """Whether two HDF5 files hold the same datasets with equal values."""
    x, y = read_datasets(a), read_datasets(b)
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


def main() -> int:
    """Time extraction in one process and on 1 and 2 Ray workers; check the files are equal; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default="relf-fast")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process / worker")
    args = parser.parse_args()
    from relf_hloc.datasets import render
    from relf_hloc.steps.distributed import default_shard_size
    w, h = (int(v) for v in args.size.split("x"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    tmp = Path(tempfile.mkdtemp())
    try:
        images = render.main(tmp / "scene", num_cameras=args.images, width=w, height=h) / "images"
        base = [sys.executable, "-m", "relf_hloc.cli", "extract", "--images", str(images), "--conf", args.conf]
        rows = []
        t1 = run(base + ["--output", str(tmp / "one.h5")], env)
        rows.append(("one process", 1, t1))
        for workers in (1, 2):
            out = tmp / f"ray{workers}.h5"
            t = run(base + ["--output", str(out), "--ray", "--workers", str(workers)], env)
            assert same(tmp / "one.h5", out), f"Ray with {workers} worker(s) wrote another file"
            rows.append((f"Ray, {workers} worker(s)", workers, t))
        n = args.images
        print(f"{n} images {w}x{h}, conf {args.conf}, {args.threads} torch thread(s) per process, "
              f"{os.cpu_count()} CPUs; outputs equal to one process")
        print("| run | workers | wall s | images/s | vs one process |")
        print("|---|---|---|---|---|")
        for label, workers, t in rows:
            print(f"| {label} | {workers} | {t:.1f} | {n / t:.2f} | {t1 / t:.2f}x |")
        shards = -(-n // default_shard_size(n, 1))
        print(f"per-shard overhead (Ray 1 worker - one process, incl. Ray start): "
              f"{(rows[1][2] - t1) / shards:.2f} s over {shards} shards")
        per_image = rows[1][2] / n
        for workers in (1, 8, 64):
            print(f"estimate: 100,000 images on {workers} such worker(s): "
                  f"{100_000 * per_image / workers / 3600:.1f} h (from {per_image:.2f} s per image measured)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
