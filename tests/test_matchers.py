"""The matcher interface (LightGlue's shape) and the nearest-neighbour options, on hand-made cases."""

import numpy as np
import pytest

from relf_hloc import io
from relf_hloc.matchers import PairReader, load_matcher


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ratio_rival_is_the_best_neighbour_away_from_the_first():
    """Image 1 holds the true match (column 0), a near-duplicate of it 1 px away (column 1) and
    a far keypoint (column 2). Lowe's ratio test sees the duplicate as a rival and drops the
    match; with ratio_radius 3 the rival is the far keypoint and the match stays."""
    desc0 = unit([[1, 0, 0]])
    desc1 = unit([[1, 0.05, 0], [1, 0.06, 0], [0.6, 0.8, 0]])
    kpts1 = np.array([[10, 10], [11, 10], [50, 40]], np.float32)
    data = {"descriptors0": desc0, "descriptors1": desc1, "keypoints0": np.zeros((1, 2), np.float32),
            "keypoints1": kpts1}
    plain = load_matcher({"name": "nearest_neighbor", "ratio_threshold": 0.8})(data)
    assert plain["matches0"].tolist() == [-1]
    spaced = load_matcher({"name": "nearest_neighbor", "ratio_threshold": 0.8, "ratio_radius": 3})(data)
    assert spaced["matches0"].tolist() == [0]
    assert spaced["matching_scores0"][0] == pytest.approx(float(desc0[0] @ desc1[0]))
    # distances: best sqrt(2 - 2 cos) to column 0, rival to column 2; the ratio is their quotient
    d_best, d_far = np.sqrt(2 - 2 * desc1 @ desc0[0])[[0, 2]]
    tight = load_matcher({"name": "nearest_neighbor", "ratio_threshold": float(d_best / d_far) * 0.99,
                          "ratio_radius": 3})(data)
    assert tight["matches0"].tolist() == [-1]


def test_pair_reader_gives_keypoints_and_descriptors_and_names_a_size_mismatch(tmp_path):
    path = tmp_path / "feats.h5"
    rng = np.random.default_rng(0)
    io.write_features(path, "a.jpg", {"keypoints": rng.random((4, 2)).astype(np.float32),
                                      "descriptors": unit(rng.random((4, 8))).T})
    io.write_features(path, "b.jpg", {"keypoints": rng.random((3, 2)).astype(np.float32),
                                      "descriptors": unit(rng.random((3, 8))).T})
    io.write_features(path, "c.jpg", {"keypoints": rng.random((3, 2)).astype(np.float32),
                                      "descriptors": unit(rng.random((3, 6))).T})
    data = PairReader(path)("a.jpg", "b.jpg")
    assert data["keypoints0"].shape == (4, 2) and data["descriptors1"].shape == (3, 8)
    with pytest.raises(ValueError, match="descriptor sizes differ between 'a.jpg' \\(8\\) and 'c.jpg' \\(6\\)"):
        PairReader(path)("a.jpg", "c.jpg")
