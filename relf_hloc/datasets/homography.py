"""Homography ground truth: loaders for the HPatches, Roto-360 and plain pairs-file layouts.

HPatches (official ``hpatches-sequences-release`` layout)::

    <root>/<seq>/1.ppm ... 6.ppm, H_1_2 ... H_1_6     (3x3 text, image 1 -> image k)

Sequences starting with ``v_`` are viewpoint changes, ``i_`` illumination.
``root`` may also be the parent of a ``hpatches-sequences-release`` folder.

Roto-360::

    <root>/<seq>/<name>_rot<deg>.jpg, <name>_rot<deg>.txt    (9 numbers, reference -> target)

The reference is ``<name>_rot0.jpg``; every ``<name>_rot<deg>.jpg`` (0 included, as in
the paper's 10 x 36 = 360 pairs) is a target.

A pairs file (your own data; the dataset is the file, ``#`` starts a comment)::

    <image0> <image1> <H_file>        (paths relative to the file's folder; H maps image0 -> image1)

Image names are POSIX paths relative to the dataset root (a pairs file's folder): the names the
features files must use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from ..io import write_text

LAYOUTS = ("hpatches", "roto360", "pairs")
ROTO_PATTERN = re.compile(r"^(?P<name>.+)_rot(?P<deg>\d+)\.jpg$")


@dataclass(frozen=True)
class HomographyPair:
    """One evaluation pair: ``H`` [3, 3] maps pixels of ``name0`` to pixels of ``name1``
    (pixel centre at integer coordinates). ``group`` is 'viewpoint'/'illumination' for
    HPatches and the rotation angle in degrees (str) for Roto-360."""

    name0: str
    name1: str
    H: np.ndarray
    sequence: str
    group: str


def read_homography(path) -> np.ndarray:
    """A 3x3 homography from a text file of 9 numbers (any whitespace)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: homography file not found")
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: homography file is not 9 numbers ({e})") from e
    if values.size != 9 or not np.isfinite(values).all():
        raise ValueError(f"{path}: homography file must hold 9 finite numbers, got {values.size}")
    H = values.reshape(3, 3)
    if abs(np.linalg.det(H)) < 1e-12:
        raise ValueError(f"{path}: homography is singular")
    return H


