"""Pipeline steps over pycolmap 4.2.1 on a synthetic scene with known cameras
(reconstruction, known-pose triangulation, localization, visualisation), and the
`relf-hloc sfm` command on real images when ../shared/data is present."""

import json
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest

from relf_hloc import cli, visualize
from relf_hloc.steps import colmap as colmap_utils, localize, reconstruction, triangulation
from relf_hloc.io import read_matches, read_pairs, write_matches, write_pairs

from sfm_synthetic import (centers, ground_truth_model, make_scene, relative_distances,
                           roll_error_pairs)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"))


def model_poses(rec):
    R = {rec.images[i].name: rec.images[i].cam_from_world().rotation.matrix() for i in rec.reg_image_ids()}
    t = {rec.images[i].name: rec.images[i].cam_from_world().translation for i in rec.reg_image_ids()}
    return R, t


def subset_pairs(scene, names, path):
    keep = set(names)
    write_pairs(path, [p for p in read_pairs(scene.pairs) if p[0] in keep and p[1] in keep])
    return path


def no_temp_folders(parent: Path):
    return [p.name for p in parent.iterdir() if ".tmp" in p.name]


# ---------------------------------------------------------------- reconstruction
def test_reconstruction_recovers_the_true_cameras(scene, tmp_path):
    sfm_dir = tmp_path / "sfm"
    rec = reconstruction.main(sfm_dir, scene.image_dir, scene.pairs, scene.features,
                              scene.matches, camera_mode="SINGLE")
    assert rec.num_reg_images() == len(scene.names)
    # every true point is seen by >= 2 cameras and is triangulated once
    assert rec.num_points3D() == pytest.approx(len(scene.points), rel=0.02)
    assert rec.compute_mean_reprojection_error() < 0.6  # 0.3 px keypoint noise
    R, t = model_poses(rec)
    # similarity-invariant checks: relative camera distances and relative rotations
    np.testing.assert_allclose(relative_distances(centers(R, t), scene.names),
                               relative_distances(centers(scene.R, scene.t), scene.names), atol=0.01)
    assert max(e for *_, e in roll_error_pairs(R, scene.R, scene.names)) < 0.5
    # hloc's layout: database + binary model in sfm_dir, nothing temporary left
    assert {"database.db", "cameras.bin", "images.bin", "points3D.bin"} <= {p.name for p in sfm_dir.iterdir()}
    assert not (sfm_dir / "models").exists() and not no_temp_folders(tmp_path)
    assert pycolmap.Reconstruction(sfm_dir).num_reg_images() == len(scene.names)


def test_reconstruction_camera_options(scene, tmp_path):
    rec = reconstruction.main(tmp_path / "per_image", scene.image_dir, scene.pairs, scene.features,
                              scene.matches, camera_mode="PER_IMAGE")
    assert rec.num_cameras() == len(scene.names)
    f, cx, cy = scene.K[0, 0], scene.K[0, 2], scene.K[1, 2]
    rec = reconstruction.main(
        tmp_path / "known", scene.image_dir, scene.pairs, scene.features, scene.matches,
        camera_mode="SINGLE",
        image_options={"camera_model": "SIMPLE_PINHOLE", "camera_params": f"{f},{cx},{cy}"},
        mapper_options={"ba_refine_focal_length": False, "mapper": {"init_min_num_inliers": 50}})
    (camera,) = rec.cameras.values()
    assert camera.model_name == "SIMPLE_PINHOLE"
    np.testing.assert_allclose(camera.params, [f, cx, cy])  # held fixed by the option
    assert rec.num_reg_images() == len(scene.names)
    # per-image cameras (e.g. a rotated copy keeping the upright image's focal)
    cameras = {n: pycolmap.Camera(model="PINHOLE", width=320, height=240,
                                  params=[f * (1 + 0.01 * i), f * (1 + 0.01 * i), cx, cy])
               for i, n in enumerate(scene.names)}
    rec = reconstruction.main(tmp_path / "given", scene.image_dir, scene.pairs, scene.features,
                              scene.matches, cameras=cameras,
                              mapper_options={"ba_refine_focal_length": False})
    assert rec.num_cameras() == len(scene.names)
    for image in rec.images.values():
        np.testing.assert_allclose(rec.cameras[image.camera_id].params, cameras[image.name].params)
    cameras[scene.names[0]] = pycolmap.Camera(model="PINHOLE", width=640, height=480,
                                              params=[f, f, cx, cy])
    with pytest.raises(ValueError, match=r"im00.png: image is 320x240 px but its given camera is 640x480"):
        reconstruction.main(tmp_path / "bad", scene.image_dir, scene.pairs, scene.features,
                            scene.matches, cameras=cameras)
    assert not (tmp_path / "bad").exists()


