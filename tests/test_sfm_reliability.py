"""Bad inputs to the SfM / localization steps: a clear message naming the file,
a non-zero exit from the command line, and never a half-written model."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from relf_hloc import cli
from relf_hloc.steps import localize, reconstruction, triangulation
from relf_hloc.io import read_pairs, write_matches, write_pairs

from sfm_synthetic import ground_truth_model, make_scene


@pytest.fixture
def scene(tmp_path):
    return make_scene(tmp_path / "scene", num_images=4, num_points=300)


def run_cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_no_model(parent: Path, name: str = "sfm"):
    """No output folder and no temporary folder left beside it."""
    assert not (parent / name).exists()
    assert not [p.name for p in parent.iterdir() if ".tmp" in p.name]


def reconstruct(scene, sfm_dir, **kwargs):
    return reconstruction.main(sfm_dir, scene.image_dir, kwargs.pop("pairs", scene.pairs),
                               scene.features, kwargs.pop("matches", scene.matches), **kwargs)


# ---------------------------------------------------------------- inputs
def test_missing_image(scene, tmp_path):
    (scene.image_dir / scene.names[2]).unlink()
    with pytest.raises(FileNotFoundError, match=rf"image\(s\) not found: \['{scene.names[2]}'\]"):
        reconstruct(scene, tmp_path / "sfm")
    assert_no_model(tmp_path)


def test_missing_image_folder_from_the_command_line(tmp_path, capsys):
    code, err = run_cli(capsys, "sfm", "--images", tmp_path / "nope", "--outputs", tmp_path / "o",
                        "--conf", "sift")
    assert code == 1 and "relf-hloc sfm: error:" in err and "nope: image folder not found" in err


def test_image_absent_from_features(scene, tmp_path):
    extra = "extra.png"
    shutil.copy(scene.image_dir / scene.names[0], scene.image_dir / extra)
    write_pairs(scene.pairs, read_pairs(scene.pairs) + [(scene.names[0], extra)])
    with pytest.raises(KeyError, match=rf"features.h5: no features for image\(s\) \['{extra}'\]"):
        reconstruct(scene, tmp_path / "sfm")
    assert_no_model(tmp_path)


def test_pairs_naming_unknown_images(scene, tmp_path):
    write_pairs(scene.pairs, read_pairs(scene.pairs) + [(scene.names[0], "ghost.png")])
    with pytest.raises(KeyError, match=r"pairs.txt: pairs name image\(s\) that are not in the "
                                       r"image set: \['ghost.png'\]"):
        reconstruct(scene, tmp_path / "sfm", image_list=scene.names)
    assert_no_model(tmp_path)


def test_pair_missing_from_matches(scene, tmp_path):
    other = tmp_path / "other.h5"
    a, b = scene.names[:2]
    write_matches(other, a, b, np.full(10, -1), np.zeros(10))
    with pytest.raises(KeyError, match=rf"other.h5: no matches for pair \({a}, {scene.names[2]}\)"):
        reconstruct(scene, tmp_path / "sfm", matches=other)
    assert_no_model(tmp_path)


@pytest.mark.parametrize("kind", ["empty", "file", "garbage", "empty-files"])
def test_folder_that_is_not_a_colmap_model(scene, tmp_path, capsys, kind):
    model = tmp_path / "model"
    if kind == "file":
        model.write_text("hello")
    else:
        model.mkdir()
    if kind == "garbage":
        for f in ("cameras.bin", "images.bin", "points3D.bin"):
            (model / f).write_bytes(np.random.default_rng(0).bytes(300))
    if kind == "empty-files":
        for f in ("cameras.txt", "images.txt", "points3D.txt"):
            (model / f).write_text("")
    expected = {"empty": "not a COLMAP model", "file": "a COLMAP model is a folder",
                "garbage": "cannot read the COLMAP model", "empty-files": "model is empty"}[kind]
    queries = tmp_path / "q.txt"
    queries.write_text(f"{scene.names[0]} SIMPLE_PINHOLE 320 240 384 160 120\n")
    for args in (["localize", "--model", model, "--queries", queries, "--features", scene.features,
                  "--matches", scene.matches, "--output", tmp_path / "poses.txt"],
                 ["triangulate", "--reference", model, "--images", scene.image_dir, "--pairs",
                  scene.pairs, "--features", scene.features, "--matches", scene.matches,
                  "--output", tmp_path / "tri"],
                 ["visualize", "model", "--model", model, "--output", tmp_path / "m.html"]):
        code, err = run_cli(capsys, *args)
        assert code == 1 and f"{model}: " in err and expected in err, err
    assert not (tmp_path / "poses.txt").exists() and not (tmp_path / "m.html").exists()
    assert_no_model(tmp_path, "tri")


def test_empty_match_set(scene, tmp_path):
    empty = tmp_path / "empty.h5"
    for a, b in read_pairs(scene.pairs):
        write_matches(empty, a, b, np.full(len(scene.point_of_kpt[a]), -1),
                      np.zeros(len(scene.point_of_kpt[a])))
    with pytest.raises(RuntimeError, match=r"empty.h5: no matches in any of the 6 pairs"):
        reconstruct(scene, tmp_path / "sfm", matches=empty)
    assert_no_model(tmp_path)


# ---------------------------------------------------------------- outcomes
def test_reconstruction_that_registers_nothing_removes_the_old_model(tmp_path):
    """Cameras sharing one centre (pure rotation): a pair verifies (a homography; COLMAP's five
    degenerate pairs, with 0 inliers, are not counted) but nothing can be triangulated. A model
    from an earlier run must not survive."""
    scene = make_scene(tmp_path / "scene", num_images=4, num_points=300, baseline=0.0,
                       rolls=(0, 20))
    sfm_dir = tmp_path / "sfm"
    sfm_dir.mkdir()
    (sfm_dir / "database.db").write_text("from an earlier run")
    (sfm_dir / "cameras.bin").write_text("from an earlier run")
    with pytest.raises(RuntimeError, match=r"images: the reconstruction registered no image "
                                           r"\(1 verified pairs after 4 mapping attempt\(s\)\)"):
        reconstruct(scene, sfm_dir)
    assert_no_model(tmp_path)


def test_interrupted_reconstruction_leaves_nothing(scene, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(reconstruction, "run_mapping", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reconstruct(scene, tmp_path / "sfm")
    assert_no_model(tmp_path)


def test_output_folder_that_is_not_ours_is_not_replaced(scene, tmp_path):
    precious = tmp_path / "sfm"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(RuntimeError, match="does not look like a reconstruction"):
        reconstruct(scene, precious)
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_sfm_command_that_registers_nothing(tmp_path, capsys):
    """Unrelated images: no pair verifies; exit 1, a 'failed' report, no model."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):  # blurred noise: SIFT finds keypoints, but nothing matches geometrically
        noise = cv2.GaussianBlur(rng.integers(0, 255, (240, 320), dtype=np.uint8), (0, 0), 2)
        cv2.imwrite(str(images / f"noise{i}.png"), noise)
    outputs = tmp_path / "out"
    code, err = run_cli(capsys, "sfm", "--images", images, "--outputs", outputs, "--conf", "sift")
    assert code == 1 and "relf-hloc sfm: error:" in err
    assert "no image pair passed geometric verification" in err or "registered no image" in err
    report = json.loads((outputs / "report.json").read_text())
    assert report["status"] == "failed" and report["registered"] == 0 and report["total"] == 3
    assert report["error"] in err
    assert_no_model(outputs)


