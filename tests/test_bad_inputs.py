"""Bad inputs and stale files, as a new user meets them: each case runs the command line and
must end in a clear error naming the file and the problem (exit 1), before any slow work,
with nothing already written lost or mixed. Silent or wrong results fail.

    python -m pytest -q tests/test_bad_inputs.py     # the cases as tests
    python tests/test_bad_inputs.py                  # the sweep: one line per case, then a summary
"""

from __future__ import annotations

import contextlib
import io as stdio
import sys
import tempfile
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import skimage.data

from relf_hloc import io
from relf_hloc.cli import main

SIFT = ["--conf", "sift", "--max-keypoints", "300"]


def run(*argv):
    """(exit code, stdout, stderr, seconds) of one command line."""
    out, err = stdio.StringIO(), stdio.StringIO()
    start = time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue(), time.time() - start


def images(folder: Path, n: int = 3, size=(200, 150)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate([skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()][:n]):
        cv2.imwrite(str(folder / f"im{i}.jpg"), cv2.cvtColor(cv2.resize(img, size), cv2.COLOR_RGB2BGR))
    return folder


def extracted(tmp: Path, *extra):
    folder = images(tmp / "im")
    feats = tmp / "f.h5"
    assert run("extract", "--images", folder, "--output", feats, *SIFT, *extra)[0] == 0
    return folder, feats


def matched(tmp: Path):
    folder, feats = extracted(tmp)
    pairs, matches = tmp / "pairs.txt", tmp / "m.h5"
    assert run("pairs", "--images", folder, "--output", pairs)[0] == 0
    assert run("match", "--pairs", pairs, "--features", feats, "--output", matches, "--conf", "nn-ratio")[0] == 0
    return folder, feats, pairs, matches


def expect_error(result, *phrases):
    code, out, err, _ = result
    assert code == 1, f"expected a clear error, got exit {code}\n{out}{err}"
    for phrase in phrases:
        assert phrase in err, f"'{phrase}' not in the error:\n{err}"


# ---------------------------------------------------------------- 1. resume knows its settings
def case_resume_other_conf(tmp):
    folder, feats = extracted(tmp)
    before = io.read_features(feats, "im0.jpg")["keypoints"]
    expect_error(run("extract", "--images", folder, "--output", feats, "--conf", "rootsift"),
                 str(feats), "other settings", "name: 'sift' -> 'rootsift'", "--overwrite")
    np.testing.assert_array_equal(io.read_features(feats, "im0.jpg")["keypoints"], before)  # untouched


def case_resume_other_max_keypoints(tmp):
    folder, feats = extracted(tmp)
    (folder / "new.jpg").write_bytes((folder / "im0.jpg").read_bytes())  # a new image would be mixed in
    expect_error(run("extract", "--images", folder, "--output", feats, "--conf", "sift", "--max-keypoints", "100"),
                 "max_keypoints: 300 -> 100")
    assert io.list_names(feats) == ["im0.jpg", "im1.jpg", "im2.jpg"]


def case_resume_other_weights(tmp):
    folder = images(tmp / "im", 1, (96, 72))
    feats = tmp / "f.h5"
    relf = ["--conf", "relf-single", "--max-keypoints", "50"]
    assert run("extract", "--images", folder, "--output", feats, *relf, "--random-weights")[0] == 0
    expect_error(run("extract", "--images", folder, "--output", feats, *relf), "weights: 'untrained' -> 'w")


def test_resume_same_settings(tmp_path):
    """Not an error: the same settings resume (the file says what it holds)."""
    folder, feats = extracted(tmp_path)
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "0 image(s) done, 3 already in" in out
    assert io.read_provenance(feats)["extractor"] == {"name": "sift", "max_keypoints": 300, "contrast_threshold": 0.02}


# ---------------------------------------------------------------- 2. stale matches
def case_stale_matches_after_reextraction(tmp):
    folder, feats, pairs, matches = matched(tmp)
    cv2.imwrite(str(folder / "im1.jpg"), cv2.resize(skimage.data.rocket(), (200, 150)))  # the image changed
    assert run("extract", "--images", folder, "--output", feats, *SIFT, "--overwrite")[0] == 0
    code, out, _, _ = run("match", "--pairs", pairs, "--features", feats, "--output", matches, "--conf", "nn-ratio")
    assert code == 0 and "2 pair(s) matched (2 stale" in out and "1 already in" in out
    n1 = len(io.read_features(feats, "im1.jpg")["keypoints"])
    with h5py.File(matches) as f:
        assert f["im0.jpg/im1.jpg/matches0"][()].max() < n1  # indices into the new keypoints
        assert len(f["im1.jpg/im2.jpg/matches0"][()]) == n1


# ---------------------------------------------------------------- 3. truncated images
def case_truncated_jpeg(tmp):
    folder = images(tmp / "im")
    data = (folder / "im1.jpg").read_bytes()
    (folder / "im1.jpg").write_bytes(data[: len(data) // 3])
    feats = tmp / "f.h5"
    result = run("extract", "--images", folder, "--output", feats, *SIFT)
    expect_error(result, "im1.jpg: truncated JPEG")
    assert not feats.exists() or io.list_names(feats) == []  # checked before any extraction
    code, out, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT, "--skip-bad-images")
    assert code == 0 and "1 skipped (im1.jpg)" in out and "truncated JPEG" in err
    assert io.list_names(feats) == ["im0.jpg", "im2.jpg"]


# ---------------------------------------------------------------- 4. foreign HDF5 files
def foreign(path: Path) -> bytes:
    with h5py.File(path, "w") as f:
        f["calibration"] = np.eye(3)
    return path.read_bytes()


def case_foreign_h5_as_features_output(tmp):
    folder = images(tmp / "im")
    out = tmp / "mine.h5"
    data = foreign(out)
    expect_error(run("extract", "--images", folder, "--output", out, *SIFT), str(out), "refusing to write into it")
    assert out.read_bytes() == data


def case_foreign_h5_as_matches_output(tmp):
    folder, feats, pairs, _ = matched(tmp)
    out = tmp / "mine.h5"
    data = foreign(out)
    expect_error(run("match", "--pairs", pairs, "--features", feats, "--output", out), "refusing to write into it")
    assert out.read_bytes() == data


# ---------------------------------------------------------------- 5. options and pairs
def case_empty_pairs_file(tmp):
    _, feats = extracted(tmp)
    (tmp / "p.txt").write_text("# nothing\n")
    expect_error(run("match", "--pairs", tmp / "p.txt", "--features", feats, "--output", tmp / "m.h5"),
                 "p.txt: no pairs")


def case_self_pair(tmp):
    _, feats = extracted(tmp)
    (tmp / "p.txt").write_text("im0.jpg im0.jpg\n")
    expect_error(run("match", "--pairs", tmp / "p.txt", "--features", feats, "--output", tmp / "m.h5"),
                 "p.txt:1: pairs an image with itself ('im0.jpg')")


def case_max_keypoints_zero(tmp, n="0"):
    folder = images(tmp / "im", 1)
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", "--conf", "sift", "--max-keypoints", n),
                 "max_keypoints must be a positive integer")
    assert not (tmp / "f.h5").exists()


def case_max_keypoints_negative(tmp):
    case_max_keypoints_zero(tmp, "-5")


def case_ratio_out_of_range(tmp):
    _, feats, pairs, _ = matched(tmp)
    expect_error(run("match", "--pairs", pairs, "--features", feats, "--output", tmp / "m2.h5", "--ratio", "2"),
                 "ratio_threshold must be in (0, 1], got 2.0")


# ---------------------------------------------------------------- 7. names with spaces
def case_names_with_spaces(tmp):
    folder = images(tmp / "im", 2)
    (folder / "im1.jpg").rename(folder / "my photo.jpg")
    expect_error(run("pairs", "--images", folder, "--output", tmp / "p.txt"), "'my photo.jpg'", "spaces")
    result = run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT)
    expect_error(result, "'my photo.jpg'", "spaces")
    assert result[3] < 5 and not (tmp / "f.h5").exists()  # before any extraction


