"""Descriptor matchers by name: ``load_matcher(conf["model"])``.

A matcher is a ``Matcher``: ``default_conf`` and ``match(desc0 [N0, D], desc1 [N1, D]) ->
(matches0 [N0], scores0 [N0])`` (index into image 1, -1 for none), numpy in and out. A learned
matcher (LightGlue-like, also given keypoints) is a new module named in ``MATCHERS``.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..confs import Configurable, load_registered


class Matcher(Configurable):
    """Matches of one image pair's descriptors (see the module doc)."""

    def match(self, desc0: np.ndarray, desc1: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(matches0 [N0], scores0 [N0]) of two images' descriptors [N0, D], [N1, D]."""
        raise NotImplementedError


MATCHERS = {"nearest_neighbor": "relf_hloc.matchers.nearest_neighbor:NearestNeighbor"}


def load_matcher(conf: dict):
    """The matcher named by ``conf["name"]`` (a matcher conf's ``model`` entry)."""
    return load_registered(MATCHERS, conf, "matcher")
