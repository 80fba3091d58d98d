"""Nearest-neighbour matching of L2-normalised descriptors (torch, CPU or GPU), with hloc's
options: mutual check, Lowe's ratio test, a similarity floor; and a ratio test whose rival is
the best neighbour away from the first (``ratio_radius``): keypoints a pixel or two apart
describe one place, so one is no rival of the other."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch

from . import Matcher


RIVALS = 16  # neighbours searched for the ratio test's rival beyond ``ratio_radius``


def rival_similarity(top: torch.Tensor, idx: torch.Tensor, kpts1: torch.Tensor, radius: float) -> torch.Tensor:
    """[B]: the similarity of each row's best neighbour farther than ``radius`` px from its first
    (``top``, ``idx`` [B, K]: the K best similarities and their columns), or of its K-th."""
    pos = kpts1[idx]
    far = (pos - pos[:, :1]).norm(dim=-1) > radius
    far[:, 0] = False
    far[:, -1] = True  # none farther among the K: the K-th stands in (a looser test)
    return top.gather(1, far.float().argmax(1, keepdim=True))[:, 0]


def mutual_nn(desc0, desc1, ratio: Optional[float] = None, min_score: Optional[float] = None,
              mutual: bool = True, device: str = "cpu", block: int = 1024, kpts1=None,
              ratio_radius: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours of L2-normalised descriptors, by dot product.

    desc0 [N0, D], desc1 [N1, D] (numpy or torch). ratio: keep a match only if
    its L2 distance is <= ratio x the distance to the second neighbour (with ``ratio_radius``
    and keypoints ``kpts1`` [N1, 2]: to the best neighbour farther than that from the first).
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
    if k == 2 and ratio_radius:
        k = min(RIVALS, d1.shape[0])
        kpts1 = torch.as_tensor(np.asarray(kpts1), dtype=torch.float32, device=device)
    # row blocks of the similarity matrix: memory stays bounded (block x N1 floats) at any size
    tops, idxs = [], []
    col_best = torch.full((d1.shape[0],), -torch.inf, device=d0.device)  # each column's best similarity
    d1t = d1.T.contiguous()
    for start in range(0, n0, block):
        sim = d0[start:start + block] @ d1t
        top, idx = sim.topk(k, dim=1)
        if k > 2:  # the rival: the best neighbour away from the first
            top = torch.stack([top[:, 0], rival_similarity(top, idx, kpts1, ratio_radius)], 1)
        tops.append(top)
        idxs.append(idx[:, :2])
        torch.maximum(col_best, sim.amax(0), out=col_best)  # values only: an argmax along columns is slow
    top, idx = torch.cat(tops), torch.cat(idxs)
    best, nn01 = top[:, 0], idx[:, 0]
    valid = torch.ones_like(best, dtype=torch.bool)
    if mutual:  # row i's best column j has no better row: i is j's best too (the first row of a tie)
        rows = torch.arange(n0, device=d0.device)
        valid &= best >= col_best[nn01]
        first = torch.full_like(col_best, n0, dtype=torch.long).scatter_reduce(0, nn01[valid], rows[valid], "amin")
        valid &= first[nn01] == rows
    if k >= 2:  # distances of unit vectors: sqrt(2 - 2 cos)
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
                    "min_score": None, "device": "cpu",
                    "ratio_radius": None}  # px: the ratio test's rival is the best neighbour this far away

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

    def __call__(self, data: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """``mutual_nn`` with the conf's options (keypoints1 used only with ``ratio_radius``)."""
        c = self.conf
        matches0, scores0 = mutual_nn(data["descriptors0"], data["descriptors1"], c["ratio_threshold"],
                                      c["min_score"], c["do_mutual_check"], c["device"],
                                      kpts1=data.get("keypoints1"), ratio_radius=c["ratio_radius"])
        return {"matches0": matches0, "matching_scores0": scores0}
