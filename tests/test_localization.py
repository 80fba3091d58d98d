"""Localization end to end: ``relf-hloc query`` on an sfm output, and the localization benchmark."""

import json
import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from relf_hloc import cli, geometry
from relf_hloc.benchmarks import localization
from relf_hloc.datasets import render
from relf_hloc.eval.poses import model_poses
from relf_hloc.steps.localize import failure_kind, read_poses


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """8 rendered views (320x240, some rolled) of the demo scene: even ones make the model,
    odd ones are the queries."""
    root = render.main(tmp_path_factory.mktemp("loc") / "scene", num_cameras=8, width=320, height=240)
    for i, name in enumerate(sorted(p.name for p in (root / "images").iterdir())):
        (root / ("db" if i % 2 == 0 else "queries")).mkdir(exist_ok=True)
        shutil.copy(root / "images" / name, root / ("db" if i % 2 == 0 else "queries") / name)
    return root


def test_similarity_from_poses_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    R_gt, t_gt = Rotation.random(2, random_state=1).as_matrix(), rng.normal(size=(2, 3))
    s, R, t = 2.5, Rotation.random(random_state=3).as_matrix(), np.array([1.0, -2.0, 3.0])
    # the same cameras in a frame where X_gt = s R X_est + t: two cameras suffice
    R_est, t_est = R_gt @ R, (np.einsum("nij,j->ni", R_gt, t) + t_gt) / s
    s_, R_, t_ = geometry.similarity_from_poses(R_est, t_est, R_gt, t_gt)
    assert s_ == pytest.approx(s) and np.allclose(R_, R) and np.allclose(t_, t)
    aligned = localization.to_frame({"a": (R_est[0], t_est[0])}, s_, R_, t_)["a"]
    assert np.allclose(aligned[0], R_gt[0]) and np.allclose(aligned[1], t_gt[0])


def test_failure_kinds_of_the_localize_log():
    assert failure_kind("3 2D-3D matches, fewer than 12") == "2D-3D matches"
    assert failure_kind("7 inliers, fewer than 12") == "inliers"
    assert failure_kind("no database image to match (no pair names this query)") == "no database image"
    assert failure_kind("absolute pose estimation failed") == "estimation failed"


def pose_errors(scene, model_dir, poses_file):
    """Rotation (deg) and position (% of the scene) errors of localized queries, the model
    aligned to the ground truth by its cameras."""
    import pycolmap
    est = model_poses(pycolmap.Reconstruction(model_dir))
    names = sorted(est)
    sim = geometry.similarity_from_poses(*(np.stack([est[n][i] for n in names]) for i in (0, 1)),
                                         np.stack([scene[n].R for n in names]), np.stack([scene[n].t for n in names]))
    poses = {n: (np.asarray(p.rotation.matrix()), np.asarray(p.translation)) for n, p in read_poses(poses_file).items()}
    out = {}
    for n, (R, t) in localization.to_frame(poses, *sim).items():
        out[n] = (float(geometry.rotation_error_deg(R, scene[n].R)),
                  100 * float(np.linalg.norm(-R.T @ t - scene[n].center)) / scene.scene_size())
    return out