# ---------------------------------------------------------------- 8. outputs and inputs
def case_output_in_unwritable_place(tmp):
    result = run("extract", "--images", images(tmp / "im", 1), "--output", "/proc/relf.h5",
                 "--conf", "relf-single", "--random-weights")
    expect_error(result, "/proc/relf.h5: cannot write here")
    assert "loading" not in result[1]  # said before the model loads


def case_output_is_a_folder(tmp):
    (tmp / "out").mkdir()
    expect_error(run("extract", "--images", images(tmp / "im", 1), "--output", tmp / "out", *SIFT),
                 "out: is a folder")


def case_features_input_not_hdf5(tmp):
    _, _, pairs, _ = matched(tmp)
    (tmp / "notes.h5").write_text("not hdf5")
    result = run("match", "--pairs", pairs, "--features", tmp / "notes.h5", "--output", tmp / "m2.h5")
    expect_error(result, "notes.h5: not a readable HDF5 file")
    assert "--overwrite" not in result[2]  # an input: nothing to overwrite


def case_bad_camera_params(tmp):
    result = run("sfm", "--images", images(tmp / "im"), "--outputs", tmp / "sfm", "--conf", "sift",
                 "--camera-model", "PINHOLE", "--camera-params", "500,320")
    expect_error(result, "PINHOLE takes 4 values (fx, fy, cx, cy), got 2")
    assert result[3] < 5 and not (tmp / "sfm").exists()


