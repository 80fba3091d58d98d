"""hloc-format HDF5 features and matches files, written safely.

Features file: one group per image name (a ``/`` in the name makes nested
groups), with ``keypoints`` [N, 2] (float32, pixel centre at integer
coordinates), ``descriptors`` [D, N], ``scores`` [N], ``image_size`` [2] (w, h)
and any other per-keypoint arrays (``orientations`` in degrees).

Matches file: one group per pair key ``name0.replace('/', '-') + '/' +
name1.replace('/', '-')`` with ``matches0`` [N0] (index into image 1, -1 for
none) and ``matching_scores0`` [N0]. Readers also look up the reversed pair.

Every write opens the file, writes one group and closes it, with SIGINT/SIGTERM
deferred meanwhile: a job stopped between images leaves a valid file holding
every image finished so far, and rerunning it completes the file.

Every other file (text, JSON, images, checkpoints, plots) is written through
:func:`atomic_write`: into a temporary sibling, renamed over the target only when
complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import h5py
import numpy as np

KEYPOINT_DTYPES = (np.float32, np.float64)


class FormatError(ValueError):
    """A file that exists but does not have the expected hloc layout."""


@contextlib.contextmanager
def deferred_signals():
    """Delay SIGINT/SIGTERM until the block ends, so an HDF5 write is never cut."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in handlers:
        signal.signal(s, lambda sig, frame: received.append(sig))
    try:
        yield
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        for sig in received:
            signal.raise_signal(sig)


