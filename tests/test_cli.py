import signal
import subprocess
import sys
import time

import cv2
import h5py
import numpy as np
import pytest
import skimage.data

from relf_hloc import io
from relf_hloc.cli import main

FAST = ["--conf", "relf-single", "--random-weights", "--max-keypoints", "200"]


def write_images(folder, n=3, size=(160, 120)):
    folder.mkdir(parents=True, exist_ok=True)
    sources = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(),
               skimage.data.rocket()]
    for i in range(n):
        img = cv2.resize(sources[i % len(sources)], size)
        cv2.imwrite(str(folder / f"im{i}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return sorted(f"im{i}.jpg" for i in range(n))


def test_extract_pairs_match_end_to_end(tmp_path, capsys):
    names = write_images(tmp_path / "images" / "sub")
    feats, pairs, matches = tmp_path / "f.h5", tmp_path / "p.txt", tmp_path / "m.h5"
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(feats)] + FAST) == 0
    assert "extract: 3 image(s) done" in capsys.readouterr().out
    assert io.list_names(feats) == [f"sub/{n}" for n in names]
    f = io.read_features(feats, "sub/im0.jpg")
    assert f["descriptors"].shape[0] == 1024 and f["keypoints"].shape[0] <= 200
    assert np.allclose(np.linalg.norm(f["descriptors"], axis=0), 1, atol=1e-2)
    assert f["image_size"].tolist() == [160, 120]
    # rerun: everything is skipped
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(feats)] + FAST) == 0
    assert "0 image(s) done, 3 already" in capsys.readouterr().out
    assert main(["pairs", "--images", str(tmp_path / "images"), "--output", str(pairs),
                 "--mode", "sequential", "--window", "1"]) == 0
    assert io.read_pairs(pairs) == [("sub/im0.jpg", "sub/im1.jpg"), ("sub/im1.jpg", "sub/im2.jpg")]
    assert main(["match", "--pairs", str(pairs), "--features", str(feats), "--output", str(matches)]) == 0
    m, s = io.read_matches(matches, "sub/im1.jpg", "sub/im0.jpg")
    assert len(m) > 0 and (s > 0).all()


def test_multi_candidate_and_keypoints_from(tmp_path):
    write_images(tmp_path / "images", 1)
    kp_file = tmp_path / "kp.h5"
    kpts = np.array([[10.0, 20.0], [50.5, 60.0], [100.0, 30.0]], np.float32)
    io.write_features(kp_file, "im0.jpg", {"keypoints": kpts, "descriptors": np.zeros((4, 3)),
                                           "scores": np.ones(3), "image_size": [160, 120]})
    out = tmp_path / "f.h5"
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(out),
                 "--keypoints-from", str(kp_file), "--conf", "relf-multi", "--random-weights"]) == 0
    f = io.read_features(out, "im0.jpg")
    idx = f["keypoint_index"]
    assert len(idx) >= 3 and sorted(set(idx.tolist())) == [0, 1, 2]
    assert np.array_equal(f["keypoints"], kpts[idx])


def bad_images(folder):
    folder.mkdir()
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((20, 40, 3), np.uint8))
    return folder


@pytest.mark.parametrize("name,message", [
    ("zero.jpg", "zero.jpg: image file is empty"),
    ("corrupt.jpg", "corrupt.jpg: truncated JPEG"),
    ("tiny.png", "tiny.png: image is 40x20 px, smaller than the 32 px minimum"),
])
def test_bad_images_fail_clearly_and_keep_finished_work(tmp_path, capsys, name, message):
    folder = bad_images(tmp_path / "bad")
    write_images(folder, 1)  # im0.jpg sorts after corrupt.jpg, before tiny.png / zero.jpg
    out = tmp_path / "f.h5"
    io.write_features(out, "done.jpg", {"keypoints": np.zeros((1, 2)), "descriptors": np.zeros((4, 1)),
                                        "scores": np.ones(1), "image_size": [10, 10]})
    from relf_hloc.confs import extractor_conf
    from relf_hloc.images import ImageError
    from relf_hloc.steps.extract import main as extract
    with pytest.raises(ImageError, match=message):
        extract(extractor_conf("relf-single", random_weights=True), folder, out, names=["im0.jpg", name])
    assert io.list_names(out) == ["done.jpg"]  # nothing lost; every image is checked before any work
    assert main(["extract", "--images", str(folder), "--output", str(out)] + FAST) == 1
    assert "relf-hloc extract: error:" in capsys.readouterr().err


