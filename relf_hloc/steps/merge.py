"""Merge shards of a features or matches file (``extract/match --shard K/N``) into one hloc file.

    relf-hloc merge --inputs feats.0.h5 feats.1.h5 ... --output feats.h5 [--overwrite]

Streams image by image (or pair by pair), never holding a whole file in memory. Refuses,
before writing anything: shards made with other settings (their provenance), a shard given
twice or missing, an image (or pair) in two shards, and an unfinished shard (it says which
shard holds how many of its images).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import h5py

from ..log import logger
from .. import io
from ..confs import differences

LEAF = {"features": "keypoints", "matches": "matches0"}


def check_shards(inputs: Sequence[Path]) -> dict:
    """The common settings of the shards, after every consistency check."""
    settings = {p: io.read_provenance(p) for p in inputs}
    first = inputs[0]
    for p, s in settings.items():
        if s is None:
            raise io.FormatError(f"{p}: records no settings (not written by relf-hloc); cannot merge it")
        changed = differences(settings[first], s)
        if changed:
            raise io.FormatError(f"{p}: made with other settings than {first} ({'; '.join(changed)})")
    infos = [io.read_shard_info(p) for p in inputs]
    if all(i is not None for i in infos):
        splits = {(i["count"], i["total"]) for i in infos}
        if len(splits) > 1:
            raise ValueError(f"shards of different splits (shards, items): {sorted(splits)}")
        count = splits.pop()[0]
        given = Counter(i["index"] for i in infos)
        twice = sorted(k for k, c in given.items() if c > 1)
        missing = sorted(set(range(count)) - set(given))
        if twice or missing:
            raise ValueError(f"shards of {count}: " + "; ".join(
                ([f"given twice: {twice}"] if twice else []) + ([f"missing: {missing}"] if missing else [])))
    return settings[first], infos


def main(inputs: Sequence, output, overwrite: bool = False) -> Path:
    """Merge shard files into ``output`` (every check first); returns ``output``."""
    inputs, output = [Path(p) for p in inputs], Path(output)
    if not inputs:
        raise ValueError("merge: no input files")
    if output in inputs:
        raise ValueError(f"{output}: is also an input")
    settings, infos = check_shards(inputs)
    leaf = LEAF[settings["kind"]]
    where, short = {}, []
    for p, info in zip(inputs, infos):
        with io.open_h5(p) as f:
            names = list(io.groups(f, leaf))
        for n in names:
            if n in where:
                raise ValueError(f"'{n}' is in both {where[n]} and {p}")
            where[n] = p
        if info is not None:
            k, n, total = info["index"], info["count"], info["total"]
            expected = (k + 1) * total // n - k * total // n
            if len(names) != expected:
                short.append(f"{p} (shard {k}/{n}) holds {len(names)} of its {expected}")
    if short:
        raise ValueError("unfinished shard(s): " + "; ".join(short) + ": run them again to complete them")
    io.check_writable(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output}: exists; pass --overwrite to replace it")
    with io.atomic_write(output) as tmp, h5py.File(tmp, "w") as dst:  # all or nothing
        dst.attrs[io.PROVENANCE] = io.settings_text(settings)
        for p in inputs:
            with h5py.File(p, "r") as src:
                for n in io.groups(src, leaf):
                    parent, _, base = n.rpartition("/")
                    src.copy(src[n], dst.require_group(parent) if parent else dst, base)
    kind = "images" if leaf == "keypoints" else "pairs"
    logger.info(f"merge: {len(where)} {kind} from {len(inputs)} file(s) -> {output}")
    return output
