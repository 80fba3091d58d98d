"""Incremental SfM from hloc-format features and matches, on pycolmap 4.2.1.

Step: new database -> images (cameras from EXIF, a given model or a default
focal factor) -> keypoints (+0.5, COLMAP's pixel-corner origin) -> raw matches
-> COLMAP geometric verification -> incremental mapping -> the largest model.

The output folder ``sfm_dir`` ends up holding ``database.db`` and the largest
model as binary files (``cameras.bin``, ``images.bin``, ``points3D.bin``,
``rigs.bin``, ``frames.bin``), the layout hloc writes. It is built in a
temporary folder and renamed at the end: a failed run leaves no ``sfm_dir``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import pycolmap
from tqdm import tqdm

from .. import timing
from ..log import logger
from ..io import OutputFolder, read_pairs, write_json
from . import colmap as cu


def mapper_defaults() -> Dict[str, Any]:
    """IncrementalPipelineOptions we change from COLMAP's defaults (and why)."""
    return {
        "num_threads": cu.default_num_threads(),
        # a fixed seed makes reruns on the same inputs give the same model
        "random_seed": 0,
    }


# What the mapper retries with when COLMAP's defaults leave images out (measured on the
# Sacre Coeur photos, docs/benchmarks.md "SfM on real photos"): a smaller initial triangulation angle
# (few pairs of a small photo set have 16 degrees of baseline) and fewer initial inliers.
# Registration thresholds stay COLMAP's: relaxed, they registered wrong images (temple).
RELAXED = {"mapper": {"init_min_tri_angle": 8.0, "init_min_num_inliers": 50}}
MIN_PAIR_INLIERS = 15  # COLMAP's TwoViewGeometryOptions.min_num_inliers


def mapping_attempts(max_attempts: int, seed: int = 0) -> list:
    """(label, options) tried in turn until every image registers: COLMAP's defaults, relaxed
    thresholds (``RELAXED``), then relaxed with other random seeds (other initial pairs and
    registration orders)."""
    attempts = [("COLMAP defaults", {}), ("relaxed thresholds", RELAXED)]
    attempts += [(f"relaxed thresholds, seed {seed + k}", {**RELAXED, "random_seed": seed + k})
                 for k in range(1, max_attempts - 1)]
    return attempts[:max_attempts]


def left_out_causes(database: Path, left_out: Sequence[str]) -> Dict[str, str]:
    """Why each unregistered image likely stayed out, from its verified pairs."""
    pairs = cu.verified_pairs(database)
    causes = {}
    for name in left_out:
        mine = [n for pair, n in pairs.items() if name in pair]
        causes[name] = (f"no verified pair with >= {MIN_PAIR_INLIERS} inliers: too few good matches"
                        if not mine or max(mine) < MIN_PAIR_INLIERS else
                        f"verified with {len(mine)} image(s) (at most {max(mine)} inliers) but not "
                        "registered: weak geometry (short baseline or few matches seen in 3D)")
    return causes


def map_images(database: Path, image_dir: Path, output: Path, names: Sequence[str],
               options: Optional[Dict[str, Any]] = None, max_attempts: int = 4,
               verbose: bool = False) -> "tuple[Optional[pycolmap.Reconstruction], Dict[str, Any]]":
    """Incremental mapping that does not give up early: while the largest model leaves images
    out, retry (``mapping_attempts``; ``options``, the user's, override every attempt but for
    the seeds of the later ones) and keep
    the largest model. Returns (that model or None, a report of the attempts: their options,
    registered images and model count, the images left out and the likely cause of each)."""
    best, tried = None, []
    seed = (options or {}).get("random_seed", mapper_defaults()["random_seed"])
    for i, (label, attempt) in enumerate(mapping_attempts(max_attempts, seed)):
        merged = cu.merge_options(attempt, options)
        merged["random_seed"] = attempt.get("random_seed", merged.get("random_seed", seed))  # retries' own seeds
        models = run_mapping(database, image_dir, output / str(i), merged, verbose)
        rec = cu.largest_model(models)
        registered = rec.num_reg_images() if rec else 0
        tried.append({"attempt": label, "options": attempt, "models": len(models), "registered": registered})
        logger.info(f"reconstruction: mapping attempt {i + 1} ({label}): {len(models)} model(s), "
                    f"largest {registered}/{len(names)} images")
        if rec is not None and (best is None or (registered, rec.num_points3D())
                                > (best[0].num_reg_images(), best[0].num_points3D())):
            best = (rec, i)
        if registered == len(names):
            break
    rec, chosen = best if best else (None, None)
    registered = {rec.images[i].name for i in rec.reg_image_ids()} if rec else set()
    left_out = [n for n in names if n not in registered]
    report = {"attempts": tried, "chosen": chosen, "num_models": tried[chosen]["models"] if best else 0,
              "left_out": left_out, "left_out_causes": left_out_causes(database, left_out)}
    return rec, report


