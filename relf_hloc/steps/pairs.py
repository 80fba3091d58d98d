"""Image pairs to match: exhaustive, sequential (a window of k), queries to database, or by
retrieval (each image with its K most similar by global descriptor; ``relf_hloc.retrieval``).

    relf-hloc pairs --images DIR --output pairs.txt [--mode sequential --window 5]
    relf-hloc pairs --features feats.h5 --output pairs.txt --mode retrieval --num-matched 10 [--queries q.txt]
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from ..log import logger
from .. import io, retrieval
from ..images import list_images, natural_key

Pair = Tuple[str, str]


def exhaustive(names: List[str]) -> List[Pair]:
    """Every unordered pair once, in name order."""
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def sequential(names: List[str], window: int = 5) -> List[Pair]:
    """Each image with the ``window`` images that follow it in natural name order (``natural_key``:
    frame_2 before frame_10), the order of a video's frames, as COLMAP's sequential matcher takes
    its images in order."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    names = sorted(names, key=natural_key)
    return [(a, names[j]) for i, a in enumerate(names)
            for j in range(i + 1, min(i + 1 + window, len(names)))]


def to_database(queries: List[str], names: List[str]) -> List[Pair]:
    """Each query with every other image (the database), for localization."""
    database = [n for n in names if n not in set(queries)]
    return [(q, d) for q in queries for d in database]


def read_query_names(path) -> List[str]:
    """Names of a queries file (hloc's 'name MODEL W H PARAMS...' lines, or bare names)."""
    names = [fields[0] for _, fields in io.read_lines(path, "queries file")]
    if not names:
        raise ValueError(f"{path}: no queries")
    return names


def queries_among(queries, names: List[str], where) -> List[str]:
    """The names of the ``queries`` file, every one of them among ``names`` (those of ``where``)."""
    query_names = read_query_names(queries)
    missing = [q for q in query_names if q not in set(names)]
    if missing:
        raise KeyError(f"{queries}: {len(missing)} query image(s) not in {where}, e.g. '{missing[0]}'")
    return query_names


def by_retrieval(features, names: List[str], num_matched: int, queries=None, db_descriptors=None) -> List[Pair]:
    """Mode ``retrieval``: each image of ``names`` with its ``num_matched`` most similar others
    (global descriptors of ``features``); with ``queries``, each query with its most similar
    database images (the other images of ``features``, or those of ``db_descriptors``)."""
    if features is None:
        raise ValueError("--mode retrieval needs --features: a features file with global descriptors "
                         "(relf-hloc extract --global)")
    if num_matched is None or num_matched < 1:  # an option's range, before any file is read
        raise ValueError(f"--num-matched must be at least 1, got {num_matched}")
    if queries is None:
        return retrieval.collection_pairs(*retrieval.read_global(features, names), num_matched)
    query_names = queries_among(queries, names, features)
    db_file = db_descriptors or features
    database = [n for n in io.list_names(db_file) if n not in set(query_names)]
    if not database:
        raise ValueError(f"{db_file}: no database images besides the queries")
    query, db = retrieval.read_global(features, query_names), retrieval.read_global(db_file, database)
    if query[1].shape[1] != db[1].shape[1]:  # rule 6: files that meet agree
        raise ValueError(f"{db_file}: global descriptors of dimension {db[1].shape[1]}, but those of {features} "
                         f"have {query[1].shape[1]}; extract both with the same conf and --global aggregation")
    return retrieval.query_pairs(*query, *db, num_matched)


def main(output, images=None, mode: str = "exhaustive", window: int = 5,
         names: Optional[List[str]] = None, features=None, queries=None,
         num_matched: Optional[int] = None, db_descriptors=None) -> Path:
    """Write pairs of ``names`` (or of the images in ``images``, or of a features file);
    mode ``query``: each query of the ``queries`` file with every other image; mode
    ``retrieval``: see ``by_retrieval``."""
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
        pairs = to_database(queries_among(queries, names, images or features), names)
    elif mode == "retrieval":
        pairs = by_retrieval(features, names, num_matched, queries, db_descriptors)
    else:
        raise ValueError(f"unknown pairs mode '{mode}' (exhaustive, sequential, query or retrieval)")
    io.write_pairs(output, pairs)
    order = " (natural name order: frame_2 before frame_10)" if mode == "sequential" else ""
    logger.info(f"pairs: {len(pairs)} {mode} pairs{order} of {len(names)} images -> {output}")
    return Path(output)
