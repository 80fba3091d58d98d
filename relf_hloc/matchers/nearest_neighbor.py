"""Nearest-neighbour matching of L2-normalised descriptors (torch, CPU or GPU), with hloc's
options: mutual check, Lowe's ratio test, a similarity floor."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from . import Matcher


def mutual_nn(desc0, desc1, ratio: Optional[float] = None, min_score: Optional[float] = None,
              mutual: bool = True, device: str = "cpu", block: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours of L2-normalised descriptors, by dot product.

    desc0 [N0, D], desc1 [N1, D] (numpy or torch). ratio: keep a match only if
    its L2 distance is <= ratio x the distance to the second neighbour.
    min_score: minimum dot product. mutual: keep only mutual nearest neighbours. block: rows
    of the similarity matrix computed at once (memory: block x N1 floats).
    Returns matches0 [N0] (index into desc1, -1 for none) and scores0 [N0]
    (the dot product, 0 for none).
    """
    d0 = torch.as_tensor(desc0, dtype=torch.float32, device=device)
    d1 = torch.as_tensor(desc1, dtype=torch.float32, device=device)
    if d0.shape[-1] != d1.shape[-1]:
        raise ValueError(f"descriptor sizes differ: {d0.shape[-1]} vs {d1.shape[-1]}")
    n0 = d0.shape[0]
    if n0 == 0 or d1.shape[0] == 0:
        return np.full(n0, -1, np.int64), np.zeros(n0, np.float32)
    k = 2 if ratio is not None and d1.shape[0] > 1 else 1
    # row blocks of the similarity matrix: memory stays bounded (block x N1 floats) at any size
    tops, idxs = [], []
    col_best = torch.full((d1.shape[0],), -torch.inf, device=d0.device)
    col_arg = torch.zeros(d1.shape[0], dtype=torch.long, device=d0.device)
    for start in range(0, n0, block):
        sim = d0[start:start + block] @ d1.T
        top, idx = sim.topk(k, dim=1)
        tops.append(top)
        idxs.append(idx)
        best, arg = sim.max(0)
        better = best > col_best
        col_best = torch.where(better, best, col_best)
        col_arg = torch.where(better, arg + start, col_arg)
    top, idx = torch.cat(tops), torch.cat(idxs)
    best, nn01 = top[:, 0], idx[:, 0]
    valid = torch.ones_like(best, dtype=torch.bool)
    if mutual:
        valid &= col_arg[nn01] == torch.arange(n0, device=d0.device)
    if k == 2:  # distances of unit vectors: sqrt(2 - 2 cos)
        dist = (2 - 2 * top.clamp(max=1)).clamp(min=0).sqrt()
        valid &= dist[:, 0] <= ratio * dist[:, 1]
    if min_score is not None:
        valid &= best >= min_score
    matches0 = torch.where(valid, nn01, torch.full_like(nn01, -1))
    scores0 = torch.where(valid, best, torch.zeros_like(best))
    return matches0.cpu().numpy().astype(np.int64), scores0.cpu().numpy().astype(np.float32)


class NearestNeighbor(Matcher):
    """Mutual nearest neighbours by dot product (``mutual_nn``) with hloc's options."""

    default_conf = {"name": "nearest_neighbor", "do_mutual_check": True, "ratio_threshold": None,
                    "min_score": None, "device": "cpu"}

    def __init__(self, conf: Optional[dict] = None):
        super().__init__(conf)
        ratio, floor = self.conf["ratio_threshold"], self.conf["min_score"]
        if ratio is not None and not 0 < ratio <= 1:
            raise ValueError(f"ratio_threshold must be in (0, 1], got {ratio}")
        if floor is not None and not -1 <= floor <= 1:
            raise ValueError(f"min_score is a cosine similarity in [-1, 1], got {floor}")
        if self.conf["device"] == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"--device cuda: no CUDA device is available to torch {torch.__version__}; "
                               "use --device cpu")

    def match(self, desc0, desc1) -> Tuple[np.ndarray, np.ndarray]:
        """``mutual_nn`` with the conf's options."""
        c = self.conf
        return mutual_nn(desc0, desc1, c["ratio_threshold"], c["min_score"], c["do_mutual_check"],
                         c["device"])
