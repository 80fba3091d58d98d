"""Rotation-invariant global descriptors from RELF's group-aligned local descriptors, and
image pairs by retrieval (hloc's ``pairs_from_retrieval``, rotation invariant).

Each group-aligned RELF descriptor is invariant to in-plane rotation, so any orderless
aggregation of an image's descriptors is too (up to which keypoints are found). Two
aggregations are offered (compared in README "Retrieval"):

- ``gem``: generalised-mean pooling (p = 3) of the descriptors, signed square root, L2;
- ``vlad``: descriptors projected by PCA to ``d`` dimensions, hard-assigned to ``k`` k-means
  centroids, residuals summed per centroid, intra-normalised, signed square root, L2
  (``k * d`` dimensions). The PCA and centroids (the *codebook*) are learned on
  ``../shared/data/train_images`` by ``scripts/make_codebook.py`` and ship as
  ``weights/retrieval_codebook.npz`` (float16).

The global descriptor is written by ``relf-hloc extract --global`` into each image's group of
the features file, as dataset ``global_descriptor`` [G] (hloc's layout), from the descriptors
just computed (no extra network pass). ``relf-hloc pairs --mode retrieval`` reads it back.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import io

CODEBOOK = Path(__file__).resolve().parent / "weights" / "retrieval_codebook.npz"
AGGREGATIONS = ("gem", "vlad")
DEFAULT_AGGREGATION = "vlad"
GEM_P = 3.0
DATASET = "global_descriptor"


def power_l2(x: np.ndarray) -> np.ndarray:
    """Signed square root, then unit L2 norm (zero stays zero), along the last axis."""
    x = np.sign(x) * np.sqrt(np.abs(x))
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def gem(desc: np.ndarray, p: float = GEM_P) -> np.ndarray:
    """GeM pooling of descriptors [N, D] (non-negative parts) -> [D]."""
    pooled = np.mean(np.clip(desc, 1e-6, None) ** p, axis=0) ** (1.0 / p)
    return power_l2(pooled)


@functools.lru_cache(maxsize=4)
def load_codebook(path=None) -> dict:
    """The codebook {mean [D], components [D, d], centroids [k, d]} as float32."""
    path = Path(path or CODEBOOK)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: retrieval codebook not found (make it with scripts/make_codebook.py)")
    with np.load(path) as data:
        return {k: data[k].astype(np.float32) for k in ("mean", "components", "centroids")}


def vlad(desc: np.ndarray, codebook: dict) -> np.ndarray:
    """VLAD of descriptors [N, D] over ``codebook`` -> [k * d]."""
    x = (desc - codebook["mean"]) @ codebook["components"]
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    centroids = codebook["centroids"]
    assign = np.argmin(((x[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    residuals = np.zeros_like(centroids)
    np.add.at(residuals, assign, x - centroids[assign])
    residuals /= np.maximum(np.linalg.norm(residuals, axis=1, keepdims=True), 1e-12)
    return power_l2(residuals.reshape(-1))


def global_descriptor(desc: np.ndarray, aggregation: str = DEFAULT_AGGREGATION, codebook=None) -> np.ndarray:
    """The global descriptor (float32, unit norm; zeros without keypoints) of one image's
    local descriptors [N, D]."""
    desc = np.asarray(desc, np.float32)
    if aggregation == "gem":
        return gem(desc) if len(desc) else np.zeros(desc.shape[1], np.float32)
    if aggregation == "vlad":
        book = load_codebook(codebook)
        if desc.shape[1] == book["mean"].shape[0] + 128:  # RELF + RootSIFT (conf 'rootsift'): the RELF part
            desc = desc[:, :-128] / np.maximum(np.linalg.norm(desc[:, :-128], axis=1, keepdims=True), 1e-12)
        if desc.shape[1] != book["mean"].shape[0]:
            raise ValueError(f"--global vlad: the codebook is for {book['mean'].shape[0]}-dimensional RELF "
                             f"descriptors, these have {desc.shape[1]} (use --global gem for other extractors)")
        k, d = book["centroids"].shape
        return vlad(desc, book) if len(desc) else np.zeros(k * d, np.float32)
    raise ValueError(f"unknown global aggregation '{aggregation}' (choose from {', '.join(AGGREGATIONS)})")


def settings(aggregation: str, codebook=None) -> dict:
    """What determines the global descriptors (recorded in the features file's provenance)."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown global aggregation '{aggregation}' (choose from {', '.join(AGGREGATIONS)})")
    out = {"aggregation": aggregation}
    if aggregation == "vlad":
        path = Path(codebook or CODEBOOK)
        out["codebook"] = io.file_digest(path)[:8] if path.is_file() else str(path)
    return out


# ---------------------------------------------------------------- k-means codebook


def kmeans(x: np.ndarray, k: int, iterations: int = 25, seed: int = 0) -> np.ndarray:
    """Centroids [k, d] of points [N, d] by Lloyd's algorithm (k-means++ seeding)."""
    rng = np.random.default_rng(seed)
    centroids = [x[rng.integers(len(x))]]
    dist = ((x - centroids[0]) ** 2).sum(1)
    for _ in range(1, k):
        centroids.append(x[rng.choice(len(x), p=dist / dist.sum())])
        dist = np.minimum(dist, ((x - centroids[-1]) ** 2).sum(1))
    centroids = np.stack(centroids)
    for _ in range(iterations):
        assign = np.argmin((x ** 2).sum(1)[:, None] - 2 * x @ centroids.T + (centroids ** 2).sum(1), axis=1)
        for j in range(k):
            members = x[assign == j]
            centroids[j] = members.mean(0) if len(members) else x[rng.integers(len(x))]
    return centroids


def learn_codebook(desc: np.ndarray, dim: int = 64, k: int = 32, seed: int = 0) -> dict:
    """PCA to ``dim`` and ``k`` centroids of the projected, normalised descriptors [N, D]."""
    desc = np.asarray(desc, np.float32)
    mean = desc.mean(0)
    _, _, vt = np.linalg.svd(desc - mean, full_matrices=False)
    components = vt[:dim].T
    x = (desc - mean) @ components
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return {"mean": mean, "components": components, "centroids": kmeans(x, k, seed=seed)}


# ---------------------------------------------------------------- retrieval


def read_global(path, names: Optional[Sequence[str]] = None) -> Tuple[List[str], np.ndarray]:
    """(names, global descriptors [N, G] float32) of a features file (all its images by default)."""
    path = Path(path)
    names = list(io.list_names(path) if names is None else names)
    if not names:
        raise ValueError(f"{path}: no images in this features file")
    with io.open_h5(path) as f:
        missing = [n for n in names if n not in f or DATASET not in f[n]]
        if missing:
            raise io.FormatError(f"{path}: {len(missing)} image(s) have no global descriptor (e.g. "
                                 f"'{missing[0]}'); extract them with relf-hloc extract --global")
        desc = np.stack([f[n][DATASET][()] for n in names]).astype(np.float32)
    return names, desc


def global_descriptors(path, names: Sequence[str], aggregation: str) -> np.ndarray:
    """Global descriptors [N, G] of ``names``: those the features file holds, else aggregated
    (``aggregation``) from the images' local descriptors (a file extracted without --global)."""
    with io.open_h5(path) as f:
        stored = all(n in f and DATASET in f[n] for n in names)
    if stored:
        return read_global(path, names)[1]
    return np.stack([global_descriptor(io.read_descriptors(path, n), aggregation) for n in names])


def top_k(scores: np.ndarray, k: int, invalid: Optional[np.ndarray] = None) -> List[Tuple[int, int]]:
    """(row, column) of the ``k`` best columns of each row of ``scores`` [Q, N] (best first),
    skipping ``invalid`` [Q, N] entries."""
    if k < 1:
        raise ValueError(f"--num-matched must be at least 1, got {k}")
    scores = np.where(invalid, -np.inf, scores) if invalid is not None else scores
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [(i, int(j)) for i in range(len(scores)) for j in order[i] if np.isfinite(scores[i, j])]


def collection_pairs(names: Sequence[str], desc: np.ndarray, k: int) -> List[Tuple[str, str]]:
    """Each image with its ``k`` most similar others; each unordered pair once."""
    scores = desc @ desc.T
    pairs, seen = [], set()
    for i, j in top_k(scores, k, np.eye(len(names), dtype=bool)):
        key = (min(i, j), max(i, j))
        if key not in seen:
            seen.add(key)
            pairs.append((names[i], names[j]))
    return pairs


def query_pairs(queries: Sequence[str], q_desc: np.ndarray, database: Sequence[str],
                db_desc: np.ndarray, k: int) -> List[Tuple[str, str]]:
    """Each query with its ``k`` most similar database images (query first, as hloc)."""
    invalid = np.array([[q == d for d in database] for q in queries], dtype=bool)
    return [(queries[i], database[j]) for i, j in top_k(q_desc @ db_desc.T, k, invalid)]

