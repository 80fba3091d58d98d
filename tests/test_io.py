import h5py
import numpy as np
import pytest

from relf_hloc import io
from relf_hloc.matchers.nearest_neighbor import mutual_nn
from relf_hloc.steps.pairs import exhaustive, sequential


def features(n, d=8, seed=0):
    rng = np.random.default_rng(seed)
    desc = rng.normal(size=(d, n)).astype(np.float32)
    return {"keypoints": rng.uniform(0, 1000, (n, 2)), "descriptors": desc / np.linalg.norm(desc, axis=0),
            "scores": rng.random(n).astype(np.float32), "image_size": np.array([1000, 800]),
            "orientations": rng.uniform(0, 360, n).astype(np.float32)}


def test_features_round_trip_nested_names_and_dtypes(tmp_path):
    path = tmp_path / "f.h5"
    f0 = features(5)
    f0["keypoints"] = f0["keypoints"].astype(np.float32)
    io.write_features(path, "seq/a/1.jpg", f0)
    io.write_features(path, "b.png", features(3, seed=1))
    assert io.list_names(path) == ["b.png", "seq/a/1.jpg"]
    with h5py.File(path) as f:
        grp = f["seq"]["a"]["1.jpg"]  # '/' makes nested groups, as in hloc
        assert grp["keypoints"].dtype == np.float32  # never float16
        assert grp["descriptors"].shape == (8, 5)
        assert grp["descriptors"].dtype == np.float16
        assert grp["image_size"].dtype == np.int64
    back = io.read_features(path, "seq/a/1.jpg")
    assert np.array_equal(back["keypoints"], f0["keypoints"])
    assert np.abs(back["descriptors"] - f0["descriptors"]).max() < 1e-3
    # float64 keypoints stay float64
    io.write_features(path, "c.jpg", features(2))
    assert io.read_features(path, "c.jpg")["keypoints"].dtype == np.float64
    # rewriting an image replaces its group
    io.write_features(path, "b.png", features(7, seed=2))
    assert io.read_features(path, "b.png")["keypoints"].shape == (7, 2)


def test_read_features_errors_name_the_file(tmp_path):
    path = tmp_path / "f.h5"
    io.write_features(path, "a.jpg", features(2))
    with pytest.raises(KeyError, match="f.h5: image 'x.jpg' is not in this features file"):
        io.read_features(path, "x.jpg")
    with pytest.raises(FileNotFoundError, match="nope.h5: no such file"):
        io.read_features(tmp_path / "nope.h5", "a.jpg")
    (tmp_path / "junk.h5").write_bytes(b"garbage")
    with pytest.raises(io.FormatError, match="junk.h5: not a readable HDF5 file"):
        io.list_names(tmp_path / "junk.h5")
    with pytest.raises(ValueError, match=r"descriptors must be \[D, N=2\]"):
        io.write_features(path, "bad.jpg", {**features(2), "descriptors": np.zeros((2, 8))})


def test_matches_readable_in_both_directions_with_hloc_keys(tmp_path):
    path = tmp_path / "m.h5"
    m0 = np.array([2, -1, 0, 1])
    io.write_matches(path, "seq/a.jpg", "b.jpg", m0, np.array([0.9, 0, 0.8, 0.7]))
    with h5py.File(path) as f:
        assert "seq-a.jpg/b.jpg" in f  # hloc's names_to_pair
        assert set(f["seq-a.jpg/b.jpg"]) == {"matches0", "matching_scores0"}
    m, s = io.read_matches(path, "seq/a.jpg", "b.jpg")
    assert m.tolist() == [[0, 2], [2, 0], [3, 1]]
    assert np.allclose(s, [0.9, 0.8, 0.7], atol=1e-3)
    m, _ = io.read_matches(path, "b.jpg", "seq/a.jpg")
    assert m.tolist() == [[2, 0], [0, 2], [1, 3]]
    assert io.has_pair(path, "b.jpg", "seq/a.jpg") and not io.has_pair(path, "a", "b")
    with pytest.raises(KeyError, match="no matches for pair"):
        io.read_matches(path, "a", "b")


def test_pairs_files(tmp_path):
    names = ["a", "b", "c", "d"]
    assert exhaustive(names) == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    assert sequential(names, 2) == [("a", "b"), ("a", "c"), ("b", "c"), ("b", "d"), ("c", "d")]
    io.write_pairs(tmp_path / "p.txt", sequential(names, 1))
    assert io.read_pairs(tmp_path / "p.txt") == [("a", "b"), ("b", "c"), ("c", "d")]
    (tmp_path / "bad.txt").write_text("a b\nc\n")
    with pytest.raises(io.FormatError, match=r"bad.txt:2: expected 'name0 name1'"):
        io.read_pairs(tmp_path / "bad.txt")