def test_reconstruction_replaces_previous_model_only_when_complete(scene, tmp_path):
    sfm_dir = tmp_path / "sfm"
    reconstruction.main(sfm_dir, scene.image_dir, scene.pairs, scene.features, scene.matches)
    three = subset_pairs(scene, scene.names[:3], tmp_path / "pairs3.txt")
    rec = reconstruction.main(sfm_dir, scene.image_dir, three, scene.features, scene.matches)
    assert rec.num_reg_images() == 3
    assert pycolmap.Reconstruction(sfm_dir).num_reg_images() == 3


def test_option_parsing():
    opts = colmap_utils.parse_option_args(
        ["min_num_matches=10", "mapper.init_min_num_inliers=50", "ba_refine_focal_length=False"],
        pycolmap.IncrementalPipelineOptions())
    assert opts == {"min_num_matches": 10, "mapper": {"init_min_num_inliers": 50},
                    "ba_refine_focal_length": False}
    with pytest.raises(ValueError, match="unknown option 'min_num_matchez'"):
        colmap_utils.parse_option_args(["min_num_matchez=1"], pycolmap.IncrementalPipelineOptions())
    with pytest.raises(ValueError, match="expected a int"):
        colmap_utils.parse_option_args(["min_num_matches=abc"], pycolmap.IncrementalPipelineOptions())
    assert colmap_utils.merge_options({"a": 1, "m": {"x": 1, "y": 2}}, {"m": {"y": 3}}) == \
        {"a": 1, "m": {"x": 1, "y": 3}}


# ---------------------------------------------------------------- triangulation
@pytest.mark.parametrize("verification", ["poses", "colmap"])
def test_triangulation_from_known_poses(scene, tmp_path, verification):
    reference = tmp_path / "reference"
    reference.mkdir()
    ground_truth_model(scene).write_text(reference)  # a text model, as users often have
    rec = triangulation.main(tmp_path / "tri", reference, scene.image_dir, scene.pairs,
                             scene.features, scene.matches, verification=verification)
    assert rec.num_points3D() == pytest.approx(len(scene.points), rel=0.02)
    errors = []
    for point in rec.points3D.values():
        el = point.track.elements[0]
        true_index = scene.point_of_kpt[rec.images[el.image_id].name][el.point2D_idx]
        errors.append(np.linalg.norm(point.xyz - scene.points[true_index]) if true_index >= 0 else np.inf)
    assert np.median(errors) < 0.02  # scene is 4 units wide, cameras 7 units away
    R, t = model_poses(rec)
    for name in scene.names:  # the known poses are not moved
        np.testing.assert_allclose(R[name], scene.R[name], atol=1e-9)
        np.testing.assert_allclose(t[name], scene.t[name], atol=1e-9)
    assert (tmp_path / "tri" / "points3D.bin").is_file()


def test_undefined_two_view_geometries_give_no_points(scene, tmp_path):
    """Why triangulation writes CALIBRATED geometries: pycolmap 4.2.1 ignores
    UNDEFINED ones (what hloc writes) and triangulates nothing."""
    rec = ground_truth_model(scene)
    db_path = tmp_path / "database.db"
    ids = triangulation.create_db_from_model(rec, db_path)
    with pycolmap.Database.open(db_path) as db:
        colmap_utils.import_features(db, ids, scene.features)
        written = colmap_utils.import_matches(db, ids, read_pairs(scene.pairs), scene.matches)
        for (i0, i1), m in written.items():
            db.write_two_view_geometry(i0, i1, pycolmap.TwoViewGeometry(
                inlier_matches=m.astype(np.uint32)))
    out = pycolmap.triangulate_points(rec, db_path, scene.image_dir, tmp_path / "out")
    assert out.num_points3D() == 0


# ---------------------------------------------------------------- localization
@pytest.fixture(scope="module")
def db_model(scene, tmp_path_factory):
    """Model of the first 4 images triangulated with their true poses (world frame = truth)."""
    root = tmp_path_factory.mktemp("loc")
    db_names = scene.names[:4]
    gt = ground_truth_model(scene)
    for name in scene.names[4:]:
        gt.deregister_frame(gt.find_image_with_name(name).frame_id)
    triangulation.main(root / "model", gt, scene.image_dir,
                       subset_pairs(scene, db_names, root / "pairs-db.txt"),
                       scene.features, scene.matches)
    return root / "model"