# ---------------------------------------------------------------- 9. device
def case_cuda_without_cuda(tmp):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    expect_error(run("extract", "--images", images(tmp / "im", 1), "--output", tmp / "f.h5", *SIFT,
                     "--device", "cuda"), "--device cuda: no CUDA device")


# ---------------------------------------------------------------- 10. names, foreign features, cameras and formats
def case_name_starting_with_hash(tmp):
    folder = images(tmp / "im")
    (folder / "im1.jpg").rename(folder / "#0003.jpg")
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT),
                 "'#0003.jpg'", "comments in pairs")


def case_names_sharing_a_matches_key(tmp):
    folder = images(tmp / "im")
    (folder / "x").mkdir()
    (folder / "im1.jpg").rename(folder / "x" / "0003.jpg")
    (folder / "im2.jpg").rename(folder / "x-0003.jpg")
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT),
                 "'x-0003.jpg' and 'x/0003.jpg'", "share one key")


def foreign_features(tmp, edit):
    """A features file as another tool would write it (no provenance), changed by ``edit``."""
    folder, feats = extracted(tmp)
    with h5py.File(feats, "a") as f:
        del f.attrs[io.PROVENANCE]
        edit(f["im1.jpg"])
    pairs = tmp / "pairs.txt"
    assert run("pairs", "--images", folder, "--output", pairs)[0] == 0
    return run("match", "--pairs", pairs, "--features", feats, "--output", tmp / "m.h5", "--conf", "nn-ratio")


def replace(group, key, value):
    del group[key]
    group[key] = value


def case_foreign_features_fewer_descriptors_than_keypoints(tmp):
    expect_error(foreign_features(tmp, lambda g: replace(g, "descriptors", g["descriptors"][:, :10])),
                 "image 'im1.jpg'", "keypoints but descriptors of shape")


def case_foreign_features_descriptors_stored_n_by_d(tmp):
    expect_error(foreign_features(tmp, lambda g: replace(g, "descriptors", g["descriptors"][()].T)),
                 "image 'im1.jpg'", "stored [N, D]; hloc stores [D, N]")


def case_foreign_features_nan_keypoints(tmp):
    def nan(g):
        k = g["keypoints"][()]
        k[3] = np.nan
        replace(g, "keypoints", k)
    expect_error(foreign_features(tmp, nan), "image 'im1.jpg'", "1 keypoint(s) are NaN or infinite")


def case_mapper_option_out_of_range(tmp):
    folder = images(tmp / "im")
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT,
                     "--mapper-option", "min_num_matches=-5"),
                 "--mapper-option: COLMAP rejects", "min_num_matches > 0")
    assert not (tmp / "out").exists()  # refused before any work


