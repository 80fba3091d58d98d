"""Matching cost at SfM keypoint counts: seconds per pair of mutual-NN matching (with a ratio
test, as SfM uses) for N x N keypoints of D-d descriptors, in row blocks (bounded memory) and
as one similarity matrix, in one run.

    python scripts/benchmark_matching.py [--sizes 2048,4096,8192] [--dims 128,1024] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from relf_hloc.matchers.nearest_neighbor import mutual_nn


def seconds(d0, d1, block: int, device: str, repeats: int) -> float:
    """Best seconds over ``repeats`` runs of mutual_nn on descriptors ``d0``, ``d1`` after a warm-up."""
    mutual_nn(d0, d1, 0.95, device=device, block=block)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mutual_nn(d0, d1, 0.95, device=device, block=block)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    """Time mutual nearest-neighbour matching over sizes and dimensions; print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2048,4096,8192")
    p.add_argument("--dims", default="128,1024")
    p.add_argument("--block", type=int, default=1024)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {args.device}")
    print("| keypoints | dim | blocks of rows: s/pair | peak MB | whole matrix: s/pair | peak MB | ratio |")
    print("|---|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for d in (int(x) for x in args.dims.split(",")):
        for n in (int(x) for x in args.sizes.split(",")):
            d0 = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1).to(args.device)
            d1 = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1).to(args.device)
            tiled = seconds(d0, d1, args.block, args.device, args.repeats)
            whole = seconds(d0, d1, n, args.device, args.repeats)
            mb = lambda rows: rows * n * 4 / 2 ** 20  # noqa: E731  (the similarity block, float32)
            print(f"| {n} | {d} | {tiled:.3f} | {mb(min(args.block, n)):.0f} | {whole:.3f} | {mb(n):.0f} | "
                  f"{tiled / whole:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
