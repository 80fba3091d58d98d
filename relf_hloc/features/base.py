"""What every extractor, detector and matcher shares: a ``default_conf`` merged with the
user's conf, where an unknown key is an error naming the component."""

from __future__ import annotations

import copy
from typing import Optional


def resolve_conf(default_conf: dict, conf: Optional[dict], who: str) -> dict:
    """``default_conf`` updated with ``conf``; keys not in ``default_conf`` raise ValueError."""
    conf = {**copy.deepcopy(default_conf), **(conf or {})}
    unknown = sorted(set(conf) - set(default_conf))
    if unknown:
        raise ValueError(f"unknown {who} option(s) {unknown} (known: {sorted(default_conf)})")
    return conf