def case_shard_zero_of_zero(tmp):
    folder = images(tmp / "im")
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT, "--shard", "0/0"),
                 "--shard 0/0: N (the number of shards) must be at least 1")


def case_localize_options_out_of_range(tmp):
    for flag, value, phrase in (("--min-inliers", "-3", "a pose needs at least 4 inliers"),
                                ("--ransac-thresh", "-5", "must be a positive number of pixels")):
        expect_error(run("localize", "--model", tmp, "--queries", tmp / "q.txt", "--features", tmp / "f.h5",
                         "--matches", tmp / "m.h5", "--output", tmp / "poses.txt", flag, value),
                     f"{flag} {value}", phrase)


def case_camera_params_out_of_range(tmp):
    folder = images(tmp / "im")
    for params, phrase in (("-500,100,75,0", "the focal length f must be positive, got -500.0"),
                           ("500,nan,75,0", "cx is nan; every value must be a finite number"),
                           ("500,-100,75,0", "the principal point cx must lie in the image")):
        expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT, "--camera-model",
                         "SIMPLE_RADIAL", f"--camera-params={params}"), phrase)
    assert not (tmp / "out").exists()


def case_single_camera_for_images_of_two_sizes(tmp):
    folder = images(tmp / "im")
    cv2.imwrite(str(folder / "im2.jpg"), cv2.resize(cv2.imread(str(folder / "im2.jpg")), (150, 200)))
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT, "--camera-mode", "SINGLE"),
                 "--camera-mode SINGLE needs images of one size", "'im2.jpg' 150x200")
    assert not (tmp / "out").exists()


def case_images_colmap_cannot_read(tmp):
    folder = images(tmp / "im")
    cv2.imwrite(str(folder / "im2.webp"), cv2.imread(str(folder / "im2.jpg")))
    (folder / "im2.jpg").unlink()
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT),
                 "im2.webp: COLMAP cannot read this image format (1 '.webp' image(s))")
    assert not (tmp / "out").exists()


# ---------------------------------------------------------------- 11. sizes, memory and failed starts
def case_evaluate_features_of_another_size(tmp):
    root = tmp / "hp" / "v_a"
    image = cv2.resize(skimage.data.astronaut(), (160, 120))
    root.mkdir(parents=True)
    for i in (1, 2):
        cv2.imwrite(str(root / f"{i}.ppm"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (root / "H_1_2").write_text("1 0 0\n0 1 0\n0 0 1\n")
    big = tmp / "big" / "v_a"
    big.mkdir(parents=True)
    for i in (1, 2):  # the same names, extracted at twice the size
        cv2.imwrite(str(big / f"{i}.ppm"), cv2.cvtColor(cv2.resize(image, (320, 240)), cv2.COLOR_RGB2BGR))
    feats = tmp / "f.h5"
    assert run("extract", "--images", tmp / "big", "--output", feats, *SIFT)[0] == 0
    expect_error(run("evaluate", "homography", "--dataset", tmp / "hp", "--layout", "hpatches",
                     "--features", feats, "--outputs", tmp / "eval"),
                 "benchmark image 'v_a/1.ppm' is 160x120, but its features in", "320x240 image")
    assert not (tmp / "eval" / "results.json").exists()


def case_image_too_large_for_memory(tmp):
    folder = images(tmp / "im", 1)
    cv2.imwrite(str(folder / "huge.png"), np.zeros((9000, 12000), np.uint8))  # 108 MP
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT),
                 "huge.png: 12000x9000 (108 MP) is more than the 64 MP", "--resize-max")
    assert not (tmp / "f.h5").exists()
    assert run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT, "--resize-max", "4000")[0] == 0
    assert io.read_features(tmp / "f.h5", "huge.png")["image_size"].tolist() == [12000, 9000]