def query_camera(scene):
    return pycolmap.Camera(model="SIMPLE_PINHOLE", width=320, height=240,
                           params=[scene.K[0, 0], scene.K[0, 2], scene.K[1, 2]])


def test_localize_recovers_true_poses(scene, db_model, tmp_path):
    queries = tmp_path / "queries.txt"
    f, cx, cy = scene.K[0, 0], scene.K[0, 2], scene.K[1, 2]
    queries.write_text("".join(f"{q} SIMPLE_PINHOLE 320 240 {f} {cx} {cy}\n" for q in scene.names[4:]))
    out = localize.main(db_model, queries, scene.features, scene.matches, tmp_path / "poses.txt")
    poses = localize.read_poses(out)
    assert sorted(poses) == scene.names[4:]
    for name, pose in poses.items():
        dR = pose.rotation.matrix() @ scene.R[name].T
        assert np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1))) < 0.2
        centre = -pose.rotation.matrix().T @ pose.translation
        assert np.linalg.norm(centre - centers(scene.R, scene.t)[name]) < 0.05
    line = out.read_text().splitlines()[0].split()  # hloc's format: name qw qx qy qz tx ty tz
    assert len(line) == 8 and np.isclose(np.linalg.norm(np.array(line[1:5], float)), 1)
    log = json.loads(localize.log_path(out).read_text())
    assert log["localized"] == 2 and log["queries"][scene.names[4]]["num_inliers"] > 300


def test_localize_reports_failures_never_a_neighbour_pose(scene, db_model, tmp_path):
    q_ok, q_bad = scene.names[4], scene.names[5]
    matches = tmp_path / "matches.h5"
    rng = np.random.default_rng(0)
    for db in scene.names[:4]:  # q_bad: only random matches, q_ok: a copy of the true ones
        m, _ = read_matches(scene.matches, q_ok, db)
        m0 = np.full(len(scene.point_of_kpt[q_ok]), -1)
        m0[m[:, 0]] = m[:, 1]
        write_matches(matches, q_ok, db, m0, np.ones(len(m0)))
        n_db = len(scene.point_of_kpt[db])
        write_matches(matches, q_bad, db, rng.integers(0, n_db, len(scene.point_of_kpt[q_bad])),
                      np.ones(len(scene.point_of_kpt[q_bad])))
    out = localize.main(db_model, [(q_ok, query_camera(scene)), (q_bad, query_camera(scene))],
                        scene.features, matches, tmp_path / "poses.txt", min_inliers=100)
    assert list(localize.read_poses(out)) == [q_ok]  # no line at all for the failed query
    log = json.loads(localize.log_path(out).read_text())["queries"]
    assert log[q_ok]["status"] == "localized" and log[q_bad]["status"] == "failed"
    # random matches still give a few dozen RANSAC "inliers" at 12 px: the threshold rejects them
    assert log[q_bad]["num_2d3d"] > 1000 and 0 < log[q_bad]["num_inliers"] < 100
    assert log[q_bad]["reason"] == f"{log[q_bad]['num_inliers']} inliers, fewer than 100"
    # an impossible threshold fails every query, with the reason
    out = localize.main(db_model, [(q_ok, query_camera(scene))], scene.features, scene.matches,
                        tmp_path / "strict.txt", min_inliers=100000)
    assert out.read_text() == ""
    assert "fewer than 100000" in json.loads(localize.log_path(out).read_text())["queries"][q_ok]["reason"]


def test_localize_queries_file_errors(tmp_path):
    bad = tmp_path / "q.txt"
    bad.write_text("a.jpg PINHOLE 320 240 100 100\n")
    with pytest.raises(ValueError, match="takes parameters 'fx, fy, cx, cy', got 2"):
        localize.read_queries(bad)
    bad.write_text("a.jpg FISHY 320 240 100\n")
    with pytest.raises(ValueError, match="unknown camera model 'FISHY'"):
        localize.read_queries(bad)


