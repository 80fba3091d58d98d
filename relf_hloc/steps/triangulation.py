"""Triangulate 3D points from known camera poses (a COLMAP model), on pycolmap 4.2.1.

Step: database holding the reference model's cameras, rigs, frames and images
-> keypoints (+0.5) and raw matches -> two-view geometries -> COLMAP's point
triangulator with the poses held fixed -> model written to ``sfm_dir``.

Why the two-view geometries matter: pycolmap 4 builds its correspondence graph
only from geometries whose configuration is set; hloc writes them as UNDEFINED
and silently gets 0 points. Here each pair is verified against the known
poses (Sampson error under the known relative pose) and written as CALIBRATED
with its relative pose, or, with ``verification='colmap'``, re-estimated by
COLMAP's RANSAC (which sets the configuration itself).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import pycolmap

from ..log import logger
from ..io import OutputFolder, check_image_sizes, read_features, read_pairs
from . import colmap as cu


def create_db_from_model(rec: pycolmap.Reconstruction, database: Path) -> Dict[str, int]:
    """Copy the cameras, rigs, frames and images of ``rec`` with their ids; {name: id}."""
    with pycolmap.Database.open(database) as db:
        for camera in rec.cameras.values():
            db.write_camera(camera, use_camera_id=True)
        for rig in rec.rigs.values():
            db.write_rig(rig, use_rig_id=True)
        for frame in rec.frames.values():
            db.write_frame(frame, use_frame_id=True)
        for image in rec.images.values():
            db.write_image(image, use_image_id=True)
    return {image.name: image_id for image_id, image in rec.images.items()}


def verify_with_poses(db: pycolmap.Database, rec: pycolmap.Reconstruction,
                      written: Dict[tuple, np.ndarray], keypoints: Dict[int, np.ndarray],
                      max_error: float = 4.0) -> np.ndarray:
    """Keep the matches of each pair whose Sampson error under the known relative
    pose is below ``max_error`` pixels; write them as a CALIBRATED geometry.

    written: {(id0, id1): matches [M, 2]}; keypoints: {image_id: [N, 2]} in COLMAP
    pixels. Returns the inlier ratio of every pair [P].
    """
    ratios = []
    for (id0, id1), matches in written.items():
        im0, im1 = rec.images[id0], rec.images[id1]
        cam0, cam1 = rec.cameras[im0.camera_id], rec.cameras[im1.camera_id]
        cam1_from_cam0 = im1.cam_from_world() * im0.cam_from_world().inverse()
        if len(matches):
            x0 = cam0.cam_from_img(keypoints[id0][matches[:, 0]])
            x1 = cam1.cam_from_img(keypoints[id1][matches[:, 1]])
            E = pycolmap.essential_matrix_from_pose(cam1_from_cam0)
            err = np.asarray(pycolmap.compute_squared_sampson_error(x0, x1, E))
            # pixel threshold -> normalised image plane, averaged over both cameras
            thr = 0.5 * (cam0.cam_from_img_threshold(max_error)
                         + cam1.cam_from_img_threshold(max_error))
            inliers = matches[err <= thr ** 2]
        else:
            inliers = matches
        ratios.append(len(inliers) / max(len(matches), 1))
        db.write_two_view_geometry(id0, id1, pycolmap.TwoViewGeometry(
            config=pycolmap.TwoViewGeometryConfiguration.CALIBRATED,
            cam2_from_cam1=cam1_from_cam0,
            E=pycolmap.essential_matrix_from_pose(cam1_from_cam0),
            inlier_matches=inliers.astype(np.uint32)))
    return np.array(ratios)


def build_database(database: Path, rec: pycolmap.Reconstruction, names, pairs: Path, pair_list,
                   features: Path, matches: Path, verification: str, max_epipolar_error: float,
                   min_match_score, verbose: bool) -> dict:
    """A COLMAP database of the model's images, their features and the matches verified
    with the known poses or by COLMAP: the matches written, per pair."""
    image_ids = create_db_from_model(rec, database)
    with pycolmap.Database.open(database) as db:
        cu.import_features(db, {n: image_ids[n] for n in names}, features)
        written = cu.import_matches(db, image_ids, pair_list, matches, min_match_score)
        if verification == "poses":
            keypoints = {image_ids[n]: read_features(features, n, ["keypoints"])[
                "keypoints"].astype(np.float64) + 0.5 for n in names}
            ratios = verify_with_poses(db, rec, written, keypoints, max_epipolar_error)
            logger.info(f"triangulation: known-pose verification: mean inlier ratio "
                        f"{100 * ratios.mean() if len(ratios) else 0:.1f}% over {len(ratios)} pairs")
    if verification == "colmap":
        with cu.colmap_logging(verbose):
            cu.verify_matches(database, pairs)
    return written


def main(sfm_dir: Path, reference_model: Union[Path, pycolmap.Reconstruction], image_dir: Path,
         pairs: Path, features: Path, matches: Path, verification: str = "poses",
         max_epipolar_error: float = 4.0, min_match_score: Optional[float] = None,
         mapper_options: Optional[Dict[str, Any]] = None, refine_intrinsics: bool = False,
         verbose: bool = False) -> pycolmap.Reconstruction:
    """Triangulate the matches of ``pairs`` with the poses of ``reference_model``.

    Args:
        sfm_dir: output folder (database + model; built in a temporary folder and
            renamed at the end, so a failed run leaves none).
        reference_model: COLMAP model folder (text or binary) or a Reconstruction
            whose registered images carry the known poses; its 3D points are ignored.
        image_dir: folder of the images (COLMAP reads colours from them).
        pairs, features, matches: hloc files; every paired image must be in the model.
        verification: 'poses' (epipolar check with the known poses) or 'colmap'
            (COLMAP's RANSAC re-estimation).
        max_epipolar_error: Sampson error threshold in pixels for 'poses'.
        mapper_options: IncrementalPipelineOptions keys (triangulation filtering).
        refine_intrinsics: let the final bundle adjustment refine the cameras.
    Returns:
        the triangulated pycolmap.Reconstruction (poses unchanged).
    """
    if verification not in ("poses", "colmap"):
        raise ValueError(f"verification must be 'poses' or 'colmap', not '{verification}'")
    sfm_dir, image_dir = Path(sfm_dir), Path(image_dir)
    rec = reference_model if isinstance(reference_model, pycolmap.Reconstruction) \
        else cu.read_model(reference_model)
    if rec.num_reg_images() == 0:
        raise ValueError(f"{reference_model}: the reference model has no registered image")
    pair_list = read_pairs(pairs)
    if not pair_list:
        raise ValueError(f"{pairs}: no image pairs")
    names = sorted(rec.images[i].name for i in rec.reg_image_ids())
    cu.check_inputs(image_dir, names, features, pairs, matches)
    check_image_sizes(features, {rec.images[i].name: (rec.images[i].camera.width, rec.images[i].camera.height)
                                     for i in rec.reg_image_ids()}, "reference model image")

    # Keep poses only: the triangulator fills points2D from the database keypoints.
    rec = pycolmap.Reconstruction(rec)
    for point3D_id in list(rec.point3D_ids()):
        rec.delete_point3D(point3D_id)

    with OutputFolder(sfm_dir) as tmp:
        database = tmp / "database.db"
        written = build_database(database, rec, names, pairs, pair_list, features, matches,
                                 verification, max_epipolar_error, min_match_score, verbose)
        options = pycolmap.IncrementalPipelineOptions(
            cu.merge_options({"num_threads": cu.default_num_threads()}, mapper_options))
        with cu.colmap_logging(verbose):
            out = pycolmap.triangulate_points(rec, database, image_dir, tmp / "triangulated",
                                              clear_points=True, options=options,
                                              refine_intrinsics=refine_intrinsics)
        if out.num_points3D() == 0:
            raise RuntimeError(f"{matches}: triangulation produced no 3D point "
                               f"({sum(len(m) for m in written.values())} raw matches); check "
                               "that the matches agree with the reference poses")
        shutil.rmtree(tmp / "triangulated", ignore_errors=True)
        cu.write_model(out, tmp)
    return out