def case_failed_start_leaves_no_file_to_refuse(tmp):
    folder = images(tmp / "im", 1, (96, 72))
    bad = tmp / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    feats = tmp / "f.h5"
    relf = ["--conf", "relf-single", "--max-keypoints", "50"]
    expect_error(run("extract", "--images", folder, "--output", feats, *relf, "--weights", bad),
                 "broken.pth: not a readable checkpoint")
    assert not feats.exists()  # the corrected rerun starts afresh instead of "other settings"
    assert run("extract", "--images", folder, "--output", feats, *relf, "--random-weights")[0] == 0


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name, tmp_path):
    CASES[name](tmp_path)


def case_classes() -> dict:
    """{case: its class}, the ``# --- N. class`` heading above each case in this file."""
    lines = Path(__file__).read_text().splitlines()
    headings = [(i, line.lstrip("# -").strip()) for i, line in enumerate(lines, 1)
                if line.startswith("# ----") and line.lstrip("# -")[:1].isdigit()]
    return {name: max((h for h in headings if h[0] < fn.__code__.co_firstlineno), default=(0, "other"))[1]
            for name, fn in CASES.items()}


def test_every_case_has_a_class():
    classes = case_classes()
    assert set(classes) == set(CASES) and "other" not in classes.values()
    assert classes["truncated_jpeg"] == "3. truncated images"


if __name__ == "__main__":
    classes, outcome = case_classes(), {}
    for name, fn in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            try:
                fn(Path(d))
                outcome[name] = True
                print(f"{name}: clear")
            except Exception as e:  # noqa: BLE001  (the sweep reports every outcome, failures included)
                outcome[name] = False
                print(f"{name}: NOT CLEAR ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    print("\nper class (clear / cases):")
    for cls in sorted(set(classes.values()), key=lambda c: int(c.split(".")[0])):
        cases = [n for n in CASES if classes[n] == cls]
        print(f"  {cls}: {sum(outcome[n] for n in cases)} / {len(cases)}")
    clear = sum(outcome.values())
    print(f"{len(CASES)} cases: {clear} clear errors or correct results, {len(CASES) - clear} not")
    sys.exit(0 if clear == len(CASES) else 1)


# ---------------------------------------------------------------- faults and changed content: correct results
def test_disk_full_mid_image_leaves_a_valid_file_that_a_rerun_completes(tmp_path, monkeypatch):
    folder = images(tmp_path / "im")
    feats = tmp_path / "f.h5"
    real = h5py.Group.create_dataset

    def full_at_second_image(self, name, *args, **kwargs):
        if name == "scores" and self.name.endswith("im1.jpg"):
            raise OSError(28, "No space left on device")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", full_at_second_image)
    code, _, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 1
    assert f"{feats}: could not write the features of 'im1.jpg'" in err and "No space left on device" in err
    monkeypatch.setattr(h5py.Group, "create_dataset", real)
    assert set(io.complete_names(feats)) == {"im0.jpg"}  # the file is valid; the torn record is not counted
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "2 image(s) done, 1 already in" in out
    clean = tmp_path / "clean.h5"
    assert run("extract", "--images", folder, "--output", clean, *SIFT)[0] == 0
    for name in ("im0.jpg", "im1.jpg", "im2.jpg"):
        a, b = io.read_features(feats, name), io.read_features(clean, name)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_changed_image_with_the_same_name_is_extracted_again(tmp_path):
    folder, feats = extracted(tmp_path)
    before = io.read_features(feats, "im1.jpg")
    camera = cv2.resize(skimage.data.camera(), (120, 90))  # another picture, another size
    cv2.imwrite(str(folder / "im1.jpg"), camera)
    code, out, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "1 image(s) changed since their features were written (e.g. 'im1.jpg')" in err
    assert "1 image(s) done, 2 already in" in out
    after = io.read_features(feats, "im1.jpg")
    assert after["image_size"].tolist() == [120, 90] and before["image_size"].tolist() == [200, 150]
    assert (after["keypoints"] < [120, 90]).all()


def test_outputs_inside_the_images_folder_are_not_taken_for_photos(tmp_path):
    folder = images(tmp_path / "im")
    out = folder / "out"
    out.mkdir()
    cv2.imwrite(str(out / "m.png"), np.zeros((150, 200, 3), np.uint8))  # a plot of an earlier run
    run("sfm", "--images", folder, "--outputs", out, *SIFT)
    with h5py.File(next(out.glob("feats-*.h5"))) as f:
        assert sorted(f) == ["im0.jpg", "im1.jpg", "im2.jpg"]


def test_one_writer_per_output_and_no_reading_a_file_being_written(tmp_path):
    import json
    import socket
    import subprocess
    folder, feats = extracted(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = feats.with_name(feats.name + ".lock")
        lock.write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                    "command": "relf-hloc extract ...", "started": "2026-01-01 00:00:00"}))
        code, _, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT, "--overwrite")
        assert code == 1 and f"{feats}: being written by process {other.pid} (relf-hloc extract ...," in err
        assert "--overwrite" not in err and feats.is_file()  # the other process's file is kept
        pairs = tmp_path / "pairs.txt"
        assert run("pairs", "--images", folder, "--output", pairs)[0] == 0
        code, _, err, _ = run("match", "--pairs", pairs, "--features", feats, "--output", tmp_path / "m.h5")
        assert code == 1 and "being written by process" in err
    finally:
        other.kill()
        other.wait()
    # a lock left by a process that died is no obstacle
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "3 already in" in out


