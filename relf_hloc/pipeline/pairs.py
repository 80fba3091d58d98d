"""Image pairs to match: exhaustive, sequential (a window of k), or queries to database.

    relf-hloc pairs --images DIR --output pairs.txt [--mode sequential --window 5]
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from .. import io
from ..images import list_images

Pair = Tuple[str, str]


def exhaustive(names: List[str]) -> List[Pair]:
    """Every unordered pair once, in name order."""
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def sequential(names: List[str], window: int = 5) -> List[Pair]:
    """Each image with the ``window`` images that follow it (video-like order)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return [(a, names[j]) for i, a in enumerate(names)
            for j in range(i + 1, min(i + 1 + window, len(names)))]


def to_database(queries: List[str], names: List[str]) -> List[Pair]:
    """Each query with every other image (the database), for localization."""
    database = [n for n in names if n not in set(queries)]
    return [(q, d) for q in queries for d in database]


def read_query_names(path) -> List[str]:
    """Names of a queries file (hloc's 'name MODEL W H PARAMS...' lines, or bare names)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: queries file not found")
    names = [line.split()[0] for line in path.read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    if not names:
        raise ValueError(f"{path}: no queries")
    return names


def main(output, images=None, mode: str = "exhaustive", window: int = 5,
         names: Optional[List[str]] = None, features=None, queries=None) -> Path:
    """Write pairs of ``names`` (or of the images in ``images``, or of a features file);
    mode ``query``: each query of the ``queries`` file with every other image."""
    if names is None:
        names = list_images(images) if images is not None else io.list_names(features)
    io.check_names(names, images or features)
    if mode == "exhaustive":
        pairs = exhaustive(names)
    elif mode == "sequential":
        pairs = sequential(names, window)
    elif mode == "query":
        if queries is None:
            raise ValueError("--mode query needs --queries (a queries file: one image name per line)")
        query_names = read_query_names(queries)
        missing = [q for q in query_names if q not in set(names)]
        if missing:
            raise KeyError(f"{queries}: {len(missing)} query image(s) not in {images or features}, "
                           f"e.g. '{missing[0]}'")
        pairs = to_database(query_names, names)
    else:
        raise ValueError(f"unknown pairs mode '{mode}' (exhaustive, sequential or query)")
    io.write_pairs(output, pairs)
    print(f"pairs: {len(pairs)} {mode} pairs of {len(names)} images -> {output}")
    return Path(output)
