"""Match features of image pairs by mutual nearest neighbour (RELF's protocol).

    relf-hloc match --pairs pairs.txt --features feats.h5 --output matches.h5 [--ratio 0.9]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
from tqdm import tqdm

from . import io


def mutual_nn(desc0, desc1, ratio: Optional[float] = None, min_score: Optional[float] = None,
              device: str = "cpu") -> Tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of L2-normalised descriptors, by dot product.

    desc0 [N0, D], desc1 [N1, D] (numpy or torch). ratio: keep a match only if
    its L2 distance is <= ratio x the distance to the second neighbour.
    min_score: minimum dot product. Returns matches0 [N0] (index into desc1,
    -1 for none) and scores0 [N0] (the dot product, 0 for none).
    """
    d0 = torch.as_tensor(desc0, dtype=torch.float32, device=device)
    d1 = torch.as_tensor(desc1, dtype=torch.float32, device=device)
    if d0.shape[-1] != d1.shape[-1]:
        raise ValueError(f"descriptor sizes differ: {d0.shape[-1]} vs {d1.shape[-1]}")
    n0 = d0.shape[0]
    if n0 == 0 or d1.shape[0] == 0:
        return np.full(n0, -1, np.int64), np.zeros(n0, np.float32)
    sim = d0 @ d1.T
    k = 2 if ratio is not None and d1.shape[0] > 1 else 1
    top, idx = sim.topk(k, dim=1)
    best, nn01 = top[:, 0], idx[:, 0]
    nn10 = sim.argmax(0)
    valid = nn10[nn01] == torch.arange(n0, device=sim.device)
    if k == 2:  # distances of unit vectors: sqrt(2 - 2 cos)
        dist = (2 - 2 * top.clamp(max=1)).clamp(min=0).sqrt()
        valid &= dist[:, 0] <= ratio * dist[:, 1]
    if min_score is not None:
        valid &= best >= min_score
    matches0 = torch.where(valid, nn01, torch.full_like(nn01, -1))
    scores0 = torch.where(valid, best, torch.zeros_like(best))
    return matches0.cpu().numpy().astype(np.int64), scores0.cpu().numpy().astype(np.float32)


def main(pairs, features, output, ratio: Optional[float] = None,
         min_score: Optional[float] = None, overwrite: bool = False, device: str = "cpu",
         progress: bool = True) -> Path:
    """Match every pair of the pairs file; pairs already in ``output`` are skipped."""
    pairs_path, features, output = Path(pairs), Path(features), Path(output)
    pairs = io.read_pairs(pairs_path)
    names = set(io.list_names(features))
    unknown = sorted({n for p in pairs for n in p} - names)
    if unknown:
        raise KeyError(f"{pairs_path}: {len(unknown)} image(s) not in {features}, "
                       f"e.g. '{unknown[0]}'")
    if output.exists() and overwrite:
        output.unlink()
    todo = [p for p in dict.fromkeys(pairs) if not io.has_pair(output, *p)]
    start, cache, n_matches = time.time(), {}, []

    def descriptors(name):
        if name not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[name] = io.read_features(features, name, ["descriptors"])["descriptors"].T
        return cache[name]

    for name0, name1 in tqdm(todo, desc="match", unit="pair", disable=not progress):
        d0, d1 = descriptors(name0), descriptors(name1)
        if d0.shape[1] != d1.shape[1] and len(d0) and len(d1):
            raise ValueError(f"{features}: descriptor sizes differ between '{name0}' "
                             f"({d0.shape[1]}) and '{name1}' ({d1.shape[1]})")
        m0, s0 = mutual_nn(d0, d1, ratio, min_score, device)
        io.write_matches(output, name0, name1, m0, s0)
        n_matches.append(int((m0 > -1).sum()))
    mean = f"{np.mean(n_matches):.0f}" if n_matches else "-"
    print(f"match: {len(todo)} pair(s) matched, {len(pairs) - len(todo)} already in {output}, "
          f"{mean} matches/pair, {time.time() - start:.1f} s")
    return output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", required=True, type=Path, help="pairs file: 'name0 name1' per line")
    parser.add_argument("--features", required=True, type=Path, help="hloc features file")
    parser.add_argument("--output", required=True, type=Path, help="matches file (.h5)")
    parser.add_argument("--ratio", type=float, help="ratio test on L2 distances (default: none)")
    parser.add_argument("--min-score", type=float, help="minimum descriptor similarity")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--overwrite", action="store_true")


def run(args) -> int:
    main(args.pairs, args.features, args.output, args.ratio, args.min_score, args.overwrite,
         args.device)
    return 0
