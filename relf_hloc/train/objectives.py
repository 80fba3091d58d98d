"""The training objectives, one per trainable part of the model (glue-factory's ``loss`` of a
model, kept here because the networks live in the lower ``features`` layer).

Each objective says when it applies (``enabled``: the conf, the model's parts, the batch's data)
and returns its named losses with a ``total`` (``losses``); the trainer sums the totals of those
that apply and has no branch of its own. A new objective (a new teacher signal, a new head) is a
class here and a line in ``OBJECTIVES``.

    descriptor: the trunk's group-aligned descriptors and orientation histograms (``relf_loss``)
    teacher:    the trunk against a teacher's features (``distill_loss``; pairs with >= 8 points)
    detector:   the learned detector head (``detector_loss``, ``reliability_loss``)
"""

from __future__ import annotations

from typing import Dict

import torch

from ..features.reresnet import sample_fused
from .losses import detector_loss, distill_loss, relf_loss, reliability_loss

Losses = Dict[str, torch.Tensor]


class Step:
    """What every objective sees of one training step: the model (unwrapped from DDP), the maps
    of both views ([2B, ...], view 1 first), the batch on ``device``'s side, and the conf."""

    def __init__(self, model, feats, batch: dict, conf: dict, device, frozen: bool):
        self.model = getattr(model, "module", model)
        self.feats, self.batch, self.conf, self.device, self.frozen = feats, batch, conf, device, frozen
        self.B = batch["image1"].shape[0]
        self.hw = batch["image1"].shape[-2:]
        self.G = conf["model"]["G"]

    def vectors(self, key1: str, key2: str) -> torch.Tensor:
        """Fused vectors [2B, K, C*G] at the points ``batch[key1]`` (view 1) and ``batch[key2]``."""
        points = torch.cat([self.batch[key1], self.batch[key2]]).to(self.device, non_blocking=True)
        return sample_fused(self.feats, points, self.hw).float()


class Descriptor:
    """The trunk's descriptors (InfoNCE over aligned descriptors) and orientations."""

    def enabled(self, step: Step) -> bool:
        """Whenever the trunk trains."""
        return not step.frozen

    def losses(self, step: Step) -> Losses:
        """``relf_loss`` of the ground-truth correspondences of the batch."""
        vectors = step.vectors("kpts1", "kpts2")
        vec1, vec2 = (v.reshape(-1, vectors.shape[-1]) for v in (vectors[:step.B], vectors[step.B:]))
        return relf_loss(vec1, vec2, step.batch["shift"].reshape(-1).to(step.device), step.G, step.conf["loss"])


class Teacher:
    """The trunk against a teacher's features of the same points (``train.teacher``)."""

    def enabled(self, step: Step) -> bool:
        """When the trunk trains and the batch carries a teacher's points."""
        return not step.frozen and "teacher_mask" in step.batch

    def losses(self, step: Step) -> Losses:
        """``distill_loss`` averaged over the pairs with at least 8 teacher points (NaN parts, zero
        total, where none has: every row of train.csv keeps the same columns)."""
        batch, device, B = step.batch, step.device, step.B
        vectors = step.vectors("teacher_kpts1", "teacher_kpts2")
        projection = step.model.projection
        parts = []
        for b in range(B):
            m = batch["teacher_mask"][b].to(device)
            if m.sum() >= 8:
                parts.append(distill_loss(vectors[b][m], vectors[B + b][m], batch["teacher_shift"][b].to(device)[m],
                                          batch["teacher_desc"][b].to(device)[m], step.G, step.conf["loss"],
                                          projection))
        if not parts:
            nan = torch.tensor(float("nan"), device=device)
            return {"total": torch.zeros((), device=device), "relational": nan,
                    **({"regression": nan} if projection is not None else {})}
        return {k: torch.stack([p[k] for p in parts]).mean() for k in parts[0]}


class Detector:
    """The learned detector head: repeatability and peakiness, and the reliability term."""

    def enabled(self, step: Step) -> bool:
        """When the model has a head."""
        return step.model.detector is not None

    def losses(self, step: Step) -> Losses:
        """``detector_loss`` of the two views' score maps, plus ``reliability_loss`` when weighted."""
        conf, B = step.conf["loss"], step.B
        logits = step.model.detector([f.float() for f in step.feats])
        losses = detector_loss(logits[:B], logits[B:], step.batch["H"].to(step.device), conf)
        if conf["reliability_weight"]:
            points = torch.cat([step.batch["points1"], step.batch["points2"]]).to(step.device)
            with torch.no_grad():
                pv = step.vectors("points1", "points2")
            parts = [reliability_loss(logits[b], pv[b], pv[B + b], points[b], step.G, conf["reliability_kappa"])
                     for b in range(B)]
            for key in parts[0]:
                losses[key] = torch.stack([part[key] for part in parts]).mean()
            losses["total"] = losses["total"] + conf["reliability_weight"] * losses["reliability"]
        return losses


OBJECTIVES = {"descriptor": Descriptor(), "teacher": Teacher(), "detector": Detector()}


def total_losses(step: Step) -> Losses:
    """Every enabled objective's named losses, and ``total``, the sum of their totals."""
    out: Losses = {}
    total = torch.zeros((), device=step.device)
    for objective in OBJECTIVES.values():
        if objective.enabled(step):
            losses = objective.losses(step)
            total = total + losses.pop("total")
            out.update(losses)
    return {"total": total, **out}
