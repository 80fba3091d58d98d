"""COLMAP database import, model reading and atomic model writing (pycolmap 4.2.1).

Shared by the ``reconstruction``, ``triangulation`` and ``localize`` steps. Every
function checks its inputs against each other first (images on disk, images in
the features file, pair names) and raises an error naming the file and the
problem, so a step fails before COLMAP starts rather than half-way through.
"""

from __future__ import annotations

import ast
import contextlib
import multiprocessing
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pycolmap

from ..io import find_pair, list_names, open_h5, read_features, read_matches, read_pairs

# Files that make a folder look like a COLMAP model (binary or text).
MODEL_FILES = (("cameras.bin", "images.bin", "points3D.bin"),
               ("cameras.txt", "images.txt", "points3D.txt"))


# ---------------------------------------------------------------- options
def camera_mode(mode) -> pycolmap.CameraMode:
    """``'AUTO' | 'SINGLE' | 'PER_FOLDER' | 'PER_IMAGE'`` (or the enum) -> pycolmap.CameraMode."""
    if isinstance(mode, pycolmap.CameraMode):
        return mode
    names = list(pycolmap.CameraMode.__members__)
    if str(mode).upper() not in names:
        raise ValueError(f"unknown camera mode '{mode}'; choose one of {names}")
    return pycolmap.CameraMode.__members__[str(mode).upper()]