def test_triangulation_without_matches(scene, tmp_path, capsys):
    reference = tmp_path / "reference"
    reference.mkdir()
    ground_truth_model(scene).write(reference)
    empty = tmp_path / "empty.h5"
    for a, b in read_pairs(scene.pairs):
        write_matches(empty, a, b, np.full(len(scene.point_of_kpt[a]), -1),
                      np.zeros(len(scene.point_of_kpt[a])))
    code, err = run_cli(capsys, "triangulate", "--reference", reference, "--images",
                        scene.image_dir, "--pairs", scene.pairs, "--features", scene.features,
                        "--matches", empty, "--output", tmp_path / "tri")
    assert code == 1 and "empty.h5: triangulation produced no 3D point (0 raw matches)" in err
    assert_no_model(tmp_path, "tri")


def test_localize_pairs_naming_images_outside_the_model(scene, tmp_path):
    rec = ground_truth_model(scene)
    triangulation.main(tmp_path / "model", rec, scene.image_dir, scene.pairs, scene.features,
                       scene.matches)
    pairs = tmp_path / "pairs-loc.txt"
    write_pairs(pairs, [(scene.names[0], "ghost.png")])
    with pytest.raises(KeyError, match="'ghost.png' .* is not a registered image of the model"):
        localize.main(tmp_path / "model", [(scene.names[0], None)], scene.features,
                      scene.matches, tmp_path / "poses.txt", pairs=pairs)
    assert not (tmp_path / "poses.txt").exists()