def test_image_formats_gray_rgba_16bit_and_no_keypoints(tmp_path):
    folder = tmp_path / "im"
    folder.mkdir()
    base = cv2.resize(skimage.data.astronaut(), (96, 80))
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(base, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(base, cv2.COLOR_RGB2BGRA))
    cv2.imwrite(str(folder / "deep.png"), base.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "flat.png"), np.full((64, 64, 3), 128, np.uint8))
    out = tmp_path / "f.h5"
    assert main(["extract", "--images", str(folder), "--output", str(out)] + FAST) == 0
    sizes = {n: io.read_features(out, n)["keypoints"].shape[0] for n in io.list_names(out)}
    assert sizes["flat.png"] == 0  # documented: an image without keypoints gets empty arrays
    assert io.read_features(out, "flat.png")["descriptors"].shape == (1024, 0)
    assert all(sizes[n] > 0 for n in ["gray.png", "rgba.png", "deep.png"])


def test_usage_errors(tmp_path, capsys):
    assert main(["extract", "--images", str(tmp_path / "missing"), "--output", str(tmp_path / "f.h5"),
                 "--random-weights"]) == 1
    assert "missing: image folder not found" in capsys.readouterr().err
    write_images(tmp_path / "images", 2)
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(tmp_path / "f.h5"),
                 "--conf", "nope"]) == 1
    assert "unknown conf 'nope'" in capsys.readouterr().err
    # a features file of another descriptor size given to the matcher
    feats = tmp_path / "mixed.h5"
    for name, d in [("im0.jpg", 8), ("im1.jpg", 16)]:
        io.write_features(feats, name, {"keypoints": np.zeros((3, 2)), "descriptors": np.ones((d, 3)),
                                        "scores": np.ones(3), "image_size": [10, 10]})
    io.write_pairs(tmp_path / "p.txt", [("im0.jpg", "im1.jpg")])
    assert main(["match", "--pairs", str(tmp_path / "p.txt"), "--features", str(feats),
                 "--output", str(tmp_path / "m.h5")]) == 1
    assert "descriptor sizes differ between 'im0.jpg' (8) and 'im1.jpg' (16)" in capsys.readouterr().err
    io.write_pairs(tmp_path / "q.txt", [("im0.jpg", "other.jpg")])
    assert main(["match", "--pairs", str(tmp_path / "q.txt"), "--features", str(feats),
                 "--output", str(tmp_path / "m.h5")]) == 1
    err = capsys.readouterr().err
    assert "q.txt: 1 image(s) not in" in err and "'other.jpg'" in err
    (tmp_path / "junk.h5").write_bytes(b"junk")
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(tmp_path / "junk.h5"),
                 "--random-weights"]) == 1
    assert "junk.h5: exists and holds a text file, not an hloc features file" in capsys.readouterr().err
    assert (tmp_path / "junk.h5").read_bytes() == b"junk"  # never clobbered, --overwrite or not (rule 1)


def test_killed_extraction_leaves_a_readable_file_and_resumes(tmp_path):
    write_images(tmp_path / "images", 8, size=(320, 240))
    out = tmp_path / "f.h5"
    cmd = [sys.executable, "-m", "relf_hloc.cli", "extract", "--images", str(tmp_path / "images"),
           "--output", str(out), "--conf", "relf-fast", "--random-weights", "--max-keypoints", "300"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, done = time.time() + 240, []
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:  # peek past the writer's lock (the commands refuse a file being written)
            with h5py.File(out, "r", locking=False) as f:
                done = [n for n in f if f[n].attrs.get(io.COMPLETE)]
        except (FileNotFoundError, OSError):
            continue
        if len(done) >= 2:
            break
    if proc.poll() is not None:
        pytest.skip("extraction finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    names = io.list_names(out)  # still a valid file
    assert 2 <= len(names) < 8
    for n in names:
        assert io.read_features(out, n)["descriptors"].shape[0] == 1024
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(io.list_names(out)) == 8


def test_threads_option_sets_the_pools_of_the_process(tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(cv2, "setNumThreads", lambda n: calls.append(("cv2", n)))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(("torch", n)))
    calls = []
    write_images(tmp_path / "images", 2)
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(tmp_path / "f.h5"),
                 "--conf", "sift", "--max-keypoints", "50", "--threads", "1"]) == 0
    assert calls == [("torch", 1), ("cv2", 1)]
    calls.clear()
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(tmp_path / "g.h5"),
                 "--conf", "sift", "--max-keypoints", "50"]) == 0
    assert calls == []  # without --threads every core stays in use
    assert main(["extract", "--images", str(tmp_path / "images"), "--output", str(tmp_path / "h.h5"),
                 "--threads", "0"]) == 2
