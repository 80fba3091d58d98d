"""Rotated-camera pose benchmark (relf_hloc/benchmarks/pose.py)."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from relf_hloc import io
from relf_hloc.datasets import scenes
from relf_hloc.benchmarks import pose
from relf_hloc.eval import poses
from relf_hloc.datasets.scenes import Scene, View


def look_at(center, target=np.zeros(3)):
    z = target - center
    z = z / np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def two_views(angle1=0.0, fx=300.0, fy=303.0):
    K = np.array([[fx, 0, 159.5], [0, fy, 119.5], [0, 0, 1]])
    views = []
    for i, c in enumerate([np.array([-1.0, 0.2, -6]), np.array([1.5, -0.3, -5.5])]):
        R = look_at(c)
        views.append(View(f"{i}.png", K, R, -R @ c, (320, 240)))
    views[1] = scenes.rotate_view(views[1], angle1)
    return views


def visible_projections(views, n=300, seed=0):
    X = np.random.default_rng(seed).uniform(-1.5, 1.5, (n, 3))
    pix = [v.project(X) for v in views]
    inside = np.all([(p[:, 0] > 0) & (p[:, 0] < v.size[0] - 1) & (p[:, 1] > 0) & (p[:, 1] < v.size[1] - 1)
                     for p, v in zip(pix, views)], axis=0)
    return [p[inside] for p in pix]


@pytest.mark.parametrize("angle", [0, 90, 33])
def test_relative_pose_is_recovered_from_exact_matches(angle):
    """Exact for any roll, including the non-pinhole K' of 33 degrees with fx != fy."""
    v0, v1 = two_views(angle)
    k0, k1 = visible_projections([v0, v1])
    assert len(k0) > 100
    rng = np.random.default_rng(1)
    k0 = k0 + rng.normal(scale=0.2, size=k0.shape)
    R, t, inliers = poses.estimate_relative_pose(k0, k1, v0.K, v1.K, threshold_px=1.0)
    from relf_hloc import geometry
    R_gt, t_gt = geometry.relative_pose(v0.R, v0.t, v1.R, v1.t)
    err_R, err_t = geometry.relative_pose_error(R, t, R_gt, t_gt)
    assert err_R < 0.2 and err_t < 1.0
    assert inliers > 0.9 * len(k0)


def test_relative_pose_needs_five_matches():
    v0, v1 = two_views()
    assert poses.estimate_relative_pose(np.zeros((4, 2)), np.zeros((4, 2)), v0.K, v1.K) is None


def test_rotation_bins():
    assert [poses.rotation_bin(a) for a in (0, 44.9, 45, 90, 134, 135, 180)] == \
        ["0-45", "0-45", "45-90", "90-135", "90-135", "135-180", "135-180"]


def test_pose_summary_auc_on_hand_made_errors():
    """SuperGlue's AUC: recall curve through (0, 0) and each sorted error, linear
    in between, flat after the last finite error; failures (inf) never recall."""
    records = [{"rotation_diff": 10, "error": 0.0}, {"rotation_diff": 20, "error": math.inf},
               {"rotation_diff": 170, "error": 2.5}]
    for r in records:
        r.update(matches=10, inliers=5)
    s = poses.pose_summary(records)
    # errors {0, inf}: recall 0.5 from 0 on -> 50% at every threshold
    assert s["auc_by_rotation"]["0-45"]["auc"] == {"5": 50.0, "10": 50.0, "20": 50.0}
    # error {2.5}: ramp to 1 at 2.5 (area 1.25), then 1 -> (1.25 + t - 2.5) / t
    assert s["auc_by_rotation"]["135-180"]["auc"] == {"5": 75.0, "10": 87.5, "20": 93.75}
    assert s["auc_by_rotation"]["45-90"] == {"auc": None, "pairs": 0}
    # all three: (0, 1/3) -> (2.5, 2/3) area 1.25, then 2/3 flat
    assert s["auc"]["5"] == pytest.approx(100 * (1.25 + 2 / 3 * 2.5) / 5, abs=0.01)
    assert s["auc"]["10"] == pytest.approx(100 * (1.25 + 2 / 3 * 7.5) / 10, abs=0.01)
    assert s["pairs"] == 3 and s["failed_pairs"] == 1


