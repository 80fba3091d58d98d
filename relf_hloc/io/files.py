"""Filesystem safety: atomic writes, output folders swapped in whole, deferred signals,
writer locks between processes, and write probes before slow work."""

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
from typing import List, Optional, Tuple


class FormatError(ValueError):
    """A file that exists but does not have the expected layout (hloc HDF5, JSON)."""


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
    """Write ``text`` to ``path`` atomically."""
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


def read_text(path, what: str) -> str:
    """The text of a file as other tools write it (rule 3): UTF-8 with or without a byte-order
    mark, or UTF-16 with one (Windows' "Unicode"); any line ends. Errors name the file and
    ``what`` it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: {what} is not UTF-8 text ({e})") from None


def read_lines(path, what: str) -> List[Tuple[int, List[str]]]:
    """(line number, fields) of each line of a text file (``read_text``), fields split on spaces
    or tabs; blank lines and '#' comments are skipped."""
    return [(i, line.split()) for i, line in enumerate(read_text(path, what).splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]


def write_json(path, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=1) + "\n")


def lock_path(path: Path) -> Path:
    """The writer lock file of ``path`` (``claim``, ``writing``)."""
    return path.with_name(path.name + ".lock")


def writer_of(path) -> Optional[dict]:
    """The other live process of this machine writing ``path`` ({pid, host, command, started}),
    or None. A lock left by a dead process is ignored."""
    lock = lock_path(Path(path))
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
    """An error naming the other live process that is writing ``path``, if any."""
    info = writer_of(path)
    if info:
        raise RuntimeError(f"{path}: being written by process {info['pid']} ({info['command']}, since "
                           f"{info['started']}); wait for it to finish, or write to another file")


def hold_writer_lock(path: Path) -> None:
    """Mark ``path`` as written by this process (``claim``), until ``writing`` ends."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv)),
                                "started": time.strftime("%Y-%m-%d %H:%M:%S")}))


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