def write_homography(path, H: np.ndarray) -> None:
    """Write 3 lines of 3 numbers with full float64 precision (repr round-trips)."""
    write_text(path, "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in np.asarray(H)))


def sequence_dirs(root: Path, sequences: Optional[Sequence[str]]) -> List[Path]:
    """The sequence folders of a dataset (the named ones, or all), checked to exist."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    if sequences:
        dirs = [root / s for s in sequences]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            raise FileNotFoundError(f"{root}: sequence folder(s) not found: {', '.join(missing)}")
        return dirs
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not dirs:
        raise FileNotFoundError(f"{root}: no sequence folders")
    return dirs


def hpatches_root(root) -> Path:
    """The folder holding the sequences (accepts the parent of hpatches-sequences-release)."""
    root = Path(root)
    release = root / "hpatches-sequences-release"
    return release if release.is_dir() else root


def load_hpatches(root, sequences: Optional[Sequence[str]] = None) -> List[HomographyPair]:
    """Pairs (1, k), k = 2..6, of every sequence; image names ``<seq>/<k>.ppm``."""
    root = hpatches_root(root)
    pairs = []
    for seq in sequence_dirs(root, sequences):
        reference = seq / "1.ppm"
        if not reference.is_file():
            raise FileNotFoundError(f"{reference}: reference image of sequence '{seq.name}' not found "
                                    "(is this an HPatches-layout folder?)")
        group = {"v": "viewpoint", "i": "illumination"}.get(seq.name.split("_")[0], "other")
        targets = sorted((p for p in seq.glob("*.ppm") if p.stem.isdigit() and p.stem != "1"),
                         key=lambda p: int(p.stem))
        if not targets:
            raise FileNotFoundError(f"{seq}: no target images 2.ppm ... 6.ppm")
        for target in targets:
            H = read_homography(seq / f"H_1_{target.stem}")
            pairs.append(HomographyPair(f"{seq.name}/1.ppm", f"{seq.name}/{target.name}", H,
                                        seq.name, group))
    return pairs


def load_roto360(root, sequences: Optional[Sequence[str]] = None,
                 angles: Optional[Sequence[int]] = None) -> List[HomographyPair]:
    """Pairs (``<name>_rot0.jpg``, ``<name>_rot<deg>.jpg``) of every sequence, by angle."""
    root = Path(root)
    pairs = []
    for seq in sequence_dirs(root, sequences):
        found = sorted(((m["name"], int(m["deg"])) for m in map(ROTO_PATTERN.match,
                        (p.name for p in seq.glob("*_rot*.jpg"))) if m), key=lambda t: (t[0], t[1]))
        if not found:
            raise FileNotFoundError(f"{seq}: no '<name>_rot<deg>.jpg' images (is this a Roto-360-layout folder?)")
        for name in sorted({n for n, _ in found}):
            reference = f"{name}_rot0.jpg"
            if not (seq / reference).is_file():
                raise FileNotFoundError(f"{seq / reference}: reference image not found")
            for n, deg in found:
                if n != name or (angles is not None and deg not in angles):
                    continue
                H = read_homography(seq / f"{name}_rot{deg}.txt")
                pairs.append(HomographyPair(f"{seq.name}/{reference}", f"{seq.name}/{name}_rot{deg}.jpg",
                                            H, seq.name, str(deg)))
    return pairs


def load_pairs_file(path, sequences: Optional[Sequence[str]] = None) -> List[HomographyPair]:
    """Pairs of a text file of ``image0 image1 H_file`` lines (relative to the file's folder); a
    pair's sequence is its first image's folder ('.' at the top), its group 'pairs'."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pairs file not found")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("#")[0].split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ValueError(f"{path}:{number}: expected 'image0 image1 H_file', got {line.strip()!r}")
        name0, name1, h_file = fields
        missing = [n for n in (name0, name1) if not (path.parent / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{path}:{number}: image(s) not found: {', '.join(missing)}")
        sequence = Path(name0).parent.as_posix()
        if sequences is None or sequence in sequences:
            pairs.append(HomographyPair(name0, name1, read_homography(path.parent / h_file), sequence, "pairs"))
    if not pairs and sequences is None:
        raise ValueError(f"{path}: no pairs")
    return pairs


def detect_layout(root) -> str:
    """'pairs' for a file, else 'hpatches' or 'roto360' from the files of the first sequence folder."""
    if Path(root).is_file():
        return "pairs"
    root = hpatches_root(root)
    for seq in sequence_dirs(root, None):
        if (seq / "1.ppm").is_file():
            return "hpatches"
        if any(ROTO_PATTERN.match(p.name) for p in seq.glob("*_rot*.jpg")):
            return "roto360"
    raise FileNotFoundError(f"{root}: neither an HPatches nor a Roto-360 layout "
                            "(expected <seq>/1.ppm or <seq>/<name>_rot0.jpg)")


def load_pairs(root, layout: str, sequences: Optional[Sequence[str]] = None,
               angles: Optional[Sequence[int]] = None) -> List[HomographyPair]:
    """Evaluation pairs of a dataset folder in the given layout."""
    if layout == "hpatches":
        return load_hpatches(root, sequences)
    if layout == "roto360":
        return load_roto360(root, sequences, angles)
    if layout == "pairs":
        if angles is not None:
            raise ValueError("angles select Roto-360 pairs: a pairs file has none")
        return load_pairs_file(root, sequences)
    raise ValueError(f"unknown layout '{layout}' (expected one of {', '.join(LAYOUTS)})")


def image_names(pairs: Sequence[HomographyPair]) -> List[str]:
    """Every image the pairs use, sorted: what an extractor must process."""
    return sorted({n for p in pairs for n in (p.name0, p.name1)})


def dataset_root(root, layout: str) -> Path:
    """The folder image names are relative to."""
    if layout == "pairs":
        return Path(root).parent
    return hpatches_root(root) if layout == "hpatches" else Path(root)