def write_scene_files(tmp_path, views, seed=0, wrong=20):
    """hloc features/matches of exact projections (+ wrong matches) for ``views``."""
    rng = np.random.default_rng(seed)
    kpts = visible_projections(views, n=400, seed=seed)
    features, matches = tmp_path / "f.h5", tmp_path / "m.h5"
    for v, k in zip(views, kpts):
        io.write_features(features, v.name, {"keypoints": k.astype(np.float32),
                                             "descriptors": np.eye(len(k), 8, dtype=np.float32).T,
                                             "scores": np.ones(len(k)), "image_size": np.array(v.size)})
    m0 = np.arange(len(kpts[0]))
    m0[:wrong] = rng.permutation(m0[:wrong])
    io.write_matches(matches, views[0].name, views[1].name, m0, np.ones(len(m0)))
    return features, matches


def test_relative_pose_records_from_files(tmp_path):
    views = two_views(137)
    features, matches = write_scene_files(tmp_path, views)
    scene = Scene(tmp_path, views)
    [rec] = poses.relative_pose_records(scene, [("0.png", "1.png")], features, matches)
    assert rec["rotation_diff"] == pytest.approx(137, abs=5)  # roll plus the views' own
    assert rec["error"] < 0.5 and rec["inliers"] >= rec["matches"] - 20
    # exact projections: the matches within 10 px of their epipolar lines, and the inliers, are
    # exact (the 20 shuffled ones are either farther or land on their line by chance)
    assert rec["epi_error"]["matches"]["median"] < 1e-3 and rec["epi_error"]["inliers"]["median"] < 1e-3
    summary = poses.pose_summary([rec, {**rec, "epi_error": {"matches": {"median": 3.0, "p90": 5.0},
                                                            "inliers": None}}])
    assert summary["epi_error"]["matches"]["median"] == pytest.approx((rec["epi_error"]["matches"]["median"] + 3) / 2,
                                                                      abs=1e-3)
    assert summary["epi_error"]["inliers"] == {k: pytest.approx(v, abs=1e-3)
                                               for k, v in rec["epi_error"]["inliers"].items()}


def test_parse_methods():
    assert pose.parse_methods("relf-fast, sift,mine=/x/{variant}.h5") == \
        {"relf-fast": None, "sift": None, "mine": "/x/{variant}.h5"}
    with pytest.raises(ValueError, match=r"unknown extractor\(s\) \['surf'\]"):
        pose.parse_methods("relf-fast,surf")


def test_select_images_and_pairs():
    names = [f"{i}" for i in range(11)]
    assert pose.select_images(names, 4) == ["0", "3", "7", "10"]
    assert len(pose.select_pairs(names, None, 0)) == 55
    sub = pose.select_pairs(names, 10, 0)
    assert len(sub) == 10 and sub == pose.select_pairs(names, 10, 0)


# ---------------------------------------------------------------- SfM and localization
def synthetic_scene(tmp_path):
    """The pipeline helper's synthetic multi-view scene, as a benchmark Scene."""
    from sfm_synthetic import make_scene
    s = make_scene(tmp_path)
    K = s.K - np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])  # COLMAP corner -> centre origin
    size = (int(2 * s.K[0, 2]), int(2 * s.K[1, 2]))
    views = [View(n, K, s.R[n], s.t[n], size) for n in s.names]
    return Scene(s.image_dir, views), s


def test_sfm_and_localization_metrics_on_synthetic_scene(tmp_path):
    pytest.importorskip("pycolmap")
    scene, s = synthetic_scene(tmp_path)
    sfm = pose.sfm_metrics(scene, tmp_path / "sfm", s.pairs, s.features, s.matches)
    assert sfm["registered"] == sfm["total"] == len(scene)
    assert sfm["points"] > 100 and sfm["reprojection_px"] < 1.0
    assert sfm["median_rot_err_deg"] < 0.5 and sfm["within_5deg_5pct"] == 100.0
    loc = pose.localization_metrics(scene, tmp_path / "loc", io.read_pairs(s.pairs), s.features,
                                    s.matches)
    assert loc["queries"] == len(scene) and loc["recall_5deg_5pct"] == 100.0