def test_integer_descriptors_of_other_tools_are_normalised_before_matching(tmp_path):
    folder, feats, pairs, matches = matched(tmp_path)
    with h5py.File(feats, "a") as f:  # as COLMAP stores SIFT: uint8, 512 x the unit vector
        del f.attrs[io.PROVENANCE]
        for name in ("im0.jpg", "im1.jpg", "im2.jpg"):
            desc = f[name]["descriptors"][()].astype(np.float32)
            del f[name]["descriptors"]
            f[name]["descriptors"] = np.clip(np.round(512 * desc), 0, 255).astype(np.uint8)
    out = tmp_path / "m8.h5"
    assert run("match", "--pairs", pairs, "--features", feats, "--output", out, "--conf", "nn-ratio")[0] == 0
    m_float, s_float = io.read_matches(matches, "im0.jpg", "im1.jpg")
    m_uint8, s_uint8 = io.read_matches(out, "im0.jpg", "im1.jpg")
    assert np.isfinite(s_uint8).all() and s_uint8.max() <= 1.0 and s_uint8.min() > 0.5
    common = {tuple(m) for m in m_float} & {tuple(m) for m in m_uint8}
    assert len(common) >= 0.9 * len(m_float)  # the same matches, up to 8-bit rounding


def test_resize_max_of_a_conf_is_honoured_and_keypoints_stay_in_original_pixels(tmp_path):
    import yaml
    from relf_hloc.confs import get_conf
    from relf_hloc.features.opencv import OpenCVFeatures
    from relf_hloc.images import read_image
    from relf_hloc.pipeline.extract import preprocess
    folder = images(tmp_path / "im", size=(400, 300))
    conf = get_conf("sift")
    conf["model"]["max_keypoints"] = 300
    conf["preprocessing"]["resize_max"] = 200
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    feats = tmp_path / "f.h5"
    assert run("extract", "--images", folder, "--output", feats, "--conf", tmp_path / "c.yaml")[0] == 0
    got = io.read_features(feats, "im0.jpg")
    assert got["image_size"].tolist() == [400, 300]
    small, scale = preprocess(read_image(folder / "im0.jpg"), conf["preprocessing"])
    assert small.shape[:2] == (150, 200) and scale == (2.0, 2.0)
    expected = (OpenCVFeatures(conf["model"]).extract(small)["keypoints"] + 0.5) * 2 - 0.5
    np.testing.assert_allclose(got["keypoints"], expected, atol=1e-4)
    assert io.read_provenance(feats)["preprocessing"] == {"resize_max": 200}
    conf["preprocessing"]["resize"] = 5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(conf))
    expect_error(run("extract", "--images", folder, "--output", tmp_path / "g.h5", "--conf", tmp_path / "bad.yaml"),
                 "unknown preprocessing option(s) ['resize']")