# ---------------------------------------------------------------- visualisation
def test_visualize_outputs(scene, db_model, tmp_path):
    kp = visualize.plot_keypoints(db_model, scene.image_dir, scene.names[0], tmp_path / "kp.png")
    vis = visualize.plot_keypoints(db_model, scene.image_dir, scene.names[0], tmp_path / "vis.png",
                                   color_by="visibility")
    m = visualize.plot_matches(scene.image_dir, scene.features, scene.matches, *scene.names[:2],
                               tmp_path / "m.png")
    html = visualize.plot_model(db_model, tmp_path / "model.html")
    assert cv2.imread(str(kp)).shape[:2] == (240, 320 + 90)  # the colour bar beside the image
    drawn = visualize.plot_keypoints(db_model, scene.image_dir, scene.names[0], tmp_path / "kpf.png",
                                     features=scene.features)  # scale circles and orientation ticks
    assert cv2.imread(str(drawn)).shape[:2] == (240, 410)
    assert cv2.imread(str(vis)).shape[:2] == (240, 320)
    assert cv2.imread(str(m)).shape[:2] == (240, 640)
    text = html.read_text()
    assert scene.names[0] in text and len(text) > 1_000_000  # plotly.js embedded: works offline
    lengths = visualize.keypoint_track_lengths(pycolmap.Reconstruction(db_model), scene.names[0])
    seen = scene.point_of_kpt[scene.names[0]] >= 0
    assert (lengths[~seen] == 0).all() and lengths[seen].max() <= 4 and (lengths[seen] >= 2).mean() > 0.95
    assert cli.main(["visualize", "model", "--model", str(db_model), "--output",
                     str(tmp_path / "cli.html")]) == 0


# ---------------------------------------------------------------- the sfm command
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """6 rendered views (320x240, every other one rolled 30-180 degrees) of the demo scene."""
    from relf_hloc.datasets import render
    return render.main(tmp_path_factory.mktemp("rendered") / "scene", num_cameras=6,
                       width=320, height=240) / "images"