def parse_option_args(args: Sequence[str], defaults) -> Dict[str, Any]:
    """``['key=value', 'mapper.key=value']`` -> nested dict checked against ``defaults``.

    ``defaults`` is a pycolmap options object (e.g. IncrementalPipelineOptions());
    values are Python literals and must have the type of the default.
    """
    known = defaults.todict()
    options: Dict[str, Any] = {}
    for arg in args:
        key, sep, text = arg.partition("=")
        if not sep:
            raise ValueError(f"option '{arg}': expected key=value")
        *parents, leaf = key.split(".")
        level, target = known, options
        for p in parents:
            if not isinstance(level.get(p), dict):
                raise ValueError(f"option '{key}': '{p}' is not an option group")
            level, target = level[p], target.setdefault(p, {})
        if leaf not in level or isinstance(level[leaf], dict):
            raise ValueError(f"unknown option '{key}'; known: {sorted(level)}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        default = level[leaf]
        if isinstance(default, bool) != isinstance(value, bool) or (
                isinstance(default, (int, float)) and not isinstance(value, (int, float))):
            raise ValueError(f"option '{key}': expected a {type(default).__name__}, got '{text}'")
        target[leaf] = value
    check_options(type(defaults), options, "--mapper-option" if isinstance(
        defaults, pycolmap.IncrementalPipelineOptions) else "option")
    return options


def check_options(cls, options: Dict[str, Any], what: str) -> None:
    """COLMAP's own range checks of an options object, run before any work: a failure is a
    ValueError quoting COLMAP's 'Check failed' lines (it logs them on the C++ side)."""
    import tempfile
    with tempfile.TemporaryFile(mode="w+b") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            ok = cls(options).check()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        failed = [line.split("Check failed:", 1)[1].strip()
                  for line in log.read().decode(errors="replace").splitlines() if "Check failed:" in line]
    if not ok:
        detail = "; ".join(f for f in failed if "Check()" not in f) or "see COLMAP's log"
        raise ValueError(f"{what}: COLMAP rejects {options}: {detail}")


def merge_options(defaults: Dict[str, Any], options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Recursive dict merge (options win), so ``{'mapper': {...}}`` keeps other mapper keys."""
    out = dict(defaults)
    for k, v in (options or {}).items():
        out[k] = merge_options(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_num_threads() -> int:
    """COLMAP's threads: every core, at most 16."""
    return min(multiprocessing.cpu_count(), 16)


@contextlib.contextmanager
def colmap_logging(verbose: bool):
    """Silence COLMAP's glog output below errors (to stderr) unless verbose."""
    saved = pycolmap.logging.minloglevel
    if not verbose:
        pycolmap.logging.minloglevel = int(pycolmap.logging.ERROR)
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = saved


# ---------------------------------------------------------------- inputs
def check_inputs(image_dir: Optional[Path], names: Iterable[str], features: Path,
                 pairs: Optional[Path] = None, matches: Optional[Path] = None
                 ) -> List[Tuple[str, str]]:
    """Check that every image exists, is in the features file, and that the pairs
    name only those images and are all in the matches file. Returns the pairs."""
    names = list(names)
    if image_dir is not None:
        image_dir = Path(image_dir)
        if not image_dir.is_dir():
            raise FileNotFoundError(f"{image_dir}: image folder not found")
        missing = [n for n in names if not (image_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{image_dir}: image(s) not found: {missing[:5]}"
                                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    in_features = set(list_names(features))
    absent = [n for n in names if n not in in_features]
    if absent:
        raise KeyError(f"{features}: no features for image(s) {absent[:5]}"
                       + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
                       + "; extract them first")
    if pairs is None:
        return []
    pair_list = read_pairs(pairs)
    known = set(names)
    unknown = sorted({n for p in pair_list for n in p if n not in known})
    if unknown:
        raise KeyError(f"{pairs}: pairs name image(s) that are not in the image set: {unknown[:5]}")
    if matches is not None:
        with open_h5(matches) as f:
            for n0, n1 in pair_list:
                find_pair(f, n0, n1)  # KeyError naming the file and the pair
    return pair_list


def check_readable(image_dir: Path, names: Sequence[str]) -> None:
    """COLMAP must read the images' format (it cannot read WebP, for one): one image per file
    suffix is opened by COLMAP before any work."""
    first = {}
    for name in names:
        first.setdefault(Path(name).suffix.lower(), name)
    for suffix, name in first.items():
        if pycolmap.Bitmap.read(str(Path(image_dir) / name), True) is None:
            count = sum(Path(n).suffix.lower() == suffix for n in names)
            raise ValueError(f"{Path(image_dir) / name}: COLMAP cannot read this image format ({count} "
                             f"'{suffix}' image(s)); convert them to JPEG or PNG")


# ---------------------------------------------------------------- database
def import_images(database: Path, image_dir: Path, names: Sequence[str], mode="AUTO",
                  options: Optional[Dict[str, Any]] = None,
                  cameras: Optional[Dict[str, pycolmap.Camera]] = None) -> Dict[str, int]:
    """Create the cameras, rigs, frames and images of ``names`` in a new database.

    options: ImageReaderOptions keys (``camera_model``, ``camera_params`` as
    "f,cx,cy,...", ``default_focal_length_factor``); intrinsics come from EXIF
    when present, else from the focal factor. cameras: {name: pycolmap.Camera}
    replacing the guessed camera of those images (forces one camera per image).
    Returns {name: image_id}.
    """
    if cameras:
        unknown = sorted(set(cameras) - set(names))
        if unknown:
            raise KeyError(f"cameras given for image(s) not in the image set: {unknown[:5]}")
        mode = "PER_IMAGE"
    with pycolmap.Database.open(database):
        pass  # creates the schema
    pycolmap.import_images(database, image_dir, camera_mode(mode), image_names=list(names),
                           options=pycolmap.ImageReaderOptions(options or {}))
    with pycolmap.Database.open(database) as db:
        images = {image.name: image for image in db.read_all_images()}
        for name, camera in (cameras or {}).items():
            given = db.read_camera(images[name].camera_id)
            if (camera.width, camera.height) != (given.width, given.height):
                raise ValueError(f"{image_dir / name}: image is {given.width}x{given.height} px "
                                 f"but its given camera is {camera.width}x{camera.height}")
            camera = pycolmap.Camera(camera.todict())  # a copy: the caller keeps its own
            camera.camera_id = given.camera_id
            db.update_camera(camera)
    image_ids = {name: image.image_id for name, image in images.items()}
    missing = [n for n in names if n not in image_ids]
    if missing:
        raise RuntimeError(f"{image_dir}: COLMAP could not import image(s) {missing[:5]} "
                           "(unreadable, or camera parameters invalid)")
    return image_ids


def import_features(db: pycolmap.Database, image_ids: Dict[str, int], features: Path) -> int:
    """Write each image's keypoints, shifted by +0.5 to COLMAP's pixel-corner origin.
    Returns the total number of keypoints."""
    total = 0
    for name, image_id in image_ids.items():
        kpts = read_features(features, name, ["keypoints"])["keypoints"].astype(np.float64)
        db.write_keypoints(image_id, (kpts + 0.5).astype(np.float32))
        total += len(kpts)
    return total


def import_matches(db: pycolmap.Database, image_ids: Dict[str, int],
                   pairs: Sequence[Tuple[str, str]], matches: Path,
                   min_match_score: Optional[float] = None) -> Dict[Tuple[int, int], np.ndarray]:
    """Write the raw matches of each pair once (either order).

    Returns {(id0, id1): matches [M, 2]} in the order written, for callers that
    verify them themselves."""
    written: Dict[Tuple[int, int], np.ndarray] = {}
    for n0, n1 in pairs:
        if n0 == n1:
            continue
        id0, id1 = image_ids[n0], image_ids[n1]
        if (id0, id1) in written or (id1, id0) in written:
            continue
        m, scores = read_matches(matches, n0, n1)
        if min_match_score is not None:
            m = m[scores > min_match_score]
        db.write_matches(id0, id1, m.astype(np.uint32))
        written[(id0, id1)] = m
    return written


def verify_matches(database: Path, pairs: Path, options: Optional[Dict[str, Any]] = None) -> int:
    """COLMAP's RANSAC verification of every pair (E / F / H); returns the pairs verified with at
    least one inlier (COLMAP also records degenerate pairs, with none: they are not counted)."""
    # hloc's RANSAC settings, plus a fixed seed: with COLMAP's random seed the verified
    # inliers, and so the whole model, change from run to run
    defaults = dict(ransac=dict(max_num_trials=20000, min_inlier_ratio=0.1, random_seed=0))
    pycolmap.verify_matches(database, pairs,
                            options=pycolmap.TwoViewGeometryOptions(merge_options(defaults, options)))
    return len(verified_pairs(database))


def verified_pairs(database: Path) -> Dict[Tuple[str, str], int]:
    """{(name0, name1): verified inliers} of every pair COLMAP verified, most inliers first."""
    with pycolmap.Database.open(database) as db:
        names = {image.image_id: image.name for image in db.read_all_images()}
        pair_ids, geometries = db.read_two_view_geometries()
    pairs = {tuple(names[i] for i in pycolmap.pair_id_to_image_pair(pid)): len(g.inlier_matches)
             for pid, g in zip(pair_ids, geometries) if len(g.inlier_matches)}
    return dict(sorted(pairs.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------- models
def is_model_dir(path: Path) -> bool:
    """Whether ``path`` holds a COLMAP model (binary or text)."""
    path = Path(path)
    return any(all((path / f).is_file() for f in files) for files in MODEL_FILES)


def read_model(path) -> pycolmap.Reconstruction:
    """Read a COLMAP model folder (binary or text) with a clear error otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model folder not found")
    if not path.is_dir():
        raise NotADirectoryError(f"{path}: a COLMAP model is a folder, not a file")
    if not is_model_dir(path):
        raise ValueError(f"{path}: not a COLMAP model (needs cameras, images and points3D "
                         "as .bin or .txt)")
    try:
        rec = pycolmap.Reconstruction(path)
    except Exception as e:  # pycolmap raises bare RuntimeError/ValueError on corrupt files
        raise ValueError(f"{path}: cannot read the COLMAP model ({e})") from e
    if rec.num_images() == 0:
        raise ValueError(f"{path}: the COLMAP model is empty (no images)")
    return rec


def model_summary(rec: pycolmap.Reconstruction, num_input_images: Optional[int] = None
                  ) -> Dict[str, Any]:
    """The numbers a report needs: registered images, points, track length, error."""
    registered = rec.num_reg_images()
    summary = {
        "registered": registered,
        "points": rec.num_points3D(),
        "observations": rec.compute_num_observations(),
        "mean_track_length": round(float(rec.compute_mean_track_length()), 4)
        if rec.num_points3D() else 0.0,
        "mean_reprojection_error_px": round(float(rec.compute_mean_reprojection_error()), 4)
        if rec.num_points3D() else None,
        "registered_images": sorted(rec.images[i].name for i in rec.reg_image_ids()),
    }
    if num_input_images is not None:
        summary["total"] = num_input_images
    return summary


def largest_model(models: Dict[int, pycolmap.Reconstruction]) -> Optional[pycolmap.Reconstruction]:
    """The model with the most registered images (ties: more points)."""
    if not models:
        return None
    return max(models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))


def write_model(rec: pycolmap.Reconstruction, folder: Path) -> None:
    """Write a model as binary files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rec.write(folder)


def export_database(database: Path, features: Path, matches: Optional[Path] = None) -> None:
    """COLMAP's own keypoints and (uint8 RootSIFT) descriptors of every image of a database as an
    hloc features file, and, with ``matches``, its raw matches of every pair as an hloc matches file
    (written under a temporary name, then renamed: a file there is whole)."""
    from ..io import write_features, write_matches
    with pycolmap.Database.open(database) as db:
        images = {i.image_id: i for i in db.read_all_images()}
        for image_id, image in images.items():
            camera = db.read_camera(image.camera_id)
            kpts = db.read_keypoints(image_id)[:, :2] - 0.5  # COLMAP's pixel-corner origin
            write_features(features, image.name, {
                "keypoints": kpts, "descriptors": db.read_descriptors(image_id).data.T,  # uint8: read back normalised
                "scores": np.ones(len(kpts), np.float32), "image_size": np.array([camera.width, camera.height])})
        if matches is None:
            return
        tmp = Path(matches).with_suffix(".tmp.h5")
        tmp.unlink(missing_ok=True)
        for i, j in ((i, j) for i in images for j in images if i < j):
            m = db.read_matches(i, j)
            matches0 = np.full(db.num_keypoints_for_image(i), -1, np.int64)
            matches0[m[:, 0]] = m[:, 1]
            write_matches(tmp, images[i].name, images[j].name, matches0, (matches0 > -1).astype(np.float32))
    tmp.rename(matches)
