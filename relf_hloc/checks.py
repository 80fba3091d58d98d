"""The rules every command follows, checked in one place before any work.

The command line declares each path argument as ``input_path(kind)`` or ``output_path(kind)`` and
each number as ``number(...)`` or ``numbers(...)``; ``check_args`` then applies to every command:

- rule 1, outputs (``check_output``): an output never replaces an input or a file of another kind,
  and its name, folder and symlinks are checked before any work;
- rule 2, option values (``Number``, ``NumberList``, ``PathArg``): checked while the command line
  is parsed, so that the error names the option;
- rule 6, files that meet (``check_agreement``): features, matches and images given together must
  come from one extractor and images of the features' sizes.

Text inputs (rule 3) are read by ``relf_hloc.io.read_lines``: byte-order marks, CRLF and tabs
are what other tools write.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import h5py

# what each kind of file is, in errors ("holds a features file, not a pairs file")
KINDS = {
    "features": "an hloc features file (HDF5)", "matches": "an hloc matches file (HDF5)",
    "hdf5": "HDF5 data of another program",
    "records": "an hloc features or matches file (HDF5)",
    "pairs": "a pairs file (text)", "poses": "a poses file (text)",
    "text": "a text file", "picture": "a picture", "html": "an HTML page", "binary": "binary data",
    "folder": "a folder", "empty": "an empty file", "file": "a file",
}
# what an existing output may hold to be replaced or resumed (default: its kind, or an empty file)
SAME_KIND = {"folder": ("folder",), "records": ("features", "matches", "empty")}
# room a name needs beside it: the temporary '.NAME.tmp-XXXXXXXX' sibling written first, then renamed
HELPER_BYTES = 14


class PathArg:
    """An argparse ``type`` for a path: ``role`` 'input' or 'output', ``kind`` one of ``KINDS``
    (outputs) or what the input holds ('images', 'model', 'conf', ...)."""

    def __init__(self, role: str, kind: str):
        self.role, self.kind = role, kind

    def __call__(self, text: str) -> Path:
        """The path of a command-line value."""
        if not text.strip():
            raise argparse.ArgumentTypeError("an empty path")
        return Path(text)

    def __repr__(self) -> str:
        return f"{self.role} path ({self.kind})"


def input_path(kind: str) -> PathArg:
    """The ``type`` of a path the command reads."""
    return PathArg("input", kind)


def output_path(kind: str) -> PathArg:
    """The ``type`` of a path the command writes (``check_output`` applies)."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    return PathArg("output", kind)


class Number:
    """An argparse ``type`` for a number in a range: ``low`` <= value (or ``above`` < value) and
    value <= ``high``; NaN and infinity are refused."""

    def __init__(self, kind=int, low=None, high=None, above=None):
        self.kind, self.low, self.high, self.above = kind, low, high, above

    def describe(self) -> str:
        """'an integer of at least 1', 'a number greater than 0 and at most 1', ..."""
        bounds = ([f"at least {self.low}"] if self.low is not None else []) + \
            ([f"greater than {self.above}"] if self.above is not None else []) + \
            ([f"at most {self.high}"] if self.high is not None else [])
        what = "an integer" if self.kind is int else "a number"
        return f"{what} {' and '.join(bounds)}" if bounds else what

    def __call__(self, text: str):
        """The value of a command-line text, in range (else argparse's error naming the option)."""
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if not math.isfinite(value) or (self.low is not None and value < self.low) or \
                (self.above is not None and value <= self.above) or (self.high is not None and value > self.high):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {text}")
        return value

    def __repr__(self) -> str:
        return self.describe()


class NumberList(Number):
    """An argparse ``type`` for comma-separated numbers, each a ``Number`` of the same range."""

    def __call__(self, text: str) -> List:
        """The values of a comma-separated command-line text, each in range."""
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, each {self.describe()}, got {text!r}")
        try:
            return [Number.__call__(self, v) for v in values]
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"in {text!r}: {e}") from None


def number(kind=int, low=None, high=None, above=None) -> Number:
    """The ``type`` of a numeric option (see ``Number``)."""
    return Number(kind, low, high, above)


def numbers(kind=int, low=None, high=None, above=None) -> NumberList:
    """The ``type`` of a comma-separated list of numbers (see ``NumberList``)."""
    return NumberList(kind, low, high, above)


# ---------------------------------------------------------------- rule 1: outputs
def _hdf5_kind(path: Path) -> str:
    from .io.provenance import _hloc_layout
    with h5py.File(path, "r") as f:
        recorded = f.attrs.get("relf_hloc")
        if recorded is not None:
            return json.loads(recorded).get("kind", "hdf5")
        if not len(f):
            return "empty"
        return next((k for k in ("features", "matches") if _hloc_layout(f, k)), "hdf5")


def _text_kind(head: bytes) -> str:
    text = head.decode("utf-8", "ignore").lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        return "html"
    fields = {len(line.split()) for line in text.splitlines()[:-1] or text.splitlines()
              if line.strip() and not line.lstrip().startswith("#")}
    return {frozenset({2}): "pairs", frozenset({8}): "poses"}.get(frozenset(fields), "text")