def test_sfm_command_with_sift(rendered, tmp_path, capsys):
    outputs = tmp_path / "out"
    args = ["sfm", "--images", str(rendered), "--outputs", str(outputs), "--conf", "sift",
            "--max-keypoints", "2000", "--matcher", "relf-nn"]  # plain mutual NN: more matches on 320 px
    code = cli.main(args)
    assert code == 0, capsys.readouterr().err
    report = json.loads((outputs / "report.json").read_text())
    assert report["status"] == "ok" and report["total"] == 6 and report["registered"] == 6
    assert report["points"] > 150 and report["mean_track_length"] > 2
    assert report["mean_reprojection_error_px"] < 1
    assert set(report["seconds"]) == {"extract", "pairs", "match", "reconstruction", "total"}
    budget = report["time_budget"]  # where the seconds went, stage by stage
    assert {"load", "decode", "features", "matching", "verification", "mapping"} <= set(budget["stages"])
    assert budget["per_image"] == round(budget["total"] / 6, 2) and budget["total"] == report["seconds"]["total"]
    main_stages = sum(budget["stages"][k] for k in ("load", "features", "matching", "verification", "mapping"))
    assert budget["unaccounted"] == pytest.approx(budget["total"] - main_stages, abs=0.011)
    assert report["features"]["conf"] == {"name": "sift", "max_keypoints": 2000, "contrast_threshold": 0.02}
    assert report["features"]["file"].startswith("feats-sift-")
    assert report["matches"]["conf"].get("ratio_threshold") is None
    assert report["pairs"]["count"] == 15
    rec = pycolmap.Reconstruction(outputs / "sfm")
    assert (rec.num_reg_images(), rec.num_points3D()) == (report["registered"], report["points"])
    out = capsys.readouterr().out
    assert "registered 6/6 images" in out and "s per image: load " in out and "mapping" in out
    # a rerun resumes: features and matches are reused, the model is rebuilt
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "0 image(s) done, 6 already in" in out and "0 pair(s) matched" in out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sfm_sacre_coeur_sift(shared_data, tmp_path, seed):
    """hloc's demo images with SIFT and the SfM defaults: 10/10 registered for every mapper
    seed, as COLMAP's own pipeline (README "SfM on real photos")."""
    assert cli.main(["sfm", "--images", str(shared_data / "sacre_coeur"), "--outputs",
                     str(tmp_path), "--conf", "sift", "--mapper-option", f"random_seed={seed}"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["registered"] == 10 and report["points"] > 500


def test_features_tag_separates_settings(tmp_path):
    from relf_hloc.confs import extractor_conf
    from relf_hloc.features import features_tag, weights_tag
    tags = {features_tag(extractor_conf("relf-fast")), features_tag(extractor_conf("relf-fast", 500)),
            features_tag(extractor_conf("relf-fast", random_weights=True)), features_tag(extractor_conf("relf")),
            features_tag(extractor_conf("sift")), features_tag(extractor_conf("sift", 500))}
    assert len(tags) == 6  # every setting its own file
    assert features_tag(extractor_conf("relf-fast")).startswith("relf-fast-")
    assert features_tag(extractor_conf("sift")) == features_tag(extractor_conf("sift", weights="x.pth"))
    other = tmp_path / "best.pth"
    other.write_bytes(b"one")
    assert weights_tag(other) == "w7692c3ad"
    assert features_tag(extractor_conf("relf-fast", weights=other)) != features_tag(extractor_conf("relf-fast"))
    # the tag names the weights by content: a copy of the same checkpoint shares it
    copy = tmp_path / "copy.pth"
    copy.write_bytes(b"one")
    assert (features_tag(extractor_conf("relf-fast", weights=other))
            == features_tag(extractor_conf("relf-fast", weights=copy)))


def test_triangulate_and_localize_commands(scene, tmp_path, capsys):
    reference = tmp_path / "reference"
    reference.mkdir()
    gt = ground_truth_model(scene)
    for name in scene.names[4:]:
        gt.deregister_frame(gt.find_image_with_name(name).frame_id)
    gt.write(reference)
    db_pairs = subset_pairs(scene, scene.names[:4], tmp_path / "pairs-db.txt")
    assert cli.main(["triangulate", "--reference", str(reference), "--images", str(scene.image_dir),
                     "--pairs", str(db_pairs), "--features", str(scene.features), "--matches",
                     str(scene.matches), "--outputs", str(tmp_path / "model")]) == 0
    assert "triangulated" in capsys.readouterr().out
    queries = tmp_path / "queries.txt"
    queries.write_text("".join(f"{q}\n" for q in scene.names[4:]))  # cameras guessed from images
    assert cli.main(["localize", "--model", str(tmp_path / "model"), "--queries", str(queries),
                     "--images", str(scene.image_dir), "--features", str(scene.features),
                     "--matches", str(scene.matches), "--output", str(tmp_path / "poses.txt")]) == 0
    out = capsys.readouterr()
    assert "localized 2 / 2 queries" in out.out
    # guessed intrinsics are said loudly, and every query's camera is in the output and the log
    assert "GUESSED" in out.err and "name MODEL WIDTH HEIGHT PARAMS" in out.err
    assert out.out.count("camera guessed SIMPLE_RADIAL") == 2
    log = json.loads((tmp_path / "poses.txt.log.json").read_text())
    assert {q["camera"]["source"] for q in log["queries"].values()} == {"guessed"}
    # without --images a bare query name has no camera: a clear error, exit 1
    assert cli.main(["localize", "--model", str(tmp_path / "model"), "--queries", str(queries),
                     "--features", str(scene.features), "--matches", str(scene.matches),
                     "--output", str(tmp_path / "p2.txt")]) == 1
    assert "has no camera" in capsys.readouterr().err


# ---------------------------------------------------------------- mapping that does not give up early
def test_mapping_attempts_relax_then_change_seed():
    attempts = reconstruction.mapping_attempts(4, seed=7)
    assert [label for label, _ in attempts] == ["COLMAP defaults", "relaxed thresholds",
                                               "relaxed thresholds, seed 8", "relaxed thresholds, seed 9"]
    assert attempts[0][1] == {} and attempts[1][1] == reconstruction.RELAXED
    assert attempts[3][1]["random_seed"] == 9 and attempts[3][1]["mapper"]["init_min_tri_angle"] == 8.0
    assert [label for label, _ in reconstruction.mapping_attempts(1)] == ["COLMAP defaults"]


def test_a_complete_model_takes_one_attempt_and_says_so(scene, tmp_path):
    reconstruction.main(tmp_path / "sfm", scene.image_dir, scene.pairs, scene.features, scene.matches)
    mapping = json.loads((tmp_path / "sfm" / "mapping.json").read_text())
    assert [a["attempt"] for a in mapping["attempts"]] == ["COLMAP defaults"]
    assert mapping["chosen"] == 0 and mapping["left_out"] == [] and mapping["num_models"] == 1
    causes = reconstruction.left_out_causes(tmp_path / "sfm" / "database.db", [scene.names[0], "absent.png"])
    assert causes["absent.png"].startswith("no verified pair with >= 15 inliers")
    assert causes[scene.names[0]].startswith(f"verified with {len(scene.names) - 1} image(s)")


def test_mapping_retries_while_images_are_left_out(scene, tmp_path, monkeypatch):
    """The first mapping registers 3 images, the retry all: the retry's model is kept, and the
    report names both attempts."""
    real = reconstruction.run_mapping
    calls = []

    def first_incomplete(database, image_dir, output, options=None, verbose=False):
        calls.append(options)
        models = real(database, image_dir, output, options, verbose)
        if len(calls) == 1:
            rec = models[0]
            for image_id in list(rec.reg_image_ids())[3:]:
                rec.deregister_frame(rec.images[image_id].frame_id)
        return models

    monkeypatch.setattr(reconstruction, "run_mapping", first_incomplete)
    rec = reconstruction.main(tmp_path / "sfm", scene.image_dir, scene.pairs, scene.features, scene.matches)
    mapping = json.loads((tmp_path / "sfm" / "mapping.json").read_text())
    assert rec.num_reg_images() == len(scene.names)
    assert [a["registered"] for a in mapping["attempts"]] == [3, len(scene.names)]
    assert mapping["chosen"] == 1 and mapping["left_out"] == []
    assert calls[1]["mapper"]["init_min_tri_angle"] == 8.0


def test_summary_names_images_left_out_and_why():
    from relf_hloc.sfm import format_mapping
    mapping = {"attempts": [{"attempt": "COLMAP defaults", "registered": 2, "models": 3},
                            {"attempt": "relaxed thresholds", "registered": 3, "models": 1}],
               "chosen": 1, "num_models": 1, "left_out": ["d.jpg"],
               "left_out_causes": {"d.jpg": "no verified pair with >= 15 inliers: too few good matches"}}
    assert format_mapping(mapping) == (
        "\nmapping: 2 attempt(s), kept #2 (relaxed thresholds, 1 model(s))"
        "\nWARNING: 1 image(s) left out of the model:"
        "\n  d.jpg: no verified pair with >= 15 inliers: too few good matches")
    assert format_mapping({**mapping, "attempts": mapping["attempts"][:1], "chosen": 0, "left_out": []}) == ""


def test_cameras_of_another_size_than_the_features_are_refused(scene, db_model, tmp_path):
    queries = tmp_path / "queries.txt"
    f, cx, cy = scene.K[0, 0], scene.K[0, 2], scene.K[1, 2]
    queries.write_text(f"{scene.names[4]} SIMPLE_PINHOLE 1536 1024 {6 * f} {6 * cx} {6 * cy}\n")
    with pytest.raises(ValueError, match=rf"query camera '{scene.names[4]}' is 1536x1024, but its features "
                                         rf"in .* were extracted from a 320x240 image"):
        localize.main(db_model, queries, scene.features, scene.matches, tmp_path / "poses.txt")
    assert not (tmp_path / "poses.txt").exists()
    gt = ground_truth_model(scene)
    for camera_id in list(gt.cameras):
        camera = gt.cameras[camera_id]
        camera.width, camera.height = 640, 480
    with pytest.raises(ValueError, match="reference model image '.*' is 640x480, but"):
        triangulation.main(tmp_path / "tri", gt, scene.image_dir, scene.pairs, scene.features, scene.matches)
    assert not (tmp_path / "tri").exists()


def test_sfm_options_are_one_conf_merged_strictly(tmp_path):
    """sfm.main takes its options as one dict merged into sfm.default_conf: a misspelt key is an
    error naming it, before any work."""
    from relf_hloc import sfm
    from relf_hloc.confs import ConfigError
    with pytest.raises(ConfigError, match=r"sfm: unknown option 'mapper_attempt' \(known: .*'mapper_attempts'"):
        sfm.main("sift", tmp_path / "images", tmp_path / "out", {"mapper_attempt": 3})
    assert not (tmp_path / "out").exists()
    assert sfm.default_conf["mapper_attempts"] == 4 and sfm.default_conf["pairs"] == "exhaustive"


def test_timing_counts_each_stage_once_and_starts_anew(monkeypatch):
    from relf_hloc import timing
    clock = iter([0.0, 1.0, 10.0, 10.25, 20.0, 20.5])  # three blocks of 1, 0.25 and 0.5 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timing.take()
    for name in ("network", "network", "mapping"):
        with timing.stage(name):
            pass
    assert timing.take() == {"network": 1.25, "mapping": 0.5}
    assert timing.take() == {}
