"""RELF training losses: descriptor InfoNCE and orientation alignment, and the learned
detector's repeatability and peakiness (``detector_loss``).

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

from ..features.relf import group_align, orientation_histogram, roll_groups

default_conf = {
    "alpha": 10.0,            # weight of the orientation loss
    "temperature": 0.07,      # InfoNCE temperature
    "entropy_weight": 1.0,    # 1.0: ori. term = cross-entropy (paper); 0.0: pure KL
    "ori_temperature": 0.5,   # softmax temperature of the (standardised) histograms
    "ori_standardize": True,  # False: softmax of raw activations (goes flat, see above)
    "repeatability_weight": 1.0,  # learned detector (model.detector): score maps of the views agree
    "peakiness_weight": 1.0,      # ... and have one clear peak per window
    "detector_window": 8,         # window of both terms, stem-grid pixels (16 image pixels)
    "reliability_weight": 0.0,    # ... and scores high where the descriptors match (reliability_loss)
    "reliability_kappa": 0.5,
    "relational_weight": 0.0,     # teacher (train.teacher): cross-view similarities like the teacher's
    "relational_temperature": 0.1,
    "regression_weight": 0.0,     # ... and a projection of the descriptor onto the teacher's (model.projection)
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


def warp_to_view1(score2: torch.Tensor, H: torch.Tensor) -> "tuple[torch.Tensor, torch.Tensor]":
    """View 2's score maps [B, h, w] (stem grid, pixel u = image pixel 2u) sampled at the
    positions of view 1's grid under H [B, 3, 3] (view-1 -> view-2 pixels): (warped maps,
    mask of the grid pixels that land inside view 2)."""
    B, h, w = score2.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=score2.device), torch.arange(w, device=score2.device),
                            indexing="ij")
    grid = torch.stack([xs, ys], -1).reshape(-1, 2).float() * 2  # image pixels of view 1
    xy = grid @ H[:, :2, :2].transpose(1, 2) + H[:, None, :2, 2]
    xy = xy / (grid @ H[:, 2, :2, None] + H[:, None, 2:, 2])  # [B, h*w, 2], view-2 pixels
    uv = xy / 2 / xy.new_tensor([max(w - 1, 1), max(h - 1, 1)]) * 2 - 1  # stem grid, align_corners
    warped = F.grid_sample(score2[:, None], uv.reshape(B, h, w, 2).to(score2.dtype),
                           mode="bilinear", align_corners=True)[:, 0]
    inside = (uv.abs() <= 1).all(-1).reshape(B, h, w)
    return warped, inside


def detector_loss(logits1: torch.Tensor, logits2: torch.Tensor, H: torch.Tensor,
                  conf: dict = None) -> Dict[str, torch.Tensor]:
    """Repeatability and peakiness of score maps (R2D2's two detector terms).

    logits1, logits2 [B, h, w] on the stem grid of the two views, H [B, 3, 3] view 1 ->
    view 2. ``repeatability`` = 1 - mean cosine similarity of N x N windows of view 1's
    scores and view 2's warped onto view 1 (windows inside view 2 only; 0 when identical);
    ``peakiness`` = 1 - mean (local max - local mean) over N windows, both views (0 for one
    peak of score 1 per window on a zero background). Scores are sigmoid(logits).
    """
    conf = {**default_conf, **(conf or {})}
    N = conf["detector_window"]
    s1, s2 = torch.sigmoid(logits1.float()), torch.sigmoid(logits2.float())
    s2w, inside = warp_to_view1(s2, H.float())
    p1 = F.unfold(s1[:, None], N, stride=N // 2)  # [B, N*N, windows]
    p2 = F.unfold(s2w[:, None], N, stride=N // 2)
    full = F.unfold(inside[:, None].float(), N, stride=N // 2).min(1).values > 0
    cosine = F.cosine_similarity(p1, p2, dim=1, eps=1e-6)
    repeatability = 1 - cosine[full].mean() if full.any() else s1.sum() * 0
    peaks = torch.stack([F.max_pool2d(s[:, None], N + 1, 1, N // 2)
                         - F.avg_pool2d(s[:, None], N + 1, 1, N // 2, count_include_pad=False)
                         for s in (s1, s2)])
    peakiness = 1 - peaks.mean()
    total = conf["repeatability_weight"] * repeatability + conf["peakiness_weight"] * peakiness
    return {"total": total, "repeatability": repeatability, "peakiness": peakiness}


def reliability_loss(logits1: torch.Tensor, vec1: torch.Tensor, vec2: torch.Tensor, pts1: torch.Tensor,
                     G: int, kappa: float = 0.5, temperature: float = 0.07) -> Dict[str, torch.Tensor]:
    """Scores high where the descriptors match (R2D2's reliability, with its AP replaced by a
    match probability).

    logits1 [h, w]: view 1's score map (stem grid: pixel u = image pixel 2u); vec1, vec2
    [K, C*G]: fused vectors of K corresponding points of the two views, pts1 [K, 2] their
    view-1 pixels. p_k = softmax probability that point k's group-aligned descriptor (its own
    orientation, as at inference) picks its correspondence among the K of view 2 (no
    gradient); with r_k the score at point k, loss = mean(1 - (r p + kappa (1 - r))): r -> 1
    where p > kappa, r -> 0 where p < kappa.
    """
    with torch.no_grad():
        d1, d2 = group_align(vec1.float(), G)[0], group_align(vec2.float(), G)[0]
        p = torch.softmax(d1 @ d2.T / temperature, 1).diagonal()
    h, w = logits1.shape
    uv = pts1.float() / 2 / pts1.new_tensor([max(w - 1, 1), max(h - 1, 1)]) * 2 - 1
    r = torch.sigmoid(F.grid_sample(logits1[None, None].float(), uv[None, None],
                                    mode="bilinear", align_corners=True)[0, 0, 0])
    return {"reliability": (1 - (r * p + kappa * (1 - r))).mean(), "match_prob": p.mean()}


def relational_loss(desc1: torch.Tensor, desc2: torch.Tensor, teacher: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """Row-wise KL(teacher || student) of similarity softmaxes, both directions.

    desc1, desc2 [M, D]: the student's descriptors of M teacher keypoints in views 1 and 2
    (L2-normalised here); teacher [M, Dt]: the teacher's descriptors of the same points.
    Student logits desc1 @ desc2.T / t, teacher logits teacher @ teacher.T / t; 0 exactly
    when the student's cross-view similarities equal the teacher's.
    """
    d1, d2, t = (F.normalize(x.float(), dim=1) for x in (desc1, desc2, teacher))
    target = F.log_softmax(t @ t.T / temperature, dim=1)
    student = d1 @ d2.T / temperature
    kl = lambda logits: (target.exp() * (target - F.log_softmax(logits, dim=1))).sum(1).mean()  # noqa: E731
    return 0.5 * (kl(student) + kl(student.T))


def regression_loss(projected: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean (1 - cosine) between projected student descriptors [M, Dt] and the teacher's [M, Dt]."""
    return (1 - F.cosine_similarity(projected.float(), teacher.float(), dim=1)).mean()