def test_score_poses_counts_wrong_poses(tmp_path):
    """A pose 20 degrees off is outside (5 deg, 5%); missing images count as failed."""
    pytest.importorskip("pycolmap")
    scene, s = synthetic_scene(tmp_path)
    truth = {n: (scene[n].R, scene[n].t) for n in scene.names}
    wrong = View(scene.views[0].name, scene.views[0].K, scenes.roll_matrix(20) @ scene.views[0].R,
                 scene.views[0].t, scene.views[0].size)
    score = poses.score_poses(Scene(scene.image_dir, [wrong] + scene.views[1:]), truth, align=False)
    assert score["per_image"][wrong.name]["rot_err_deg"] == pytest.approx(20)
    assert score["within_5deg_5pct"] == pytest.approx(100 * 5 / 6, abs=0.01)
    del truth[scene.names[1]]  # not estimated: counts as outside
    score = poses.score_poses(Scene(scene.image_dir, [wrong] + scene.views[1:]), truth, align=False)
    assert score["within_5deg_5pct"] == pytest.approx(100 * 4 / 6, abs=0.01)


def test_score_poses_aligns_a_similarity_away():
    """An SfM model is the ground truth up to a similarity X' = s Q X + d: zero error."""
    views = two_views() + [scenes.rotate_view(v, 40) for v in two_views(0, 250, 250)]
    views = [View(f"{i}.png", v.K, v.R, v.t + [0.1 * i, 0, 0], v.size) for i, v in enumerate(views)]
    scene = Scene(".", views)
    Q, d, s = cv2.Rodrigues(np.array([0.3, -0.5, 0.8]))[0], np.array([3, -1, 2]), 2.5
    estimated = {v.name: (v.R @ Q.T, s * v.t - v.R @ Q.T @ d) for v in views}
    score = poses.score_poses(scene, estimated, align=True, within=((1.0, 1.0),))
    assert score["estimated"] == 4
    for e in score["per_image"].values():
        assert e["rot_err_deg"] < 1e-4 and e["pos_err_pct"] < 1e-7  # arccos near 1 limits the angle to ~1e-6 deg
    assert score["within_1deg_1pct"] == 100.0
    two = poses.score_poses(scene, dict(list(estimated.items())[:2]), align=True)
    assert two["per_image"] == {} and two["median_rot_err_deg"] is None


# ---------------------------------------------------------------- the command
def test_command_on_shared_middlebury(shared_data, tmp_path):
    """SIFT on 4 temple images, rotated by multiples of 90: one command, every output."""
    from relf_hloc import cli
    out = tmp_path / "out"
    code = cli.main(["benchmark", "pose", "--scene", str(shared_data / "middlebury" / "templeSparseRing"),
                     "--format", "middlebury", "--rotation", "90", "--seed", "1", "--methods", "sift",
                     "--max-images", "4", "--max-size", "320", "--metrics", "pose,sfm",
                     "--outputs", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    r = results["methods"]["sift"]
    assert set(r["auc"]) == {"5", "10", "20"} and r["pairs"] == 6 and r["total"] == 4
    assert 0 <= r["registered"] <= 4
    assert set(results["variants"]) == {"upright", "rotated-90-seed1"}
    assert results["command"].startswith("relf-hloc benchmark pose ") and "--rotation=90" in results["command"]
    cams = json.loads((out / "work" / "rotated-90-seed1" / "cameras.json").read_text())
    assert sorted(c["angle"] for c in cams.values()) == [0, 90, 180, 270]
    assert (out / "auc_vs_rotation.png").is_file() and (out / "registered.png").is_file()
    assert "| rotated-90-seed1 | sift |" in (out / "results.md").read_text()
    # any hloc features file by path: the same SIFT files scored again give the same AUC
    sift_file = Path(r["features"]).name
    code = cli.main(["benchmark", "pose", "--scene", str(shared_data / "middlebury" / "templeSparseRing"),
                     "--format", "middlebury", "--rotation", "90", "--seed", "1",
                     "--methods", f"again={{work}}/{{variant}}/features/{sift_file}", "--max-images", "4",
                     "--max-size", "320", "--metrics", "pose", "--ratio", "0.8", "--outputs", str(out)])
    assert code == 0
    again = json.loads((out / "results.json").read_text())["methods"]["again"]
    assert again["auc"] == r["auc"] and again["speed"]["extract_s_per_image"] is None


def test_command_errors(tmp_path, capsys):
    from relf_hloc import cli
    assert cli.main(["benchmark", "pose", "--scene", str(tmp_path / "nope"), "--format", "strecha",
                     "--outputs", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "relf-hloc benchmark: error:" in err and str(tmp_path / "nope") in err
    assert not (tmp_path / "o" / "results.json").exists()