def run_mapping(database: Path, image_dir: Path, output: Path,
                options: Optional[Dict[str, Any]] = None, verbose: bool = False
                ) -> Dict[int, pycolmap.Reconstruction]:
    """pycolmap.incremental_mapping with IncrementalPipelineOptions keys
    (mapper-level keys such as ``init_min_num_inliers`` go under ``mapper``)."""
    opts = pycolmap.IncrementalPipelineOptions(cu.merge_options(mapper_defaults(), options))
    output.mkdir(parents=True, exist_ok=True)
    bar = tqdm(desc="mapping", unit=" images registered", leave=False)
    with cu.colmap_logging(verbose), timing.stage("mapping"):
        models = pycolmap.incremental_mapping(database, image_dir, output, options=opts,
                                              initial_image_pair_callback=lambda: bar.update(2),
                                              next_image_callback=lambda: bar.update(1))
    bar.close()
    return models


def build_database(database: Path, image_dir: Path, names: Sequence[str], pairs: Path, pair_list,
                   features: Path, matches: Path, camera_mode: str, image_options, cameras,
                   verification_options, min_match_score, verbose: bool) -> int:
    """A COLMAP database of the images, their features and verified matches: the number of
    verified pairs (an error when there are no matches or none is verified)."""
    image_ids = cu.import_images(database, image_dir, names, camera_mode, image_options, cameras)
    with pycolmap.Database.open(database) as db:
        cu.import_features(db, image_ids, features)
        written = cu.import_matches(db, image_ids, pair_list, matches, min_match_score)
    num_raw = sum(len(m) for m in written.values())
    if num_raw == 0:
        raise RuntimeError(f"{matches}: no matches in any of the {len(written)} pairs")
    with cu.colmap_logging(verbose), timing.stage("verification"):
        num_verified = cu.verify_matches(database, pairs, verification_options)
    logger.info(f"reconstruction: {len(names)} images, {len(written)} pairs, {num_raw} matches, "
                f"{num_verified} verified pairs")
    if num_verified == 0:
        raise RuntimeError(f"{matches}: no image pair passed geometric verification "
                           f"({num_raw} raw matches in {len(written)} pairs)")
    return num_verified


def main(sfm_dir: Path, image_dir: Path, pairs: Path, features: Path, matches: Path,
         camera_mode: str = "AUTO", image_options: Optional[Dict[str, Any]] = None,
         mapper_options: Optional[Dict[str, Any]] = None,
         verification_options: Optional[Dict[str, Any]] = None,
         image_list: Optional[Sequence[str]] = None, min_match_score: Optional[float] = None,
         cameras: Optional[Dict[str, pycolmap.Camera]] = None,
         mapper_attempts: int = 4, verbose: bool = False) -> pycolmap.Reconstruction:
    """Reconstruct the images of ``pairs`` and write the largest model to ``sfm_dir``.

    Args:
        sfm_dir: output folder (replaced; see module doc).
        image_dir: folder of the images; names are relative to it.
        pairs: text file, ``name0 name1`` per line.
        features: hloc features file (keypoints [N, 2], pixel centre at integers).
        matches: hloc matches file covering every pair.
        camera_mode: 'AUTO' (shared when size and EXIF agree), 'SINGLE',
            'PER_FOLDER' or 'PER_IMAGE'.
        image_options: ImageReaderOptions keys, e.g. ``{"camera_model": "PINHOLE",
            "camera_params": "500,320,240,..."}`` or ``{"default_focal_length_factor": 1.2}``.
        mapper_options: IncrementalPipelineOptions keys (``{"mapper": {...}}`` for mapper ones).
        verification_options: TwoViewGeometryOptions keys.
        mapper_attempts: mappings tried while images are left out (``map_images``; 1 = one
            mapping with COLMAP's defaults); ``sfm_dir/mapping.json`` reports them.
        image_list: images to use (default: every image named in ``pairs``).
        min_match_score: drop matches scored at or below this.
        cameras: {image name: pycolmap.Camera} initial intrinsics of those images
            (e.g. known, or the upright image's guess for a rotated copy); implies
            one camera per image. Focal lengths are still refined unless
            ``mapper_options`` say ``ba_refine_focal_length=False``.
    Returns:
        the largest pycolmap.Reconstruction (also written to ``sfm_dir``).
    Raises:
        FileNotFoundError / KeyError / ValueError on inconsistent inputs,
        RuntimeError when no image pair is verified or nothing registers.
    """
    sfm_dir, image_dir = Path(sfm_dir), Path(image_dir)
    pair_list = read_pairs(pairs)
    if not pair_list:
        raise ValueError(f"{pairs}: no image pairs")
    names = list(image_list) if image_list is not None else \
        sorted({n for p in pair_list for n in p})
    cu.check_inputs(image_dir, names, features, pairs, matches)

    with OutputFolder(sfm_dir) as tmp:
        database = tmp / "database.db"
        num_verified = build_database(database, image_dir, names, pairs, pair_list, features, matches,
                                      camera_mode, image_options, cameras, verification_options,
                                      min_match_score, verbose)
        rec, mapping = map_images(database, image_dir, tmp / "models", names, mapper_options,
                                  mapper_attempts, verbose)
        if rec is None or rec.num_reg_images() == 0:
            raise RuntimeError(f"{image_dir}: the reconstruction registered no image "
                               f"({num_verified} verified pairs after {len(mapping['attempts'])} mapping "
                               "attempt(s)); try more or better matches")
        cu.write_model(rec, tmp)
        write_json(tmp / "mapping.json", mapping)
        shutil.rmtree(tmp / "models")
    return rec