def distill_loss(vec1: torch.Tensor, vec2: torch.Tensor, shift: torch.Tensor, teacher: torch.Tensor,
                 groups: int, conf: dict, projection=None) -> Dict[str, torch.Tensor]:
    """Distillation from a teacher's descriptors [M, Dt] at M keypoints seen in both views.

    vec1, vec2 [M, C*G] raw fused features, shift [M] ground-truth group shift. Each point is
    group-aligned by view 1's orientation bin (view 2 by that bin + shift, so a true
    correspondence is compared in one frame, as ``relf_loss``); ``relational`` is
    ``relational_loss`` of the aligned descriptors, ``regression`` is ``regression_loss`` of
    ``projection`` (a module [M, C*G] -> [M, Dt]) on both views' aligned descriptors.
    """
    conf = {**default_conf, **(conf or {})}
    bins = orientation_histogram(vec1, groups).argmax(1)
    d1 = F.normalize(roll_groups(vec1.float(), bins, groups), dim=1)
    d2 = F.normalize(roll_groups(vec2.float(), bins + shift.to(bins.device), groups), dim=1)
    out = {"relational": relational_loss(d1, d2, teacher, conf["relational_temperature"])}
    if projection is not None:
        out["regression"] = 0.5 * (regression_loss(projection(d1), teacher)
                                   + regression_loss(projection(d2), teacher))
    out["total"] = conf["relational_weight"] * out["relational"] \
        + conf["regression_weight"] * out.get("regression", 0.0)
    return out
