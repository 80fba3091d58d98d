"""relf_hloc.eval.matches: verified inliers of two-view matches, on hand-built geometry."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from relf_hloc.eval.matches import median_verified_inliers, verified_inliers
from relf_hloc.io import write_features, write_matches


@pytest.fixture(scope="module")
def sfm_real_data():
    script = Path(__file__).resolve().parents[1] / "pipelines" / "sfm_real_data.py"
    spec = importlib.util.spec_from_file_location("sfm_real_data", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_views(n: int, seed: int = 0):
    """Pixels [n, 2] of random 3D points in two cameras: K f=500, (320, 240); the second
    turned 10 degrees about y and moved 1 unit along x."""
    rng = np.random.default_rng(seed)
    X = rng.uniform([-2, -2, 4], [2, 2, 8], (n, 3))
    K = np.array([[500, 0, 320], [0, 500, 240], [0, 0, 1.0]])
    a = np.deg2rad(10)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    x0 = (K @ X.T).T
    x1 = (K @ (R @ X.T + np.array([[1.0], [0], [0]]))).T
    return x0[:, :2] / x0[:, 2:], x1[:, :2] / x1[:, 2:]


def test_true_matches_are_kept_and_shuffled_ones_rejected():
    k0, k1 = two_views(200)
    outliers = np.arange(150, 200)
    k1 = k1.copy()
    k1[outliers] = k1[np.roll(outliers, 7)] + 40.0  # moved far from their epipolar lines
    mask = verified_inliers(k0, k1, threshold_px=1.0)
    assert mask.shape == (200,) and mask.dtype == bool
    assert mask[:150].mean() >= 0.98
    assert mask[outliers].mean() <= 0.05


def test_fewer_than_eight_matches_have_no_inliers():
    k0, k1 = two_views(7)
    assert not verified_inliers(k0, k1).any() and verified_inliers(k0, k1).shape == (7,)


def test_median_over_pairs_of_hloc_files(tmp_path):
    k0, k1 = two_views(100)
    desc = np.eye(128, 100, dtype=np.float32)
    for name, k in (("a.jpg", k0), ("b.jpg", k1), ("c.jpg", k1[::-1]), ("d.jpg", k1[::-1])):
        write_features(tmp_path / "f.h5", name, {"keypoints": k, "descriptors": desc, "scores": np.ones(100),
                                                 "image_size": [640, 480]})
    i = np.arange(100)
    write_matches(tmp_path / "m.h5", "a.jpg", "b.jpg", i, np.ones(100))                 # 100 true
    write_matches(tmp_path / "m.h5", "a.jpg", "c.jpg", i, np.ones(100))                 # 100 wrong
    write_matches(tmp_path / "m.h5", "a.jpg", "d.jpg", np.where(i < 50, 99 - i, -1), np.ones(100))  # 50 true
    pairs = [("a.jpg", "b.jpg"), ("a.jpg", "c.jpg"), ("a.jpg", "d.jpg")]
    counts = [median_verified_inliers(tmp_path / "f.h5", tmp_path / "m.h5", [p]) for p in pairs]
    assert counts[0] >= 98 and counts[1] <= 12 and 49 <= counts[2] <= 50
    assert median_verified_inliers(tmp_path / "f.h5", tmp_path / "m.h5", pairs) == counts[2]


def test_sfm_real_data_names_unknown_matchers(sfm_real_data):
    module = sfm_real_data
    assert module.conf_names("relf-nn, nn-ratio", "matcher") == ["relf-nn", "nn-ratio"]
    assert module.conf_names(None, "matcher") == []
    with pytest.raises(ValueError, match=r"unknown matcher\(s\) \['relf'\]"):
        module.conf_names("relf-nn,relf", "matcher")
    assert module.conf_names("colmap,sift", extra=["colmap"]) == ["colmap", "sift"]
    with pytest.raises(ValueError, match=r"unknown extractor\(s\) \['surf'\]"):
        module.conf_names("sift,surf")


def test_sfm_real_data_table_has_a_row_per_method_and_matcher(sfm_real_data):
    module = sfm_real_data
    run = {"scene": "sacre_coeur", "variant": "none", "method": "relf", "label": "relf", "registered": 9,
           "total": 10, "points": 300, "mean_track_length": 3.5, "mean_reprojection_error_px": 0.75,
           "seconds": {"total": 12.3}}
    colmap = {**run, "method": "colmap", "label": "colmap", "matcher": "COLMAP", "points": 600,
              "mean_reprojection_error_px": 0.3, "median_rot_err_deg": 0.4, "median_pos_err_pct": 1.0,
              "verified_inliers": 90.0, "registered_per_seed": {0: 10, 1: 10}}
    results = {"mapper_seeds": [0, 1], "runs": [
        colmap,
        {**run, "matcher": "relf-nn", "verified_inliers": 53.0, "registered_per_seed": {0: 9, 1: 10}},
        {**run, "matcher": "relf-ratio", "verified_inliers": 41.5, "registered_per_seed": {0: 9, 1: 2},
         "median_rot_err_deg": 0.514, "median_pos_err_pct": 1.25},
        {**run, "variant": "random", "matcher": "relf-nn", "verified_inliers": 50.0,
         "registered_per_seed": {0: 9, 1: 9}}]}
    lines = module.markdown(results).splitlines()
    assert lines[0].split("|")[4].strip() == "matcher" and len(lines) == 6
    assert lines[2].endswith("| COLMAP | 10 / 10 of 10 | 600 | 3.50 | 0.300 | 0.40 | 1.00 | 90 | 12 | - |")
    # against COLMAP alone on the same scene and rotation: 300 / 600 points, 0.75 / 0.3 px, 0.514 / 0.4 deg
    assert lines[3] == ("| sacre_coeur | none | relf | relf-nn | 9 / 10 of 10 | 300 | 3.50 | 0.750 | - | - | 53 | 12 "
                        "| 0.50x / 2.50x / - |")
    assert lines[4].endswith("| relf-ratio | 9 / 2 of 10 | 300 | 3.50 | 0.750 | 0.51 | 1.25 | 42 | 12 "
                             "| 0.50x / 2.50x / 1.28x |")
    assert lines[5].endswith("| 50 | 12 | - |")  # no COLMAP run on the rolled variant


def test_sfm_real_data_speed_table_puts_each_budget_beside_colmap_alone(sfm_real_data):
    """Total seconds, the ratio to COLMAP alone on the same scene and rotation, seconds per image and
    per stage ('-' for a stage a run has not), and the accuracy ratios."""
    colmap = {"scene": "s", "variant": "none", "method": "colmap", "label": "colmap", "total": 10,
              "points": 600, "mean_reprojection_error_px": 0.3, "seconds": {"total": 10.0},
              "stages": {"features": 5.0, "matching": 3.0, "mapping": 2.0}}
    ours = {**colmap, "method": "relf-rs-int8", "label": "relf-rs (int8)", "points": 300,
            "mean_reprojection_error_px": 0.6, "seconds": {"total": 45.0},
            "stages": {"features": 20.0, "network": 15.5, "matching": 20.0, "verification": 3.0, "mapping": 1.5}}
    lines = sfm_real_data.speed_markdown({"runs": [colmap, ours, {**ours, "variant": "random"}]}).splitlines()
    assert lines[2] == "| s | none | colmap | 10.0 | - | 1.00 | 5.0 | - | 3.0 | - | 2.0 | - |"
    assert lines[3] == ("| s | none | relf-rs (int8) | 45.0 | 4.5x | 4.50 | 20.0 | 15.5 | 20.0 | 3.0 | 1.5 "
                        "| 0.50x / 2.00x / - |")
    assert lines[4].split("|")[5].strip() == "-"  # no COLMAP run on the rolled variant


def test_variants_are_labelled_model_options():
    from relf_hloc.confs import parse_variant
    assert parse_variant("int8:backend=onnxruntime-int8,pca=256") == ("int8", {"backend": "onnxruntime-int8",
                                                                               "pca": 256})
    assert parse_variant("integer:subbin=false") == ("integer", {"subbin": False})
    for bad in ("int8", ":pca=2", "x:pca", "x:=3"):
        with pytest.raises(ValueError, match="expected NAME:KEY=VALUE"):
            parse_variant(bad)


def test_sfm_real_data_knows_its_scenes(sfm_real_data):
    assert set(sfm_real_data.SCENES) == {"sacre_coeur", "fountain-P11", "Herz-Jesus-P8", "entry-P10", "temple"}
    with pytest.raises(SystemExit, match=r"unknown scene\(s\) \['louvre'\]"):
        sfm_real_data.main(["--outputs", "/tmp/unused", "--scenes", "louvre"])
