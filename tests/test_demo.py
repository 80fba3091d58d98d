import json

import numpy as np
import pycolmap
import pytest

from relf_hloc import cli, demo
from relf_hloc.datasets import render
from relf_hloc.eval.poses import model_poses, score_poses


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    out = render.main(tmp_path_factory.mktemp("demo") / "scene", num_cameras=5, width=96, height=72,
                      supersample=1)
    return out, render.read_scene(out)


def test_score_poses_ground_truth_model_is_exact(small_scene):
    scene_dir, scene = small_scene
    rec = pycolmap.Reconstruction(str(scene_dir / "gt"))
    # the same cameras in another frame (scaled, turned, moved) score the same
    rec.transform(pycolmap.Sim3d(0.2, pycolmap.Rotation3d(np.array([0.1, 0.7, -0.3, 0.6]) / np.linalg.norm(
        [0.1, 0.7, -0.3, 0.6])), np.array([3.0, -1, 2])))
    out = score_poses(scene, model_poses(rec))
    assert out["estimated"] == out["total"] == 5
    assert out["median_rot_err_deg"] == pytest.approx(0, abs=1e-5)
    assert out["median_pos_err_pct"] == pytest.approx(0, abs=1e-5)
    assert out["within_2deg_2pct"] == 100.0
    for name, v in out["per_image"].items():
        np.testing.assert_allclose(v["centre"], scene[name].center, atol=1e-4)
        assert v["angle"] == scene[name].angle


def test_score_poses_counts_unregistered_cameras_as_failed(small_scene):
    scene_dir, scene = small_scene
    rec = pycolmap.Reconstruction(str(scene_dir / "gt"))
    rec.deregister_frame(rec.images[1].frame_id)
    out = score_poses(scene, model_poses(rec))
    assert (out["estimated"], out["total"]) == (4, 5)
    assert out["within_5deg_5pct"] == pytest.approx(80.0)
    assert rec.images[1].name not in out["per_image"]
    rec.deregister_frame(rec.images[2].frame_id)
    rec.deregister_frame(rec.images[3].frame_id)
    two = score_poses(scene, model_poses(rec))  # two cameras cannot be aligned: counted, not scored
    assert two["estimated"] == 2 and two["median_rot_err_deg"] is None and two["within_2deg_2pct"] == 0
    none = score_poses(scene, model_poses(None))
    assert none["estimated"] == 0 and none["median_pos_err_pct"] is None


def test_score_poses_thresholds_are_inclusive(small_scene):
    """A camera exactly at a threshold is within it (one convention: error <= threshold)."""
    _, scene = small_scene
    size = scene.scene_size()
    poses = {v.name: (v.R, v.t) for v in scene.views}
    v = scene.views[0]
    shift = np.array([0.02 * size, 0, 0])  # 2% of the scene size, exactly
    poses[v.name] = (v.R, v.t - v.R @ shift)  # centre moved by shift
    err = score_poses(scene, poses, align=False)["per_image"][v.name]["pos_err_pct"]
    assert err == pytest.approx(2.0)
    assert score_poses(scene, poses, align=False, within=((2.0, err),))[f"within_2deg_{err:g}pct"] == 100.0
    assert score_poses(scene, poses, align=False, within=((2.0, 1.99),))["within_2deg_1.99pct"] == 80.0


def test_method_dir_drops_results_of_other_settings(tmp_path):
    folder = demo.method_dir(tmp_path, "sift", {"max_keypoints": 10})
    (folder / "features.h5").write_text("x")
    assert (demo.method_dir(tmp_path, "sift", {"max_keypoints": 10}) / "features.h5").exists()
    assert not (demo.method_dir(tmp_path, "sift", {"max_keypoints": 20}) / "features.h5").exists()


def test_unknown_method_is_an_error(tmp_path, capsys):
    assert cli.main(["demo", "--outputs", str(tmp_path / "d"), "--methods", "surf"]) == 1
    assert "unknown demo method" in capsys.readouterr().err


def test_missing_relf_weights_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["demo", "--outputs", str(tmp_path / "d"), "--methods", "relf-fast",
                     "--num-cameras", "3", "--width", "64", "--height", "48",
                     "--weights", str(tmp_path / "none.pth")])
    assert code == 1
    err = capsys.readouterr().err
    assert "none.pth" in err and "weights not found" in err


def test_demo_sift_end_to_end(tmp_path):
    """The whole demo with SIFT on a small scene: registers, is accurate, writes its outputs."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "--outputs", str(out), "--methods", "sift", "--num-cameras", "6",
                     "--width", "320", "--height", "240", "--max-keypoints", "1000"]) == 0
    report = json.loads((out / "report.json").read_text())
    sift = report["methods"]["sift"]
    assert sift["total"] == 6 and sift["registered"] >= 4
    assert sift["median_rot_err_deg"] < 2.0
    assert sift["median_pos_err_pct"] < 2.0  # 2% of the scene size
    assert sift["points"] > 50 and sift["failure"] is None
    assert set(sift["seconds"]) == {"extract", "pairs", "match", "reconstruction", "total"}
    assert report["scene"]["angles_deg"]["view_01.png"] != 0
    for name in ("cameras.png", "summary.png"):
        assert (out / name).stat().st_size > 10_000
    assert pycolmap.Reconstruction(str(out / "sift" / "sfm")).num_reg_images() == sift["registered"]
    table = demo.format_table(report)
    assert table.splitlines()[2].split()[:2] == ["sift", f"{sift['registered']}/6"]
    # a second run reuses the features and matches of the same settings
    again = json.loads(demo.main(out, ["sift"], num_cameras=6, width=320, height=240,
                                 max_keypoints=1000).read_text())
    assert again["methods"]["sift"]["resumed_steps"] == ["extract", "match"]
    for key in ("registered", "points", "median_rot_err_deg", "median_pos_err_pct", "mean_reprojection_error_px"):
        assert again["methods"]["sift"][key] == sift[key]  # mapping again gives the same model
    assert sift["resumed_steps"] == []


@pytest.mark.slow
def test_demo_relf_random_weights_runs(tmp_path):
    """RELF through the demo (untrained weights: checks the pipeline, not accuracy)."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "--outputs", str(out), "--methods", "relf-fast,sift", "--num-cameras", "4",
                     "--width", "320", "--height", "240", "--max-keypoints", "500",
                     "--random-weights"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["methods"]) == {"relf-fast", "sift"}
    assert report["relf_weights"] == "random (untrained)"
    assert report["methods"]["relf-fast"]["total"] == 4
