import json

import numpy as np
import pycolmap
import pytest

from relf_hloc import cli, demo, render


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    out = render.main(tmp_path_factory.mktemp("demo") / "scene", num_cameras=5, width=96, height=72,
                      supersample=1)
    return out, render.read_scene(out)


def test_evaluate_ground_truth_model_is_exact(small_scene):
    scene, cameras = small_scene
    rec = pycolmap.Reconstruction(str(scene / "gt"))
    # the same cameras in another frame (scaled, turned, moved) score the same
    rec.transform(pycolmap.Sim3d(0.2, pycolmap.Rotation3d(np.array([0.1, 0.7, -0.3, 0.6]) / np.linalg.norm(
        [0.1, 0.7, -0.3, 0.6])), np.array([3.0, -1, 2])))
    out = demo.evaluate(rec, cameras)
    assert out["registered"] == out["total"] == 5
    assert out["rot_err_median_deg"] == pytest.approx(0, abs=1e-5)
    assert out["pos_err_median"] == pytest.approx(0, abs=1e-7)
    assert out["within_2deg_2pct"] == 1.0
    for name, v in out["per_image"].items():
        c = next(cam for cam in cameras if cam.name == name)
        np.testing.assert_allclose(v["centre_aligned"], c.centre, atol=1e-4)


def test_evaluate_counts_unregistered_cameras_as_failed(small_scene):
    scene, cameras = small_scene
    rec = pycolmap.Reconstruction(str(scene / "gt"))
    rec.deregister_frame(rec.images[1].frame_id)
    out = demo.evaluate(rec, cameras)
    assert (out["registered"], out["total"]) == (4, 5)
    assert out["within_5deg_5pct"] == pytest.approx(0.8)
    assert rec.images[1].name not in out["per_image"]
    rec.deregister_frame(rec.images[2].frame_id)
    rec.deregister_frame(rec.images[3].frame_id)
    two = demo.evaluate(rec, cameras)  # two cameras cannot be aligned: counted, not scored
    assert two["registered"] == 2 and two["rot_err_median_deg"] is None and two["within_2deg_2pct"] == 0
    none = demo.evaluate(None, cameras)
    assert none["registered"] == 0 and none["pos_err_median"] is None


def test_method_dir_drops_results_of_other_settings(tmp_path):
    folder = demo.method_dir(tmp_path, "sift", {"max_keypoints": 10})
    (folder / "features.h5").write_text("x")
    assert (demo.method_dir(tmp_path, "sift", {"max_keypoints": 10}) / "features.h5").exists()
    assert not (demo.method_dir(tmp_path, "sift", {"max_keypoints": 20}) / "features.h5").exists()


def test_unknown_method_is_an_error(tmp_path, capsys):
    assert cli.main(["demo", "--output", str(tmp_path / "d"), "--methods", "surf"]) == 1
    assert "unknown demo method" in capsys.readouterr().err


def test_missing_relf_weights_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["demo", "--output", str(tmp_path / "d"), "--methods", "relf",
                     "--num-cameras", "3", "--width", "64", "--height", "48",
                     "--weights", str(tmp_path / "none.pth")])
    assert code == 1
    err = capsys.readouterr().err
    assert "none.pth" in err and "weights not found" in err


def test_demo_sift_end_to_end(tmp_path):
    """The whole demo with SIFT on a small scene: registers, is accurate, writes its outputs."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "--output", str(out), "--methods", "sift", "--num-cameras", "6",
                     "--width", "320", "--height", "240", "--max-keypoints", "1000"]) == 0
    report = json.loads((out / "report.json").read_text())
    sift = report["methods"]["sift"]
    assert sift["total"] == 6 and sift["registered"] >= 4
    assert sift["rot_err_median_deg"] < 2.0
    assert sift["pos_err_median"] < 0.02  # 2% of the scene size
    assert sift["points"] > 50 and sift["failure"] is None
    assert set(sift["seconds"]) == {"extract", "pairs", "match", "reconstruction", "total"}
    assert report["scene"]["rolls_deg"]["view_01.png"] != 0
    for name in ("cameras.png", "summary.png"):
        assert (out / name).stat().st_size > 10_000
    assert pycolmap.Reconstruction(str(out / "sift" / "sfm")).num_reg_images() == sift["registered"]
    table = demo.format_table(report)
    assert table.splitlines()[2].split()[:2] == ["sift", f"{sift['registered']}/6"]
    # a second run reuses the features and matches of the same settings
    again = json.loads(demo.main(out, ["sift"], num_cameras=6, width=320, height=240,
                                 max_keypoints=1000).read_text())
    assert again["methods"]["sift"]["resumed_steps"] == ["extract", "match"]
    assert sift["resumed_steps"] == []


@pytest.mark.slow
def test_demo_relf_random_weights_runs(tmp_path):
    """RELF through the demo (untrained weights: checks the pipeline, not accuracy)."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "--output", str(out), "--methods", "relf,sift", "--num-cameras", "4",
                     "--width", "320", "--height", "240", "--max-keypoints", "500",
                     "--random-weights"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["methods"]) == {"relf", "sift"}
    assert report["relf_weights"] == "random (untrained)"
    assert report["methods"]["relf"]["total"] == 4
