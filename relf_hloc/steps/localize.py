"""Localize query images against a COLMAP model through 2D-3D matches.

Step: for each query, its matches to database images (from a pairs file, or
every model image it has matches with) are lifted to 2D-3D correspondences
through the database keypoints that observe a 3D point; the pose comes from
``pycolmap.estimate_and_refine_absolute_pose`` (LO-RANSAC + refinement).

Unlike hloc's ``localize_sfm``, a query is localized only when PnP succeeds
with at least ``min_inliers`` inliers; otherwise it is reported as failed with
its reason and has no line in the poses file (never a neighbour's pose).

Outputs: ``output`` (hloc's poses format, one ``name qw qx qy qz tx ty tz``
line per localized query, cam_from_world) and ``<output>.log.json`` with
every query's status, reason and counts.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pycolmap

from ..io import (
    check_image_sizes,
    has_pair,
    list_names,
    read_features,
    read_lines,
    read_matches,
    read_pairs,
    write_json,
    write_text,
)
from ..log import logger
from . import colmap as cu

Query = Tuple[str, Optional[pycolmap.Camera]]


def read_queries(path: Path, image_dir: Optional[Path] = None) -> List[Query]:
    """Queries file: ``name MODEL WIDTH HEIGHT PARAMS...`` per line (hloc's format),
    or a bare ``name`` whose camera is then guessed from the image (EXIF or the
    default focal factor; needs ``image_dir``)."""
    queries = []
    for i, (name, *data) in read_lines(path, "queries file"):
        if not data:
            queries.append((name, None))
            continue
        try:
            model, width, height, *params = data
            if model not in pycolmap.CameraModelId.__members__:
                raise ValueError(f"unknown camera model '{model}'")
            camera = pycolmap.Camera(model=model, width=int(width), height=int(height),
                                     params=np.array(params, float))
        except Exception as e:  # unknown model name, wrong parameter count
            raise ValueError(f"{path}:{i}: cannot parse the camera of '{name}' ({e}); expected "
                             "'name MODEL WIDTH HEIGHT PARAMS...'") from e
        if not camera.verify_params():
            raise ValueError(f"{path}:{i}: {model} takes parameters '{camera.params_info}', "
                             f"got {len(params)} values")
        queries.append((name, camera))
    if not queries:
        raise ValueError(f"{path}: no queries")
    return queries


def infer_camera(image_dir: Optional[Path], name: str) -> pycolmap.Camera:
    """A query's camera guessed from its image (EXIF, or COLMAP's focal prior)."""
    if image_dir is None:
        raise ValueError(f"query '{name}' has no camera: give it in the queries file "
                         "or pass the image folder to guess it")
    path = Path(image_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: query image not found")
    return pycolmap.infer_camera_from_image(path)


def correspondences_2d3d(rec: pycolmap.Reconstruction, query: str, db_names: Sequence[str],
                         matches: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Unique (query keypoint index, 3D point id) pairs [K], [K] through ``db_names``."""
    name_to_image = {rec.images[i].name: rec.images[i] for i in rec.reg_image_ids()}
    pairs = set()
    for db_name in db_names:
        image = name_to_image[db_name]
        point3D_of_kpt = np.array([p.point3D_id if p.has_point3D() else -1
                                   for p in image.points2D], dtype=np.int64)
        m, _ = read_matches(matches, query, db_name)
        if len(point3D_of_kpt) and len(m) and m[:, 1].max() >= len(point3D_of_kpt):
            raise ValueError(f"{matches}: pair ({query}, {db_name}) indexes keypoint "
                             f"{m[:, 1].max()} but the model's image has {len(point3D_of_kpt)}; "
                             "were the features and the model made from different files?")
        if not len(point3D_of_kpt):
            continue
        ids = point3D_of_kpt[m[:, 1]]
        pairs.update(zip(m[ids != -1, 0].tolist(), ids[ids != -1].tolist()))
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    kpt_idx, point_ids = np.array(sorted(pairs)).T
    return kpt_idx, point_ids