def file_kind(path) -> str:
    """What an existing path holds, one of ``KINDS``: by content, never by name."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "empty"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF")):
        return "picture"
    if head.startswith(b"\x89HDF"):
        try:
            return _hdf5_kind(path)
        except OSError:
            return "hdf5"
    return "binary" if b"\0" in head else _text_kind(head)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_output(path, kind: str, option: str, inputs: Tuple[Tuple[str, Path], ...] = ()) -> None:
    """Rule 1: ``path`` (given as ``option``) may be written as an output of ``kind``: its name
    fits the file system with the temporary file written beside it, its folder is a folder, it is
    no dangling symlink, none of the ``inputs`` ((option, path) pairs), and, when it exists, it
    holds that kind of file (or an empty one): never another kind, whatever ``--overwrite`` says."""
    path = Path(path)
    where = f"{option} {path}"
    folder = next(p for p in path.absolute().parents if p.exists() or p.is_symlink())
    if not folder.is_dir():
        raise NotADirectoryError(f"{where}: {folder} is a file, not a folder; choose an output in a folder")
    size, limit = len(os.fsencode(path.name)), _name_max(folder) - HELPER_BYTES
    if size > limit:
        raise ValueError(f"{where}: the name is {size} bytes long; at most {limit} fit in {folder} "
                         "(the file system's limit, less room for the temporary file written beside it)")
    if path.is_symlink() and not path.exists():
        raise FileExistsError(f"{where}: a symbolic link to {os.readlink(path)}, which does not exist; "
                              "remove the link or choose another output")
    for flag, other in inputs:
        if os.path.realpath(other) == os.path.realpath(path):
            raise ValueError(f"{where}: is also the input {flag}; writing it would destroy that input: "
                             "choose another output")
    if path.exists():
        found = file_kind(path)
        if found not in SAME_KIND.get(kind, (kind, "empty")):
            raise FileExistsError(f"{where}: exists and holds {KINDS[found]}, not {KINDS[kind]}; refusing to "
                                  "replace it (--overwrite only replaces a file of the same kind): choose "
                                  "another output")


# ---------------------------------------------------------------- rule 6: files that meet
def _extractor(path: Path) -> Optional[dict]:
    """The extractor settings recorded in a features file, or in a matches file (of its features)."""
    from .io import read_provenance
    recorded = read_provenance(path) or {}
    return recorded.get("extractor") or (recorded.get("features") or {}).get("extractor")


def _model_features(model: Path) -> Optional[Path]:
    """The features file a model of ``relf-hloc sfm`` was built from (its report.json), if still there."""
    report = model.parent / "report.json"
    try:
        path = model.parent / json.loads(report.read_text())["features"]["file"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() else None


def check_agreement(inputs: Dict[str, List[Path]]) -> None:
    """Rule 6: the features and matches files a command reads together (``inputs``: {kind:
    [paths]}) were made by one extractor (by their recorded provenance; files without one are not
    checked), and a features file meets the images it was extracted from at their sizes."""
    from .io import check_image_sizes
    files = [p for k in ("features", "matches") for p in inputs.get(k, []) if Path(p).is_file()]
    files += [f for m in inputs.get("model", []) for f in [_model_features(Path(m))] if f]
    known = [(p, e) for p, e in ((p, _extractor(p)) for p in files) if e]
    for p, e in known[1:]:
        if e != known[0][1]:
            raise ValueError(f"{p} and {known[0][0]} come from different extractors ({e.get('name')} "
                             f"and {known[0][1].get('name')}, or other settings); give files of one extractor")
    for folder in inputs.get("images", []):
        for features in inputs.get("features", []):
            _check_sizes(Path(folder), Path(features), check_image_sizes)


def _check_sizes(folder: Path, features: Path, check) -> None:
    from .images import image_size
    from .io import list_names
    if not folder.is_dir() or not features.is_file():
        return
    names = [n for n in list_names(features) if (folder / n).is_file()]
    check(features, {n: image_size(folder / n) for n in names}, f"image {folder}/")


# ---------------------------------------------------------------- the wiring
def leaf_actions(parser: argparse.ArgumentParser, args) -> Iterator[argparse.Action]:
    """The actions of the (sub)command ``args`` was parsed for, through nested subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None))
            if chosen is not None:
                yield from leaf_actions(chosen, args)
        else:
            yield action


def _values(args, action) -> List[Path]:
    value = getattr(args, action.dest, None)
    return [Path(v) for v in (value if isinstance(value, list) else [value]) if v is not None]


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Rules 1 and 6 for one parsed command line, before the command runs."""
    paths = [a for a in leaf_actions(parser, args) if isinstance(a.type, PathArg)]
    inputs = tuple((a.option_strings[0], v) for a in paths if a.type.role == "input" for v in _values(args, a))
    for action in paths:
        if action.type.role == "output":
            for value in _values(args, action):
                check_output(value, action.type.kind, action.option_strings[0], inputs)
    by_kind: Dict[str, List[Path]] = {}
    for action in paths:
        if action.type.role == "input":
            by_kind.setdefault(action.type.kind, []).extend(_values(args, action))
    check_agreement(by_kind)