@contextlib.contextmanager
def open_h5(path, mode: str = "r"):
    """Open an HDF5 file, turning h5py's errors into a message naming the file. A file that
    another live process is writing (``claim``) is refused."""
    path = Path(path)
    if mode == "r" and not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    refuse_if_written(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; an HDF5 file name is expected")
    try:
        f = h5py.File(str(path), mode)
    except OSError as e:
        if "lock" in str(e):
            raise FormatError(f"{path}: another program holds this file open ({e}); wait for it to finish "
                              "or choose another output file") from e
        hint = "" if mode == "r" else "; choose another output file or pass --overwrite to replace it"
        raise FormatError(f"{path}: not a readable HDF5 file ({e}){hint}") from e
    with f:
        yield f


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error
    it is removed, so ``path`` is either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # keeps the suffix for writers that read it
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class OutputFolder:
    """Build a step's output folder next to its destination, then swap it in.

    ``with OutputFolder(dest) as tmp: ...`` writes into ``tmp``; on success
    ``tmp`` replaces ``dest``; on any exception ``tmp`` is deleted and ``dest``
    does not exist. A previous ``dest`` is removed when the step starts (so a
    failed rerun never leaves an old model that looks like this run's result),
    but only if it is empty or looks like one of our outputs.
    """

    def __init__(self, dest, owned_markers=("database.db", "cameras.bin", "cameras.txt"),
                 what: str = "a reconstruction"):
        self.dest = Path(dest)
        self.markers, self.what = owned_markers, what

    def __enter__(self) -> Path:
        if self.dest.exists():
            if not self.dest.is_dir():
                raise NotADirectoryError(f"{self.dest}: exists and is not a folder")
            if any(self.dest.iterdir()) and not any((self.dest / m).exists() for m in self.markers):
                raise RuntimeError(
                    f"{self.dest}: folder exists and does not look like {self.what} "
                    f"(no {' or '.join(self.markers)}); refusing to replace it")
            shutil.rmtree(self.dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.tmp-", dir=self.dest.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        os.replace(self.tmp, self.dest)
        return False


def file_digest(path) -> str:
    """SHA-256 (hex) of a file's content."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_text(path, text: str) -> Path:
    with atomic_write(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def read_json(path):
    """The content of a JSON file; a broken file is an error naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: not valid JSON ({e})") from e


def write_json(path, data) -> Path:
    return write_text(path, json.dumps(data, indent=1) + "\n")


# ---------------------------------------------------------------- provenance
# Every features / matches file this project writes records its settings as a root attribute
# (JSON; hloc ignores attributes, so the files stay hloc files). A resumed run must have the
# same settings; a matches file also records, per pair, a digest of the two images' features
# it was computed from, so that a re-extracted image makes its pairs stale.
PROVENANCE = "relf_hloc"


def read_provenance(path) -> Optional[dict]:
    """The settings recorded in a features or matches file (None: not recorded)."""
    with open_h5(path) as f:
        text = f.attrs.get(PROVENANCE)
    return None if text is None else json.loads(text)


def _hloc_layout(f: h5py.File, kind: str) -> bool:
    """Whether every top-level entry of an open file is an image (features) or pair (matches) group."""
    leaf = "keypoints" if kind == "features" else "matches0"

    def holds(obj):
        return isinstance(obj, h5py.Group) and (leaf in obj or all(holds(c) for c in obj.values()) and len(obj))
    return all(holds(obj) for obj in f.values())


def differences(old: dict, new: dict, where: str = "") -> List[str]:
    """Dotted keys whose values differ between two settings dicts."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{where}{k}.")
        elif a != b:
            out.append(f"{where}{k}: {a!r} -> {b!r}")
    return out


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def writer_of(path) -> Optional[dict]:
    """The other live process of this machine writing ``path`` ({pid, host, command, started}),
    or None. A lock left by a dead process is ignored."""
    lock = _lock_path(Path(path))
    try:
        info = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    if info.get("host") != socket.gethostname() or info.get("pid") == os.getpid():
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except (ProcessLookupError, ValueError, KeyError):
        return None
    except PermissionError:
        pass  # alive, owned by another user
    try:  # a killed process not yet reaped by its parent is a zombie: it writes nothing
        if Path(f"/proc/{int(info['pid'])}/stat").read_text().split(") ")[-1].startswith("Z"):
            return None
    except OSError:
        pass
    return info


def refuse_if_written(path: Path) -> None:
    info = writer_of(path)
    if info:
        raise RuntimeError(f"{path}: being written by process {info['pid']} ({info['command']}, since "
                           f"{info['started']}); wait for it to finish, or write to another file")


def hold_writer_lock(path: Path) -> None:
    """Mark ``path`` as written by this process (``claim``), until ``writing`` ends."""
    lock = _lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv)),
                                "started": time.strftime("%Y-%m-%d %H:%M:%S")}))


@contextlib.contextmanager
def writing(path):
    """A step that writes ``path``: the writer lock its ``claim`` takes is released when the
    step ends, however it ends (a lock left by a killed process names a dead one: ignored)."""
    try:
        yield
    finally:
        lock = _lock_path(Path(path))
        try:
            if json.loads(lock.read_text()).get("pid") == os.getpid():
                lock.unlink()
        except (OSError, ValueError):
            pass


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
                    print(f"warning: {path} records no settings (not written by relf-hloc); resuming it "
                          "by name only: pass --overwrite to recompute it", file=sys.stderr)
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
    with open_h5(path) as f:
        text = f.attrs.get(PROVENANCE + "_shard")
    return None if text is None else json.loads(text)


def check_writable(path) -> None:
    """Fail now (not after the model loaded) when ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; a file name is expected")
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    try:  # a real probe: permission bits do not tell for root, read-only mounts or /proc
        if folder is None or not folder.is_dir():
            raise OSError("not a folder")
        tempfile.TemporaryFile(dir=folder).close()
        if path.exists():
            open(path, "r+b").close()
    except OSError as e:
        raise PermissionError(f"{path}: cannot write here ({e})") from None


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


def check_names(names: Iterable[str], where) -> None:
    """Names hloc's formats cannot hold: whitespace (pairs files separate names by spaces), a
    leading '#' (a comment line in pairs files), and names that ``/`` -> ``-`` makes equal (one
    matches key for two pairs)."""
    names = list(names)
    bad = [n for n in names if any(c.isspace() for c in n)]
    if bad:
        raise ValueError(f"{where}: {len(bad)} image name(s) contain spaces, which hloc's pairs format "
                         f"cannot hold (e.g. '{bad[0]}'); rename them")
    bad = [n for n in names if n.startswith("#")]
    if bad:
        raise ValueError(f"{where}: image name(s) starting with '#' would be read as comments in pairs "
                         f"files (e.g. '{bad[0]}'); rename them")
    flat: Dict[str, str] = {}
    for n in names:
        other = flat.setdefault(n.replace("/", "-"), n)
        if other != n:
            raise ValueError(f"{where}: '{other}' and '{n}' share one key in hloc's matches files "
                             "('/' is written '-'); rename one of them")


def pair_key(name0: str, name1: str, separator: str = "/") -> str:
    """hloc's key of a pair in a matches file."""
    return separator.join((name0.replace("/", "-"), name1.replace("/", "-")))


def list_names(path) -> List[str]:
    """Names of the images whose features are whole (``complete_names``), sorted."""
    return sorted(complete_names(path))


COMPLETE = "complete"  # attribute written last into an image's group: the record is whole


def write_features(path, name: str, features: Dict[str, np.ndarray],
                   as_half: bool = True, image_digest: Optional[str] = None) -> None:
    """Write (or replace) the features of one image, complete or not at all.

    features: ``keypoints`` [N, 2], ``descriptors`` [D, N], ``scores`` [N],
    ``image_size`` [2] (w, h), plus optional per-keypoint arrays. Keypoints are
    kept in float32 or float64 (never float16); with ``as_half`` the other float
    arrays are stored in float16, as hloc does. ``image_digest`` (of the image file's
    bytes) ties the record to the image's content. The group is marked ``complete`` last:
    a write that fails midway (disk full) leaves a record that ``complete_names`` skips, and
    raises an OSError naming the file and the image.
    """
    kpts = np.asarray(features["keypoints"])
    desc = np.asarray(features["descriptors"])
    if kpts.ndim != 2 or kpts.shape[1] != 2:
        raise ValueError(f"{name}: keypoints must be [N, 2], got {kpts.shape}")
    if desc.ndim != 2 or desc.shape[1] != len(kpts):
        raise ValueError(f"{name}: descriptors must be [D, N={len(kpts)}], got {desc.shape}")
    data = {}
    for k, v in features.items():
        v = np.asarray(v)
        if k == "keypoints":
            v = v.astype(v.dtype if v.dtype in KEYPOINT_DTYPES else np.float32)
        elif k == "image_size":
            v = v.astype(np.int64)
        elif as_half and v.dtype in (np.float32, np.float64):
            v = v.astype(np.float16)
        data[k] = v
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with deferred_signals(), open_h5(path, "a") as f:
            if name in f:
                del f[name]
            grp = f.create_group(name)
            for k, v in data.items():
                grp.create_dataset(k, data=v)
            if image_digest is not None:
                grp.attrs["image_digest"] = image_digest
            grp.attrs[COMPLETE] = True
    except (OSError, RuntimeError) as e:
        raise OSError(f"{path}: could not write the features of '{name}' ({e}); the images written "
                      "before are kept: free space (or fix the cause) and rerun to complete the file") from None


def complete_names(path) -> Dict[str, Optional[str]]:
    """{name: image digest or None} of the images whose features are whole. A file this project
    wrote (with provenance) counts only records marked complete; a foreign hloc file, every
    image group holding keypoints."""
    ours = read_provenance(path) is not None
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "keypoints" in obj and (not ours or obj.attrs.get(COMPLETE)):
            digest = obj.attrs.get("image_digest")
            out[name] = None if digest is None else str(digest)

    with open_h5(path) as f:
        f.visititems(visit)
    return out


def image_digest(path) -> str:
    """Short digest of an image file's bytes (features are tied to the content, not the name)."""
    return file_digest(path)[:16]


def read_features(path, name: str, keys: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """Read the features of one image; descriptors come back as [D, N] float32."""
    with open_h5(path) as f:
        if name not in f or "keypoints" not in f[name]:
            raise KeyError(f"{path}: image '{name}' is not in this features file")
        grp = f[name]
        keys = list(grp.keys()) if keys is None else list(keys)
        missing = [k for k in keys if k not in grp]
        if missing:
            raise FormatError(f"{path}: image '{name}' has no dataset(s) {missing}")
        out = {k: grp[k][()] for k in keys}
        checked = {**out, "keypoints": grp["keypoints"][()]} if "descriptors" in out else out
    check_features(path, name, checked)
    for k, v in out.items():
        if v.dtype == np.float16:
            out[k] = v.astype(np.float32)
    return out


def check_features(path, name: str, data: Dict[str, np.ndarray]) -> None:
    """Shapes, counts and values of one image's features as read (foreign files included)."""
    where = f"{path}: image '{name}'"
    kpts, desc = data.get("keypoints"), data.get("descriptors")
    if kpts is not None:
        if kpts.ndim != 2 or kpts.shape[1] != 2:
            raise FormatError(f"{where}: keypoints must be [N, 2], got {list(kpts.shape)}")
        if not np.isfinite(kpts).all():
            raise FormatError(f"{where}: {int((~np.isfinite(kpts)).any(1).sum())} keypoint(s) are NaN or infinite")
    if desc is not None:
        if desc.ndim != 2:
            raise FormatError(f"{where}: descriptors must be [D, N], got {list(desc.shape)}")
        if kpts is not None and desc.shape[1] != len(kpts):
            layout = " (stored [N, D]; hloc stores [D, N])" if desc.shape[0] == len(kpts) else ""
            raise FormatError(f"{where}: {len(kpts)} keypoints but descriptors of shape {list(desc.shape)}{layout}")
        if desc.dtype.kind == "f" and not np.isfinite(desc).all():
            raise FormatError(f"{where}: descriptors hold NaN or infinite values")


def read_descriptors(path, name: str) -> np.ndarray:
    """One image's descriptors [N, D] as the matchers take them: float, unit L2 norm. Integer
    descriptors of other tools (COLMAP's uint8 SIFT) are converted and normalised."""
    desc = read_features(path, name, ["descriptors"])["descriptors"].T
    if desc.dtype.kind in "ui":
        desc = desc.astype(np.float32)
        desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    return desc


def write_matches(path, name0: str, name1: str, matches0: np.ndarray,
                  scores0: np.ndarray, digests: Optional[Tuple[str, str]] = None) -> None:
    """Write the matches of one pair: matches0 [N0] (-1 = none), scores0 [N0]; ``digests``:
    the ``features_digest`` of both images, recorded to detect stale pairs."""
    matches0 = np.asarray(matches0)
    if matches0.ndim != 1 or np.shape(scores0) != matches0.shape:
        raise ValueError(f"{name0} {name1}: matches0 and scores0 must both be [N0]")
    key = pair_key(name0, name1)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with deferred_signals(), open_h5(path, "a") as f:
        if key in f:
            del f[key]
        grp = f.create_group(key)
        grp.create_dataset("matches0", data=matches0.astype(np.int32))
        grp.create_dataset("matching_scores0", data=np.asarray(scores0).astype(np.float16))
        if digests is not None:
            grp.attrs["features0"], grp.attrs["features1"] = digests


def find_pair(f: h5py.File, name0: str, name1: str) -> Tuple[str, bool]:
    """Key of a pair in an open matches file and whether it is stored reversed."""
    for sep in ("/", "_", "-"):  # hloc's current key first, then its legacy ones
        if pair_key(name0, name1, sep) in f:
            return pair_key(name0, name1, sep), False
        if pair_key(name1, name0, sep) in f:
            return pair_key(name1, name0, sep), True
    raise KeyError(f"{Path(f.filename)}: no matches for pair ({name0}, {name1})")


def read_matches(path, name0: str, name1: str) -> Tuple[np.ndarray, np.ndarray]:
    """Matched index pairs [M, 2] (into image 0, image 1) and their scores [M]."""
    with open_h5(path) as f:
        key, reverse = find_pair(f, name0, name1)
        m = f[key]["matches0"][()]
        s = f[key]["matching_scores0"][()].astype(np.float32)
    idx = np.where(m != -1)[0]
    matches = np.stack([idx, m[idx]], -1).astype(np.int64)
    if reverse:
        matches = np.flip(matches, -1).copy()
    return matches, s[idx]


def has_pair(path, name0: str, name1: str) -> bool:
    if not Path(path).exists():
        return False
    with open_h5(path) as f:
        try:
            find_pair(f, name0, name1)
            return True
        except KeyError:
            return False


def read_pairs(path) -> List[Tuple[str, str]]:
    """Pairs file: one ``name0 name1`` per line (blank lines and # comments skipped)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: pairs file not found")
    pairs = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise FormatError(f"{path}:{i}: expected 'name0 name1', got '{line}' "
                              "(image names cannot contain spaces)")
        if parts[0] == parts[1]:
            raise FormatError(f"{path}:{i}: pairs an image with itself ('{parts[0]}')")
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise FormatError(f"{path}: no pairs in the file")
    return pairs


def write_pairs(path, pairs: Iterable[Tuple[str, str]]) -> None:
    write_text(path, "".join(f"{a} {b}\n" for a, b in pairs))
