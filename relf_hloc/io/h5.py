"""hloc-format HDF5 features and matches files, and pairs files.

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
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import h5py
import numpy as np

from .files import FormatError, deferred_signals, file_digest, read_lines, refuse_if_written, write_text

KEYPOINT_DTYPES = (np.float32, np.float64)


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


def check_names(names: Iterable[str], where) -> None:
    """Names hloc's formats cannot hold: whitespace (pairs files separate names by spaces), a
    leading '#' (a comment line in pairs files), a leading '-' (an option to the command line), and
    names that ``/`` -> ``-`` makes equal (one matches key for two pairs)."""
    names = list(names)
    bad = [n for n in names if any(c.isspace() for c in n)]
    if bad:
        raise ValueError(f"{where}: {len(bad)} image name(s) contain spaces, which hloc's pairs format "
                         f"cannot hold (e.g. '{bad[0]}'); rename them")
    bad = [n for n in names if n.startswith("#")]
    if bad:
        raise ValueError(f"{where}: image name(s) starting with '#' would be read as comments in pairs "
                         f"files (e.g. '{bad[0]}'); rename them")
    bad = [n for n in names if n.startswith("-")]
    if bad:
        raise ValueError(f"{where}: image name(s) starting with '-' would be read as options by the command "
                         f"line (visualize matches --pair cannot take them; e.g. '{bad[0]}'); rename them")
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


def groups(f: h5py.File, leaf: str) -> Dict[str, h5py.Group]:
    """{path: group} of the groups of an open file holding ``leaf`` (``keypoints``: images of a
    features file; ``matches0``: pairs of a matches file), sorted by path: the one HDF5 walker.
    In a features file this project wrote, only records marked ``COMPLETE`` (a torn write is no
    record, for every reader: resuming, merging, listing)."""
    marked = leaf == "keypoints" and PROVENANCE in f.attrs
    out: Dict[str, h5py.Group] = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj)
                 if isinstance(obj, h5py.Group) and leaf in obj and (not marked or obj.attrs.get(COMPLETE))
                 else None)
    return dict(sorted(out.items()))


def read_datasets(path) -> Dict[str, np.ndarray]:
    """{path: array} of every dataset of a file (comparing files, tests)."""
    out: Dict[str, np.ndarray] = {}
    with open_h5(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def complete_names(path) -> Dict[str, Optional[str]]:
    """{name: image digest or None} of the images whose features are whole. A file this project
    wrote (with provenance) counts only records marked complete; a foreign hloc file, every
    image group holding keypoints."""
    with open_h5(path) as f:
        return {name: None if g.attrs.get("image_digest") is None else str(g.attrs["image_digest"])
                for name, g in groups(f, "keypoints").items()}


def image_digest(path) -> str:
    """Short digest of an image file's bytes (features are tied to the content, not the name)."""
    return file_digest(path)[:16]


def read_features(path, name: str, keys: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """Read the features of one image; descriptors come back as [D, N] float32."""
    with open_h5(path) as f:
        if name not in f or "keypoints" not in f[name]:
            raise KeyError(f"{path}: image '{name}' is not in this features file")
        grp = f[name]
        if PROVENANCE in f.attrs and not grp.attrs.get(COMPLETE):
            raise KeyError(f"{path}: the features of '{name}' are incomplete (a write was cut); rerun "
                           "extract to complete the file")
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


def check_image_sizes(path, sizes: Dict[str, Tuple[int, int]], what: str) -> None:
    """Each image's (width, height) as another input gives it (a camera, a benchmark image) must
    be the size its features were extracted at (``image_size``; images without it are not
    checked): keypoints of another resolution give wrong poses or scores with no error."""
    with open_h5(path) as f:
        stored = {name: f[name]["image_size"][()] for name in sizes if name in f and "image_size" in f[name]}
    for name, (w, h) in sizes.items():
        if name in stored and (int(stored[name][0]), int(stored[name][1])) != (int(w), int(h)):
            sw, sh = (int(v) for v in stored[name])
            raise ValueError(f"{what} '{name}' is {int(w)}x{int(h)}, but its features in {path} were extracted "
                             f"from a {sw}x{sh} image; give the {what} at the size it was extracted (or extract "
                             "it again at this size)")


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
    """Whether a matches file holds the pair (either order)."""
    if not Path(path).exists():
        return False
    with open_h5(path) as f:
        try:
            find_pair(f, name0, name1)
            return True
        except KeyError:
            return False


def read_pairs(path) -> List[Tuple[str, str]]:
    """Pairs file: one ``name0 name1`` per line (blank lines and # comments skipped; ``read_lines``)."""
    pairs = []
    for i, parts in read_lines(path, "pairs file"):
        if len(parts) != 2:
            raise FormatError(f"{path}:{i}: expected 'name0 name1', got '{' '.join(parts)}' "
                              "(image names cannot contain spaces)")
        if parts[0] == parts[1]:
            raise FormatError(f"{path}:{i}: pairs an image with itself ('{parts[0]}')")
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise FormatError(f"{path}: no pairs in the file")
    return pairs


def write_pairs(path, pairs: Iterable[Tuple[str, str]]) -> None:
    """Write an hloc pairs file ('name0 name1' per line) atomically."""
    write_text(path, "".join(f"{a} {b}\n" for a, b in pairs))
