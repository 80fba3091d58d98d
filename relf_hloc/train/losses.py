"""RELF training losses: descriptor InfoNCE and orientation alignment.

Keypoint vectors are the fused equivariant features [N, C*G] (field-major,
group-minor; field 0 is the orientation histogram). View 2 is rotated relative to
view 1 by a ground-truth group shift s per keypoint: v2[c, (g + s) % G] = v1[c, g].

Two defects of the original code are fixed here:
- the ground-truth shift is applied once (the original rolled by it twice);
- the orientation loss uses the field-0 activations themselves, not entries of the
  L2-normalised 1024-d vector, whose softmax is almost uniform (no signal).
A third problem shows up once those are fixed (measured: our first CPU run): on raw
activations the network lowers the cross-entropy fastest by making every histogram
flat (entropy -> log G, KL -> 0), which aligns nothing. So each histogram is
standardised over its G bins (zero mean, unit deviation: argmax unchanged) and divided
by a temperature before the softmax; a flat histogram is then impossible.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from ..features.relf import roll_groups  # noqa: F401  (one definition of the group roll)

default_conf = {
    "alpha": 10.0,            # weight of the orientation loss
    "temperature": 0.07,      # InfoNCE temperature
    "entropy_weight": 1.0,    # 1.0: ori. term = cross-entropy (paper); 0.0: pure KL
    "ori_temperature": 0.5,   # softmax temperature of the (standardised) histograms
    "ori_standardize": True,  # False: softmax of raw activations (goes flat, see above)
}


def info_nce(desc1: torch.Tensor, desc2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of desc1 matches row i of desc2, every other row is a negative.

    desc1, desc2 [N, D] (L2-normalised here). Returns the mean over both directions of
    cross-entropy(sim / temperature, diagonal); its minimum is 0.
    """
    d1, d2 = F.normalize(desc1.float(), dim=1), F.normalize(desc2.float(), dim=1)
    logits = d1 @ d2.T / temperature
    target = torch.arange(len(d1), device=d1.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def standardize(hist: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """[N, G] -> zero mean, unit standard deviation over G (keeps the argmax)."""
    hist = hist.float()
    centred = hist - hist.mean(1, keepdim=True)
    return centred / (centred.pow(2).mean(1, keepdim=True) + eps).sqrt()


def orientation_loss(hist1: torch.Tensor, hist2: torch.Tensor, shift: torch.Tensor,
                     temperature: float = 1.0, standardized: bool = True) -> Dict[str, torch.Tensor]:
    """Orientation alignment of histograms [N, G] (field 0, not L2-normalised) with shift [N].

    p = softmax(z1 moved into view 2's frame, by the shift, once), q = softmax(z2), with
    z = standardize(hist) / temperature (or hist / temperature if not ``standardized``).
    Returns ``kl`` = mean KL(p || q) (0 exactly when hist2 is hist1 shifted) and
    ``entropy`` = mean H(p); cross-entropy(p, q) = kl + entropy.
    """
    G = hist1.shape[1]
    z1, z2 = (standardize(hist1), standardize(hist2)) if standardized else (hist1.float(), hist2.float())
    log_p = F.log_softmax(roll_groups(z1, -shift, G) / temperature, dim=1)
    log_q = F.log_softmax(z2 / temperature, dim=1)
    p = log_p.exp()
    return {"kl": (p * (log_p - log_q)).sum(1).mean(), "entropy": -(p * log_p).sum(1).mean()}


def orientation_accuracy(hist1: torch.Tensor, hist2: torch.Tensor, shift: torch.Tensor,
                         tolerance: int = 1) -> torch.Tensor:
    """Fraction of keypoints whose argmax bins differ by the true shift within +-tolerance bins."""
    G = hist1.shape[1]
    error = torch.remainder(hist2.argmax(1) - hist1.argmax(1) - shift.to(hist1.device), G)
    return (torch.minimum(error, G - error) <= tolerance).float().mean()


def relf_loss(vec1: torch.Tensor, vec2: torch.Tensor, shift: torch.Tensor, groups: int,
              conf: dict = None) -> Dict[str, torch.Tensor]:
    """Total training loss for corresponding keypoint vectors of the two views.

    vec1, vec2 [N, C*G] raw fused features (all keypoints of the batch stacked),
    shift [N] ground-truth group shift. Returns a dict with ``total`` =
    alpha * (kl + entropy_weight * entropy) + desc, and the parts (detached metrics
    ``ori_acc`` and ``desc_acc``, the top-1 retrieval rate, for the log).
    """
    conf = {**default_conf, **(conf or {})}
    aligned2 = roll_groups(vec2, shift, groups)
    desc = info_nce(vec1, aligned2, conf["temperature"])
    hist1, hist2 = vec1[:, :groups], vec2[:, :groups]  # field 0: the orientation histogram
    ori = orientation_loss(hist1, hist2, shift, conf["ori_temperature"], conf["ori_standardize"])
    total = conf["alpha"] * (ori["kl"] + conf["entropy_weight"] * ori["entropy"]) + desc
    with torch.no_grad():
        sim = F.normalize(vec1.float(), dim=1) @ F.normalize(aligned2.float(), dim=1).T
        desc_acc = (sim.argmax(1) == torch.arange(len(sim), device=sim.device)).float().mean()
    return {"total": total, "desc": desc, "ori_kl": ori["kl"], "ori_entropy": ori["entropy"],
            "ori_acc": orientation_accuracy(hist1, hist2, shift), "desc_acc": desc_acc}