def test_query_localizes_new_photos_against_an_sfm_output(rendered, tmp_path, capsys):
    sfm_out, loc = tmp_path / "sfm", tmp_path / "loc"
    scene = render.read_scene(rendered)
    K = scene.views[0].K  # one camera for every view, known and kept: a 4-view model is then accurate
    assert cli.main(["sfm", "--images", str(rendered / "db"), "--outputs", str(sfm_out), "--conf", "sift",
                     "--max-keypoints", "2000", "--matcher", "relf-nn", "--camera-model", "PINHOLE",
                     "--camera-params", f"{K[0, 0]},{K[1, 1]},{K[0, 2] + 0.5},{K[1, 2] + 0.5}",
                     "--mapper-option", "ba_refine_focal_length=False",
                     "--mapper-option", "ba_refine_principal_point=False"]) == 0
    queries = tmp_path / "queries.txt"  # known intrinsics, hloc's format
    queries.write_text("".join(f"{n} PINHOLE 320 240 {scene[n].K[0, 0]} {scene[n].K[1, 1]} "
                               f"{scene[n].K[0, 2] + 0.5} {scene[n].K[1, 2] + 0.5}\n"
                               for n in sorted(p.name for p in (rendered / "queries").iterdir())))
    capsys.readouterr()
    assert cli.main(["query", "--sfm", str(sfm_out), "--images", str(rendered / "queries"), "--outputs", str(loc),
                     "--queries", str(queries), "--num-matched", "2"]) == 0
    out = capsys.readouterr().out
    report = json.loads((loc / "report.json").read_text())
    assert (report["localized"], report["total"], report["failures"]) == (4, 4, {})
    assert "query: localized 4/4" in out and "queries/s" in out
    assert set(report["seconds"]) == {"extract", "pairs", "match", "localize", "total", "per_query"}
    pairs = (loc / "pairs-query.txt").read_text().split("\n")
    assert len([p for p in pairs if p]) == 8  # each query with its 2 most similar model images
    errors = pose_errors(scene, sfm_out / "sfm", loc / "poses.txt")
    assert len(errors) == 4 and all(r < 2.0 and p < 2.0 for r, p in errors.values()), errors
    # a rerun resumes: the queries' features are in the model's file already
    assert cli.main(["query", "--sfm", str(sfm_out), "--images", str(rendered / "queries"), "--outputs", str(loc),
                     "--queries", str(queries), "--num-matched", "2"]) == 0
    assert "0 image(s) done, 4 already in" in capsys.readouterr().out


def test_query_refuses_photos_named_like_model_images(rendered, tmp_path, capsys):
    sfm_out = tmp_path / "sfm"
    assert cli.main(["sfm", "--images", str(rendered / "db"), "--outputs", str(sfm_out), "--conf", "sift",
                     "--max-keypoints", "500", "--matcher", "relf-nn"]) == 0
    capsys.readouterr()
    assert cli.main(["query", "--sfm", str(sfm_out), "--images", str(rendered / "db"),
                     "--outputs", str(tmp_path / "loc")]) == 1
    err = capsys.readouterr().err
    assert "query name(s) are images of the model" in err and "view_00.png" in err
    assert not (tmp_path / "loc").exists()
    assert cli.main(["query", "--sfm", str(tmp_path / "nowhere"), "--images", str(rendered / "queries"),
                     "--outputs", str(tmp_path / "loc")]) == 1
    assert "report.json: not found; --sfm takes the --outputs folder of relf-hloc sfm" in capsys.readouterr().err


def test_localization_benchmark_on_a_rendered_scene(rendered, tmp_path):
    conf = {"methods": "sift", "every": "2", "rotation": "90", "max_size": 320}
    results = json.loads(localization.main(conf, rendered / "gt", "colmap", tmp_path, command="test").read_text())
    rows = results["rows"]
    # 2 models x 2 variants x 2 intrinsics, 4 queries each
    assert len(rows) == 8 and all(r["total"] == 4 and r["reference"] == 4 for r in rows)
    gt = [r for r in rows if r["intrinsics"] == "known" and r["model"] == "gt"]  # the queries' own error
    assert all(r["localized"] >= 3 and r["recall"]["within_2deg_1pct"] >= 75 for r in gt), gt
    sfm = [r for r in rows if r["intrinsics"] == "known" and r["model"] == "sfm"]  # 3 of the 4 views register
    assert all(r["registered"] >= 3 and r["localized"] >= 3 and r["median_rot_err_deg"] < 0.5 for r in sfm), sfm
    # queries turned by 90 degrees: SIFT's keypoints turn with them, so the recall stays
    assert gt[0]["recall"] == gt[1]["recall"] and sfm[0]["recall"] == sfm[1]["recall"]
    assert {r["variant"] for r in rows} == {"upright", "rolled-90"}
    assert results["speed"]["sift"]["extract_s_per_image"] > 0
    text = (tmp_path / "results.md").read_text()
    assert "| sift | every 2 | rolled-90 |" in text and (tmp_path / "recall.png").is_file()
    with pytest.raises(ValueError, match="--every 1: each density must be at least 2"):
        localization.main({**conf, "every": "1"}, rendered / "gt", "colmap", tmp_path)


