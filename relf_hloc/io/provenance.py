"""What a features or matches file was made with: recorded settings, resuming only with the
same ones, per-pair digests of the features matched, and shards of a job."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import List, Optional, Tuple

import h5py

from ..log import logger
from ..confs import differences
from .files import check_writable, deferred_signals, hold_writer_lock, lock_path, refuse_if_written
from .h5 import PROVENANCE, FormatError, find_pair, open_h5


def _hloc_layout(f: h5py.File, kind: str) -> bool:
    """Whether every top-level entry of an open file is an image (features) or pair (matches) group."""
    leaf = "keypoints" if kind == "features" else "matches0"

    def holds(obj):
        return isinstance(obj, h5py.Group) and (leaf in obj or all(holds(c) for c in obj.values()) and len(obj))
    return all(holds(obj) for obj in f.values())


@contextlib.contextmanager
def writing(path):
    """A step that writes ``path``: the writer lock its ``claim`` takes is released when the
    step ends, however it ends (a lock left by a killed process names a dead one: ignored).
    A step that fails before writing any record leaves no file: a failed start (a model that
    does not load, say) must not leave an empty file whose settings a corrected rerun refuses."""
    try:
        yield
    except BaseException:
        _remove_if_empty(Path(path))
        raise
    finally:
        lock = lock_path(Path(path))
        try:
            if json.loads(lock.read_text()).get("pid") == os.getpid():
                lock.unlink()
        except (OSError, ValueError):
            pass


def _remove_if_empty(path: Path) -> None:
    """Remove an HDF5 file of ours that holds settings but no record (never a foreign file)."""
    try:
        with h5py.File(path, "r") as f:
            empty = PROVENANCE in f.attrs and len(f) == 0
    except OSError:
        return
    if empty:
        path.unlink()


def claim(path, settings: dict, overwrite: bool = False) -> bool:
    """Make ``path`` the output of a step with ``settings`` (``{"kind": "features"|"matches", ...}``),
    before any slow work. Returns True when an existing file is resumed.

    - missing (or ``overwrite``): a new file with the settings recorded;
    - recorded with the same settings: resumed; with other settings: an error naming what differs;
    - an hloc file without recorded settings: resumed by name only, with a warning;
    - anything else (not HDF5, another layout, a folder, a read-only place): an error.
    """
    path, kind = Path(path), settings["kind"]
    settings = json.loads(json.dumps(settings, default=str))  # as it will read back
    refuse_if_written(path)  # before --overwrite could delete another process's work
    check_writable(path)
    hold_writer_lock(path)
    if path.exists() and overwrite:
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder; an HDF5 file name is expected")
        path.unlink()
    if path.exists():
        with open_h5(path, "r") as f:
            recorded = f.attrs.get(PROVENANCE)
            if recorded is None:
                if not _hloc_layout(f, kind):
                    raise FormatError(f"{path}: not an hloc {kind} file written by relf-hloc (it holds other "
                                      "data); refusing to write into it: choose another output file")
                if len(f):
                    logger.warning(f"warning: {path} records no settings (not written by relf-hloc); resuming it "
                                   "by name only: pass --overwrite to recompute it")
                    return True
        if recorded is not None:
            changed = differences(json.loads(recorded), settings)
            if changed:
                raise FormatError(f"{path}: made with other settings ({'; '.join(changed)}); pass "
                                  "--overwrite to recompute it, or choose another output file")
            return True
    path.parent.mkdir(parents=True, exist_ok=True)
    with deferred_signals(), open_h5(path, "a") as f:
        f.attrs[PROVENANCE] = settings_text(settings)
    return False


def settings_text(settings: dict) -> str:
    """The provenance attribute's text of a settings dict."""
    return json.dumps(settings, sort_keys=True, default=str)


def parse_shard(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """'K/N' (0 <= K < N) -> (K, N); None -> None."""
    if text is None:
        return None
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 0/4 (K from 0 to N - 1)") from None
    if n < 1:
        raise ValueError(f"--shard {text}: N (the number of shards) must be at least 1")
    if not 0 <= k < n:
        raise ValueError(f"--shard {text}: K must be in 0..{n - 1}")
    return k, n


def shard_slice(items: List, shard: Optional[Tuple[int, int]]) -> List:
    """The K-th of N contiguous, deterministic slices of ``items`` (all of them for None)."""
    if shard is None:
        return list(items)
    k, n = shard
    return list(items[k * len(items) // n:(k + 1) * len(items) // n])


def write_shard_info(path, shard: Tuple[int, int], total: int) -> None:
    """Record which slice of how many items a shard file holds (for ``merge``)."""
    with deferred_signals(), open_h5(path, "a") as f:
        f.attrs[PROVENANCE + "_shard"] = json.dumps({"index": shard[0], "count": shard[1], "total": total})


def read_shard_info(path) -> Optional[dict]:
    """The shard record of a shard file ({index, count, total}), None for a whole file."""
    with open_h5(path) as f:
        text = f.attrs.get(PROVENANCE + "_shard")
    return None if text is None else json.loads(text)


def features_digest(path, name: str) -> str:
    """Short digest of one image's keypoints and descriptors as stored: it changes whenever
    the image is extracted again with a different result."""
    with open_h5(path) as f:
        grp = f[name]
        data = grp["keypoints"][()].tobytes() + grp["descriptors"][()].tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def pair_digests(path, name0: str, name1: str) -> Optional[Tuple[str, str]]:
    """The features digests a stored pair was matched from (None: not recorded)."""
    with open_h5(path) as f:
        key, reverse = find_pair(f, name0, name1)
        d = f[key].attrs.get("features0"), f[key].attrs.get("features1")
    if None in d:
        return None
    return (d[1], d[0]) if reverse else d