def test_mutual_nn_on_hand_made_similarities():
    d0 = np.array([[1, 0], [0, 1], [0.8, 0.6]], np.float32)
    d1 = np.array([[0.6, 0.8], [1, 0]], np.float32)
    m0, s0 = mutual_nn(d0, d1)
    # 0<->1 mutual (1.0); 1 -> 0 (0.8) and 0's best is 2 (0.96): not mutual; 2 -> 0 (0.96) mutual
    assert m0.tolist() == [1, -1, 0]
    assert np.allclose(s0, [1.0, 0, 0.96])
    m0, _ = mutual_nn(d0, d1, min_score=0.97)
    assert m0.tolist() == [1, -1, -1]
    # ratio: distances of row 2 are 0.283 and 0.632 -> ratio 0.447
    assert mutual_nn(d0, d1, ratio=0.4)[0].tolist() == [1, -1, -1]
    assert mutual_nn(d0, d1, ratio=0.5)[0].tolist() == [1, -1, 0]
    assert mutual_nn(np.zeros((0, 2)), d1)[0].shape == (0,)
    with pytest.raises(ValueError, match="descriptor sizes differ: 2 vs 3"):
        mutual_nn(d0, np.zeros((2, 3)))


def test_sift_keypoints_are_rotation_covariant_to_subpixel():
    import skimage.data
    from scipy.spatial import cKDTree

    from relf_hloc.features.detectors import detect_sift
    image = skimage.data.astronaut()
    W = image.shape[1]
    a, _, _ = detect_sift(image, 0)
    b, _, _ = detect_sift(np.ascontiguousarray(np.rot90(image)), 0)
    back = np.stack([W - 1 - b[:, 1], b[:, 0]], 1)  # undo np.rot90 (counter-clockwise)
    dist, idx = cKDTree(back).query(a)
    close = dist < 1
    assert close.mean() > 0.8
    assert np.abs((a[close] - back[idx[close]]).mean(0)).max() < 0.05
    assert len(np.unique(a.round(2), axis=0)) == len(a)  # one keypoint per location


def test_package_exposes_confs_dict_even_after_submodule_imports():
    import relf_hloc
    import relf_hloc.steps.extract  # noqa: F401  (imports the confs submodule)
    assert relf_hloc.confs["relf-fast"]["model"]["name"] == "relf"
    assert relf_hloc.confs["relf-nn"]["model"]["do_mutual_check"] is True


def test_png_writes_survive_pycolmap_imported_first(tmp_path):
    """pycolmap 4.2.1 loaded before OpenCV makes OpenCV's PNG writer abort the process; the
    package imports OpenCV first, so a script importing relf_hloc then pycolmap is safe."""
    import subprocess
    import sys
    code = ("import relf_hloc, pycolmap, numpy as np\n"
            "from relf_hloc.images import write_image\n"
            f"write_image({str(tmp_path / 'a.png')!r}, np.zeros((8, 8, 3), np.uint8)); print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-500:]


def test_mutual_check_equals_brute_force_and_gives_a_tie_to_the_first_row():
    """The mutual check compares each row's best with its column's best value; of rows tied for a
    column (duplicate descriptors) only the first is kept, as argmax along the column would."""
    from relf_hloc.matchers.nearest_neighbor import mutual_nn
    rng = np.random.default_rng(1)
    for n0, n1 in ((50, 80), (120, 30), (7, 7)):
        d0, d1 = rng.normal(size=(n0, 6)).astype(np.float32), rng.normal(size=(n1, 6)).astype(np.float32)
        d0[3] = d0[2]  # a tie: rows 2 and 3 have the same best column with the same value
        d0 /= np.linalg.norm(d0, axis=1, keepdims=True)
        d1 /= np.linalg.norm(d1, axis=1, keepdims=True)
        sim = d0 @ d1.T
        nn01, nn10 = sim.argmax(1), sim.argmax(0)
        expected = np.where(nn10[nn01] == np.arange(n0), nn01, -1)
        for block in (1, 4, 1000):
            assert mutual_nn(d0, d1, block=block)[0].tolist() == expected.tolist()
        assert mutual_nn(d0, d1)[0][3] == -1  # row 3 loses the tie to row 2


def test_mutual_nn_in_row_blocks_equals_the_whole_matrix():
    from relf_hloc.matchers.nearest_neighbor import mutual_nn
    rng = np.random.default_rng(0)
    d0 = rng.normal(size=(700, 32)).astype(np.float32)
    d1 = np.concatenate([d0[::-1][:500] + 0.4 * rng.normal(size=(500, 32)), rng.normal(size=(150, 32))])
    d0 /= np.linalg.norm(d0, axis=1, keepdims=True)
    d1 = (d1 / np.linalg.norm(d1, axis=1, keepdims=True)).astype(np.float32)
    for ratio, floor in ((None, None), (0.9, None), (None, 0.5)):
        whole = mutual_nn(d0, d1, ratio, floor, block=10_000)
        for block in (1, 64, 333):
            tiled = mutual_nn(d0, d1, ratio, floor, block=block)
            assert np.array_equal(tiled[0], whole[0])  # the same matches; scores to float rounding
            np.testing.assert_allclose(tiled[1], whole[1], atol=1e-6)
        assert (whole[0] >= 0).sum() > 100