def test_hlocs_localize_sfm_runs_on_a_query_output(rendered, tmp_path):
    """hloc's own localize_sfm takes the files of ``relf-hloc query`` (model, features, pairs,
    matches) and finds the poses ``query`` found."""
    hloc = pytest.importorskip("hloc.localize_sfm", reason="hloc is not installed (pip install --no-deps "
                               "../shared/wheels/hloc-1.5-py3-none-any.whl)")
    sfm_out, loc = tmp_path / "sfm", tmp_path / "loc"
    assert cli.main(["sfm", "--images", str(rendered / "db"), "--outputs", str(sfm_out), "--conf", "sift",
                     "--max-keypoints", "2000", "--matcher", "relf-nn"]) == 0
    scene = render.read_scene(rendered)
    queries = tmp_path / "queries.txt"
    queries.write_text("".join(f"{n} PINHOLE 320 240 {scene[n].K[0, 0]} {scene[n].K[1, 1]} {scene[n].K[0, 2] + 0.5} "
                               f"{scene[n].K[1, 2] + 0.5}\n" for n in ("view_01.png", "view_05.png")))
    assert cli.main(["query", "--sfm", str(sfm_out), "--images", str(rendered / "queries"), "--outputs", str(loc),
                     "--queries", str(queries)]) == 0
    features = next(sfm_out.glob("feats-*.h5"))
    hloc.main(sfm_out / "sfm", queries, loc / "pairs-query.txt", features, loc / "matches-query.h5",
              tmp_path / "hloc.txt")
    ours, theirs = read_poses(loc / "poses.txt"), read_poses(tmp_path / "hloc.txt")
    assert set(ours) == set(theirs) == {"view_01.png", "view_05.png"}
    for name in ours:
        assert geometry.rotation_error_deg(ours[name].rotation.matrix(), theirs[name].rotation.matrix()) < 0.5


def test_colmap_database_exported_as_hloc_files(rendered, tmp_path):
    """COLMAP alone's features and raw matches, as hloc files (the benchmark's 'colmap' method)."""
    import pycolmap

    from relf_hloc import io
    from relf_hloc.steps.colmap import export_database
    database, names = tmp_path / "database.db", ["view_00.png", "view_02.png", "view_04.png"]
    pycolmap.extract_features(database, rendered / "db", image_names=names,
                              extraction_options=pycolmap.FeatureExtractionOptions(num_threads=1))
    pycolmap.match_exhaustive(database)
    export_database(database, tmp_path / "f.h5", tmp_path / "m.h5")
    assert io.list_names(tmp_path / "f.h5") == names and not (tmp_path / "m.tmp.h5").exists()
    with pycolmap.Database.open(database) as db:
        ids = {i.name: i.image_id for i in db.read_all_images()}
        kpts = db.read_keypoints(ids["view_00.png"])[:, :2]
        raw = db.read_matches(ids["view_00.png"], ids["view_02.png"])
    f = io.read_features(tmp_path / "f.h5", "view_00.png", ["keypoints", "image_size"])
    assert np.allclose(f["keypoints"], kpts - 0.5) and f["image_size"].tolist() == [320, 240]
    desc = io.read_descriptors(tmp_path / "f.h5", "view_00.png")
    assert desc.shape == (len(kpts), 128) and np.allclose(np.linalg.norm(desc, axis=1), 1, atol=1e-5)
    m, _ = io.read_matches(tmp_path / "m.h5", "view_00.png", "view_02.png")
    assert len(raw) > 20 and sorted(map(tuple, m.tolist())) == sorted(map(tuple, raw.tolist()))