def localize_query(rec: pycolmap.Reconstruction, camera: pycolmap.Camera, keypoints: np.ndarray,
                   kpt_idx: np.ndarray, point_ids: np.ndarray, min_inliers: int,
                   estimation_options: Dict[str, Any], refine_focal: bool = False) -> Dict[str, Any]:
    """PnP for one query. keypoints [N, 2] in hloc pixels (centre at integers); ``refine_focal``
    (a guessed camera): the focal length is refined with the pose, in ``camera``.
    Returns a log entry; ``cam_from_world`` is set only when localized."""
    entry: Dict[str, Any] = {"num_2d3d": int(len(kpt_idx))}
    if len(kpt_idx) < max(min_inliers, 4):
        return {**entry, "status": "failed",
                "reason": f"{len(kpt_idx)} 2D-3D matches, fewer than {max(min_inliers, 4)}"}
    points2D = keypoints[kpt_idx].astype(np.float64) + 0.5  # COLMAP pixel origin
    points3D = np.array([rec.points3D[int(j)].xyz for j in point_ids])
    ret = pycolmap.estimate_and_refine_absolute_pose(
        points2D, points3D, camera,
        estimation_options=pycolmap.AbsolutePoseEstimationOptions(estimation_options),
        refinement_options=pycolmap.AbsolutePoseRefinementOptions(refine_focal_length=refine_focal))
    if ret is None:
        return {**entry, "status": "failed", "reason": "absolute pose estimation failed"}
    num_inliers = int(ret["num_inliers"])
    entry.update(num_inliers=num_inliers, inlier_ratio=round(num_inliers / len(kpt_idx), 4))
    if num_inliers < min_inliers:
        return {**entry, "status": "failed",
                "reason": f"{num_inliers} inliers, fewer than {min_inliers}"}
    return {**entry, "status": "localized", "cam_from_world": ret["cam_from_world"]}


def format_pose(name: str, cam_from_world: pycolmap.Rigid3d) -> str:
    """hloc's poses line: name qw qx qy qz tx ty tz (cam_from_world)."""
    qx, qy, qz, qw = cam_from_world.rotation.quat
    return " ".join([name] + [repr(float(v)) for v in (qw, qx, qy, qz, *cam_from_world.translation)])


def read_poses(path: Path) -> Dict[str, pycolmap.Rigid3d]:
    """Inverse of the poses file written by ``main``: {name: cam_from_world}."""
    poses = {}
    for i, parts in read_lines(path, "poses file"):
        if len(parts) != 8:
            raise ValueError(f"{path}:{i}: expected 'name qw qx qy qz tx ty tz'")
        qw, qx, qy, qz, tx, ty, tz = map(float, parts[1:])
        poses[parts[0]] = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([qx, qy, qz, qw])),
                                           np.array([tx, ty, tz]))
    return poses


def failure_kind(reason: str) -> str:
    """The kind of a localize log's failure reason (its counts go into the report)."""
    for kind in ("no database image", "2D-3D matches", "inliers", "estimation failed"):
        if kind in reason:
            return kind
    return reason


def log_path(output: Path) -> Path:
    """The log file written beside a poses file."""
    return Path(str(output) + ".log.json")


def database_images(query_list, db_names: List[str], features: Path, matches: Path,
                    pairs: Optional[Path]) -> Tuple[Dict[str, List[str]], int]:
    """({query: registered database images to match}, pairs naming unregistered images).

    From the pairs file when given, else every registered image the query has matches with.
    """
    retrieval: Dict[str, List[str]] = defaultdict(list)
    unregistered = 0
    if pairs is None:
        for q, _ in query_list:
            retrieval[q] = [r for r in db_names if r != q and has_pair(matches, q, r)]
        return retrieval, unregistered
    known, extracted = set(db_names), set(list_names(features))
    for q, r in read_pairs(pairs):
        if r not in known:
            if r not in extracted:
                raise KeyError(f"{pairs}: '{r}' (paired with '{q}') is not a registered image of the model")
            unregistered += 1  # a database image the model did not register: no 3D points
            continue
        retrieval[q].append(r)
    return retrieval, unregistered


def query_cameras(query_list, image_dir: Optional[Path], features: Path):
    """({query: camera}, names whose camera was guessed): every camera known and its size
    checked against the features file before any work."""
    cameras, guessed = {}, []
    for name, camera in query_list:
        if camera is None:
            camera = infer_camera(image_dir, name)
            guessed.append(name)
        cameras[name] = camera
    if guessed:
        logger.warning(f"WARNING: localize: no intrinsics given for {len(guessed)} query(ies) (e.g. '{guessed[0]}'): "
                       "cameras GUESSED from EXIF or a focal of 1.2 x the longer side, the focal refined with the "
                       "pose; poses may be far off. Give them as 'name MODEL WIDTH HEIGHT PARAMS...' lines in the "
                       "queries file (e.g. 'q.jpg SIMPLE_RADIAL 1024 768 880 512 384 0').")
    check_image_sizes(features, {n: (c.width, c.height) for n, c in cameras.items()}, "query camera")
    return cameras, guessed


