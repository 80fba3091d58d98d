"""Matchers by name: ``load_matcher(conf["model"])``, in LightGlue's shape.

A matcher is a ``Matcher`` (``default_conf``) called on one image pair:

    matcher({"descriptors0": [N0, D], "descriptors1": [N1, D] (float, unit length),
             "keypoints0": [N0, 2], "keypoints1": [N1, 2] (pixels)})
        -> {"matches0": [N0] int (index into image 1, -1 for none), "matching_scores0": [N0]}

numpy in and out. ``PairReader`` reads that data from an hloc features file: the match step,
the Ray workers and the evaluation all call matchers through it. A learned matcher
(LightGlue-like) is a new module named in ``MATCHERS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from .. import io
from ..confs import Configurable, load_registered


class Matcher(Configurable):
    """Matches of one image pair (see the module doc)."""

    def __call__(self, data: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """{matches0 [N0], matching_scores0 [N0]} of one pair's keypoints and descriptors."""
        raise NotImplementedError


class PairReader:
    """``reader(name0, name1)`` -> a matcher's data for one pair of an hloc features file
    (keypoints, and descriptors as ``io.read_descriptors`` gives them), the last ``cache``
    images kept; descriptors of two sizes are an error naming both images."""

    def __init__(self, features, cache: int = 64):
        self.features, self.size, self.cache = Path(features), cache, {}

    def image(self, name: str):
        """(keypoints [N, 2], descriptors [N, D]) of one image, cached."""
        if name not in self.cache:
            if len(self.cache) >= self.size:
                self.cache.clear()
            kpts = io.read_features(self.features, name, ["keypoints"])["keypoints"].astype(np.float32)
            self.cache[name] = (kpts, io.read_descriptors(self.features, name))
        return self.cache[name]

    def __call__(self, name0: str, name1: str) -> Dict[str, np.ndarray]:
        """The matcher's data of the pair (name0, name1)."""
        (k0, d0), (k1, d1) = self.image(name0), self.image(name1)
        if d0.shape[1] != d1.shape[1] and len(d0) and len(d1):
            raise ValueError(f"{self.features}: descriptor sizes differ between '{name0}' ({d0.shape[1]}) and "
                             f"'{name1}' ({d1.shape[1]}): features of other extractors or backbones cannot be matched")
        return {"keypoints0": k0, "descriptors0": d0, "keypoints1": k1, "descriptors1": d1}


MATCHERS = {"nearest_neighbor": "relf_hloc.matchers.nearest_neighbor:NearestNeighbor"}


def load_matcher(conf: dict):
    """The matcher named by ``conf["name"]`` (a matcher conf's ``model`` entry)."""
    return load_registered(MATCHERS, conf, "matcher")
