"""Where a run's seconds go: ``stage(name)`` adds the wall time of a block to this process's tally,
``take()`` returns the tally (seconds per stage) and starts a new one.

The stages of the main job: ``load`` (the extractor's model), ``decode`` (reading and preprocessing
images, in the extract step's prefetch thread: it overlaps the features of the image before),
``features`` (the extractor, with
RELF's parts inside it: ``network`` the pyramid's passes, ``sampling`` the maps at the keypoints and
their maximum over levels, ``aligning`` group aligning (and the PCA),
``rootsift`` the RootSIFT part; ``detect`` a detector run ahead of the network), ``matching``,
``verification`` (COLMAP's two-view geometries) and ``mapping``. Work on Ray actors runs in other
processes and is not counted here. On CUDA a stage ends when its work is queued, not done.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Dict, Iterator

_tally: Counter = Counter()
_lock = threading.Lock()


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the wall time of the block under ``name`` (blocks of one name add up)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        with _lock:
            _tally[name] += time.perf_counter() - start


def timed(seconds: Dict[str, float], step: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, its wall time written to ``seconds[step]`` (a driver's seconds per step)."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds[step] = round(time.perf_counter() - start, 2)
    return out


def take() -> Dict[str, float]:
    """Seconds per stage since the last ``take`` (rounded to 10 ms), and a new tally."""
    with _lock:
        out = {k: round(v, 2) for k, v in _tally.items()}
        _tally.clear()
    return out