def query_entry(rec: pycolmap.Reconstruction, name: str, camera: pycolmap.Camera, db_names: List[str],
                features: Path, matches: Path, min_inliers: int, options: Dict[str, Any], guessed: bool
                ) -> Dict[str, Any]:
    """The log entry of one query: its status, counts, camera and, when localized, its pose
    (``cam_from_world``: the poses line's numbers)."""
    if db_names:
        kpts = read_features(features, name, ["keypoints"])["keypoints"]
        kpt_idx, point_ids = correspondences_2d3d(rec, name, db_names, matches)
        entry = localize_query(rec, camera, kpts, kpt_idx, point_ids, min_inliers, options, guessed)
    else:
        entry = {"num_2d3d": 0, "status": "failed", "reason": "no database image to match (no pair names this query)"}
    entry["db_images"] = len(db_names)
    entry["camera"] = {"model": camera.model.name, "width": camera.width, "height": camera.height,
                       "params": np.asarray(camera.params).round(4).tolist(),
                       "source": "guessed" if guessed else "given"}
    pose = entry.pop("cam_from_world", None)
    if pose is not None:
        entry["cam_from_world"] = format_pose(name, pose).split()[1:]
    return entry


def main(model: Union[Path, pycolmap.Reconstruction], queries: Union[Path, Sequence[Query]],
         features: Path, matches: Path, output: Path, pairs: Optional[Path] = None,
         image_dir: Optional[Path] = None, min_inliers: int = 12, ransac_thresh: float = 12.0,
         estimation_options: Optional[Dict[str, Any]] = None) -> Path:
    """Localize every query and write the poses file and its log.

    Args:
        model: COLMAP model folder or Reconstruction (the database images).
        queries: queries file (see ``read_queries``) or [(name, pycolmap.Camera or None)].
        features: hloc features file holding the queries and the model images
            (the same keypoints the model was built from).
        matches: hloc matches file with the query-database pairs.
        output: poses file to write.
        pairs: query-database pairs file (e.g. from retrieval); default: every
            registered model image the query has matches with.
        image_dir: where query images are, to guess cameras not given.
        min_inliers: fewest PnP inliers for a query to count as localized.
        ransac_thresh: RANSAC reprojection threshold in pixels.
        estimation_options: AbsolutePoseEstimationOptions keys (override the above).
    Returns:
        ``output``. Every query has an entry in ``<output>.log.json``.
    """
    if min_inliers < 4:
        raise ValueError(f"--min-inliers {min_inliers}: a pose needs at least 4 inliers")
    if not ransac_thresh > 0:
        raise ValueError(f"--ransac-thresh {ransac_thresh}: must be a positive number of pixels")
    rec = model if isinstance(model, pycolmap.Reconstruction) else cu.read_model(model)
    query_list = read_queries(queries, image_dir) if isinstance(queries, (str, Path)) \
        else list(queries)
    db_names = sorted(rec.images[i].name for i in rec.reg_image_ids())
    cu.check_inputs(None, [q for q, _ in query_list] + db_names, features)
    retrieval, unregistered = database_images(query_list, db_names, features, matches, pairs)
    cameras, guessed = query_cameras(query_list, image_dir, features)
    # a fixed RANSAC seed: the same inputs give the same poses
    options = cu.merge_options({"ransac": {"max_error": ransac_thresh, "random_seed": 0}},
                               estimation_options)
    log: Dict[str, Any] = {"model": str(model) if not isinstance(model, pycolmap.Reconstruction)
                           else None, "features": str(features), "matches": str(matches),
                           "min_inliers": min_inliers, "ransac_thresh": ransac_thresh,
                           "pairs_with_unregistered_images": unregistered, "queries": {}}
    lines = []
    for name, camera in cameras.items():
        entry = query_entry(rec, name, camera, retrieval.get(name, []), features, matches, min_inliers, options,
                            name in guessed)
        if "cam_from_world" in entry:
            lines.append(" ".join([name] + entry["cam_from_world"]))
        log["queries"][name] = entry
    log["localized"], log["total"] = len(lines), len(query_list)
    output = Path(output)
    write_json(log_path(output), log)
    write_text(output, "".join(line + "\n" for line in lines))
    return output
