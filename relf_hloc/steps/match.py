"""Match features of image pairs with a matcher of the registry (``relf_hloc.matchers``).

    relf-hloc match --pairs pairs.txt --features feats.h5 --output matches.h5 \
        [--conf relf-nn|nn-ratio] [--ratio 0.9] [--min-score 0.5]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..log import logger
from .. import io, timing
from ..confs import get_conf
from ..matchers import PairReader, load_matcher
from .extract import check_shard


def prepare(conf, pairs, features, output, overwrite: bool = False, shard=None):
    """Every check before any work; returns (conf, pairs of the run, pairs to match: new ones
    and stale ones, whose images were extracted again, and each image's features digest)."""
    pairs_path, features, output = Path(pairs), Path(features), Path(output)
    conf = get_conf(conf)
    matcher = load_matcher(conf["model"])  # options checked before any work
    pairs = list(dict.fromkeys(io.read_pairs(pairs_path)))
    shard, total = io.parse_shard(shard), len(pairs)
    pairs = io.shard_slice(pairs, shard)
    names = set(io.list_names(features))
    unknown = sorted({n for p in pairs for n in p} - names)
    if unknown:
        raise KeyError(f"{pairs_path}: {len(unknown)} image(s) not in {features}, "
                       f"e.g. '{unknown[0]}'")
    settings = {"kind": "matches", "matcher": {k: v for k, v in matcher.conf.items() if k != "device"},  # resolved
                "features": io.read_provenance(features)}
    check_shard(output, shard, total, io.claim(output, settings, overwrite))
    digests = {n: io.features_digest(features, n) for n in sorted({n for p in pairs for n in p})}
    todo = [p for p in pairs if not io.has_pair(output, *p)
            or io.pair_digests(output, *p) not in (None, (digests[p[0]], digests[p[1]]))]
    return conf, pairs, todo, digests


def main(conf, pairs, features, output, overwrite: bool = False, shard=None, progress: bool = True) -> Path:
    """Match every pair of the pairs file with the matcher conf ``conf`` (a name of
    ``relf_hloc.confs`` or a dict).

    The output records the matcher's settings and those of the features file, and each pair
    the digests of the two images' features: a rerun skips the pairs already matched from the
    same features, recomputes stale ones (an image extracted again), and refuses a file made
    with other settings (``overwrite`` recomputes it). ``shard`` 'K/N': only the K-th of N
    contiguous slices of the pairs, into its own file (``relf-hloc merge``)."""
    with io.writing(output):
        return match_into(*prepare(conf, pairs, features, output, overwrite, shard), Path(features),
                          Path(output), progress)


def match_into(conf, pairs, todo, digests, features: Path, output: Path, progress: bool) -> Path:
    """Match the pairs ``todo`` into ``output`` (``main``'s work once everything is checked)."""
    stale = sum(io.has_pair(output, *p) for p in todo)
    matcher, read = load_matcher(conf["model"]), PairReader(features)
    start, n_matches = time.time(), []
    for name0, name1 in tqdm(todo, desc="match", unit="pair", disable=not progress):
        with timing.stage("matching"):
            pred = matcher(read(name0, name1))
        io.write_matches(output, name0, name1, pred["matches0"], pred["matching_scores0"],
                         (digests[name0], digests[name1]))
        n_matches.append(int((pred["matches0"] > -1).sum()))
    mean = f"{np.mean(n_matches):.0f}" if n_matches else "-"
    note = f" ({stale} stale: an image was extracted again)" if stale else ""
    logger.info(f"match: {len(todo)} pair(s) matched{note}, {len(pairs) - len(todo)} already in {output}, "
                f"{mean} matches/pair, {time.time() - start:.1f} s")
    return output
