"""Homography benchmarks: metrics on hand-made matches, Roto-360 generator, loaders, errors."""

import json
import math

import cv2
import numpy as np
import pytest

from relf_hloc import cli
from relf_hloc.benchmarks import compare, homography
from relf_hloc.datasets import roto360
from relf_hloc.eval import homography as metrics
from relf_hloc.features import load_extractor
from relf_hloc.features import opencv as baselines
from relf_hloc.geometry import local_rotation_deg, rotation_homography, warp_points
from relf_hloc.images import rotate_image
from relf_hloc.datasets.homography import (detect_layout, hpatches_root, image_names, load_hpatches, load_pairs,
                                           load_roto360, read_homography, write_homography)
from relf_hloc.io import read_features, write_features

H_GRAFFITI = np.array([[0.88184, 0.31397, -39.976], [-0.18167, 0.93621, 153.25],
                       [0.00020118, -1.9028e-05, 0.99997]])


def textured_image(h=96, w=128, seed=0):
    """Blocky random texture, smoothed: plenty of corners and blobs for every detector."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(image, (3, 3), 0)


def make_hpatches(root, sequences=("v_tiny", "i_tiny"), n_images=3, seed=0):
    """Tiny HPatches-layout set: <seq>/1..n.ppm and H_1_k (identity-ish homographies)."""
    for s, seq in enumerate(sequences):
        d = root / seq
        d.mkdir(parents=True)
        for k in range(1, n_images + 1):
            cv2.imwrite(str(d / f"{k}.ppm"), textured_image(seed=seed + s * 10 + k))
            if k > 1:
                write_homography(d / f"H_1_{k}", np.diag([1.0, 1.0, 1.0]) + np.eye(3, k=2) * k)
    return root


def one_hot(indices, dim=6):
    """Descriptors [D, N] whose column n is the unit vector e_indices[n]."""
    return np.eye(dim, dtype=np.float32)[:, indices]


# ---------------------------------------------------------------- metrics


def test_match_precisions_known_errors():
    kpts0 = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0], [70.0, 80.0]])
    kpts1 = warp_points(H_GRAFFITI, kpts0) + [[0.5, 0], [0, 2.5], [2.7, 3.6], [12, 0]]
    matches = np.array([[0, 0], [1, 1], [2, 2], [3, 3]])
    precision = metrics.match_precisions(kpts0, kpts1, matches, H_GRAFFITI)
    # errors 0.5, 2.5, 4.5, 12 px
    np.testing.assert_allclose(precision, [25, 25, 50, 50, 75, 75, 75, 75, 75, 75])
    assert metrics.match_precisions(kpts0, kpts1, np.zeros((0, 2), int), H_GRAFFITI).tolist() == [0] * 10


@pytest.fixture
def handmade(tmp_path):
    """HPatches-layout set with one sequence and a features file with known matches.

    Pair (1, 2): 5 mutual matches with errors 0.5, 2.5, 4.5, 12 px and a duplicated
    keypoint (same location as keypoint 0, other descriptor, as multi-candidate
    extraction makes) matched to a duplicated target. Pair (1, 3): image 3 has no keypoint.
    """
    root = make_hpatches(tmp_path / "hp", sequences=("v_hand",))
    H = read_homography(root / "v_hand" / "H_1_2")
    kpts0 = np.array([[10, 20], [30, 40], [50, 60], [70, 80], [10, 20]], np.float32)
    kpts1 = warp_points(H, kpts0[:4].astype(np.float64)) + [[0.5, 0], [0, 2.5], [2.7, 3.6], [12, 0]]
    kpts1 = np.concatenate([kpts1, kpts1[:1]]).astype(np.float32)
    features = tmp_path / "feats.h5"
    size = np.array([128, 96])
    write_features(features, "v_hand/1.ppm", {"keypoints": kpts0, "descriptors": one_hot([0, 1, 2, 3, 4]),
                                              "scores": np.ones(5), "image_size": size,
                                              "orientations": np.array([0, 0, 0, 0, 90.0])})
    # target columns shuffled so index i of image 1 does not match index i of image 2 by accident
    order = [3, 0, 4, 2, 1]
    write_features(features, "v_hand/2.ppm", {"keypoints": kpts1[order], "descriptors": one_hot(order),
                                              "scores": np.ones(5), "image_size": size,
                                              "orientations": np.array([0, 22.5, 45, 180, 340])[order]})
    write_features(features, "v_hand/3.ppm", {"keypoints": np.zeros((0, 2), np.float32),
                                              "descriptors": np.zeros((6, 0), np.float32),
                                              "scores": np.zeros(0), "image_size": size,
                                              "orientations": np.zeros(0)})
    return root, features


def test_aggregation_zero_match_pair_and_duplicates(handmade, tmp_path):
    root, features = handmade
    records = metrics.evaluate_pairs(load_hpatches(root), features)
    assert [r["matches"] for r in records] == [5, 0]
    assert [r["precision"]["3"] for r in records] == [60.0, 0.0]
    summary = metrics.summarize(records)
    # per-pair precision of pair 1 at 1..10 px: 40 40 60 60 80 ... 80; pair 2 counts 0
    assert summary["mma"] == {str(t): v for t, v in zip(range(1, 11), [20, 20, 30, 30, 40, 40, 40, 40, 40, 40])}
    assert summary["pairs"] == 2
    assert summary["pred_matches"] == 2.5
    assert summary["total_points"] == ((5 + 5) / 2 + (5 + 0) / 2) / 2
    # H translates only. Matches turn by 0, 22.5, 45, 180, 250 degrees (bins 0 1 2 8 11):
    # 2 of 5 within one bin. Ground truth within 3 px: keypoints 0 and 1 (errors 0.5, 2.5 px)
    # and 4 (at keypoint 0's place, nearest target is keypoint 0's: turn -90): 2 of 3.
    assert records[0]["ori_acc"]["matches"] == 40.0
    assert records[0]["ori_acc"]["gt"] == pytest.approx(200 / 3)
    assert records[1]["ori_acc"] == {"matches": None, "gt": None}  # image 3 has no keypoint
    assert summary["ori_acc"] == {"matches": 40.0, "gt": pytest.approx(200 / 3)}


def test_evaluate_writes_schema_and_is_reproducible(handmade, tmp_path):
    root, features = handmade
    out = homography.main(root, "hpatches", features, tmp_path / "eval")
    first = out.read_text()
    homography.main(root, "hpatches", features, tmp_path / "eval")
    assert out.read_text() == first
    results = json.loads(first)
    assert set(results["mma"]) == {str(t) for t in range(1, 11)}
    assert results["mma"]["5"] == 40 and results["pairs"] == 2 and "per_angle" not in results
    assert results["per_group"]["viewpoint"]["pairs"] == 2
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "| feats | 2 | 20.00 | 30.00 | 40.00 | 40.00 | 2.5 | 3.8 | 40.0 / 66.7 |" in table
    assert (tmp_path / "eval" / "mma_vs_threshold.png").stat().st_size > 0


def test_evaluate_on_a_pairs_file_matches_the_hpatches_layout(handmade, tmp_path):
    """The same two pairs listed as 'image0 image1 H_file' lines (a comment, a blank line) give the
    HPatches layout's figures, through the command line."""
    root, features = handmade
    listing = root / "mine.txt"
    listing.write_text("# my pairs\nv_hand/1.ppm v_hand/2.ppm v_hand/H_1_2\n\nv_hand/1.ppm v_hand/3.ppm v_hand/H_1_3\n")
    assert detect_layout(listing) == "pairs"
    pairs = load_pairs(listing, "pairs")
    assert [(p.name0, p.name1, p.sequence) for p in pairs] == [(p.name0, p.name1, p.sequence)
                                                               for p in load_hpatches(root)]
    assert cli.main(["evaluate", "homography", "--dataset", str(listing), "--layout", "pairs",
                     "--features", str(features), "--outputs", str(tmp_path / "eval")]) == 0
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["pairs"] == 2 and results["mma"]["5"] == 40 and results["pred_matches"] == 2.5
    listing.write_text("v_hand/1.ppm v_hand/2.ppm\n")
    with pytest.raises(ValueError, match=r"mine.txt:1: expected 'image0 image1 H_file'"):
        load_pairs(listing, "pairs")
    listing.write_text("v_hand/1.ppm v_hand/9.ppm v_hand/H_1_2\n")
    with pytest.raises(FileNotFoundError, match=r"mine.txt:1: image\(s\) not found: v_hand/9.ppm"):
        load_pairs(listing, "pairs")


def test_hpatches_groups_reported_separately_and_together():
    def record(group, precision, matches):
        return {"group": group, "matches": matches, "points0": 10, "points1": 20,
                "precision": {str(t): precision for t in range(1, 11)}}

    records = [record("viewpoint", 50.0, 4), record("illumination", 100.0, 2), record("viewpoint", 0.0, 0)]
    results = metrics.results_from_records(records, "hpatches", method="m")
    assert results["mma"]["3"] == 50 and results["per_group"]["viewpoint"]["mma"]["3"] == 25
    assert results["per_group"]["illumination"]["pred_matches"] == 2
    table = homography.results_markdown({"m": results})
    assert "| m | 3 | 50.00 |" in table and "| m, viewpoint | 2 | 25.00 |" in table
    assert "| m, illumination | 1 | 100.00 |" in table


# ---------------------------------------------------------------- generator


@pytest.mark.parametrize("angle", [0, 30, 90, 135, 200, 270, 350])
def test_rotation_homography_matches_opencv_and_keeps_image(angle):
    w, h = 800, 640
    H, (new_w, new_h) = rotation_homography(angle, w, h)
    # OpenCV's own rotation about the image centre, shifted to the centre of the new canvas
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    M[:, 2] += [(new_w - w) / 2, (new_h - h) / 2]
    np.testing.assert_allclose(H[:2], M, atol=1e-9)
    np.testing.assert_array_equal(H[2], [0, 0, 1])
    # the whole pixel area stays on the canvas, touching it on both axes
    area = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
    warped = warp_points(H, area)
    assert warped.min() >= -0.5 - 1e-9 and (warped.max(0) <= [new_w - 0.5 + 1e-9, new_h - 0.5 + 1e-9]).all()
    extent = warped.max(0) - warped.min(0)
    assert (np.array([new_w, new_h]) - extent < 1).all()


def test_rotation_by_90_is_exact_counter_clockwise():
    image = textured_image(48, 64)
    for k in range(4):
        rotated, H = rotate_image(image, 90 * k)
        np.testing.assert_array_equal(rotated, np.rot90(image, k))  # numpy turns counter-clockwise
    H, size = rotation_homography(90, 64, 48)
    assert size == (48, 64)
    # the top-right pixel goes to the top-left corner, the top-left to the bottom-left
    np.testing.assert_allclose(warp_points(H, np.array([[63.0, 0], [0, 0]])), [[0, 0], [0, 63]])


def test_generator_files(tmp_path):
    root = make_hpatches(tmp_path / "hp", sequences=("v_a",), n_images=2)
    out = roto360.main(root, tmp_path / "roto", step=30)
    files = sorted(p.name for p in (out / "v_a").iterdir())
    assert files == sorted(f"1_rot{a}.{e}" for a in range(0, 360, 30) for e in ("jpg", "txt"))
    image = cv2.imread(str(root / "v_a" / "1.ppm"))
    for angle in (0, 30, 90, 210):
        H = read_homography(out / "v_a" / f"1_rot{angle}.txt")
        np.testing.assert_array_equal(H, rotation_homography(angle, 128, 96)[0])  # exact round trip
        target = cv2.imread(str(out / "v_a" / f"1_rot{angle}.jpg"))
        a = math.radians(angle)
        assert target.shape[:2] == (math.ceil(96 * abs(math.cos(a)) + 128 * abs(math.sin(a)) - 1e-6),
                                    math.ceil(128 * abs(math.cos(a)) + 96 * abs(math.sin(a)) - 1e-6))
        # the content lies where H says: sample interior points of the rotated point set
        ys, xs = np.mgrid[20:76:5, 20:108:5]
        pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        moved = warp_points(H, pts).astype(np.float32)
        sampled = cv2.remap(target, moved[:, :1], moved[:, 1:], cv2.INTER_LINEAR)[:, 0]
        reference = image[pts[:, 1].astype(int), pts[:, 0].astype(int)]
        assert np.abs(sampled.astype(int) - reference).mean() < 12  # JPEG and interpolation only


def test_generator_rejects_bad_step(tmp_path):
    with pytest.raises(ValueError, match="divide 360"):
        roto360.main(tmp_path, tmp_path / "out", step=7)


# ---------------------------------------------------------------- loaders


def test_loaders_on_both_layouts(tmp_path):
    root = make_hpatches(tmp_path / "data" / "hpatches-sequences-release")
    assert hpatches_root(tmp_path / "data") == root
    pairs = load_hpatches(tmp_path / "data")
    assert [(p.name0, p.name1, p.group) for p in pairs] == [
        ("i_tiny/1.ppm", "i_tiny/2.ppm", "illumination"), ("i_tiny/1.ppm", "i_tiny/3.ppm", "illumination"),
        ("v_tiny/1.ppm", "v_tiny/2.ppm", "viewpoint"), ("v_tiny/1.ppm", "v_tiny/3.ppm", "viewpoint")]
    np.testing.assert_array_equal(pairs[1].H, np.eye(3) + np.eye(3, k=2) * 3)
    assert len(load_hpatches(root, ["v_tiny"])) == 2
    assert detect_layout(tmp_path / "data") == "hpatches"

    roto = roto360.main(root, tmp_path / "roto", sequences=["v_tiny"], step=90)
    assert detect_layout(roto) == "roto360"
    pairs = load_roto360(roto)
    assert [(p.name0, p.name1, p.group) for p in pairs] == [
        ("v_tiny/1_rot0.jpg", f"v_tiny/1_rot{a}.jpg", str(a)) for a in (0, 90, 180, 270)]
    assert [p.group for p in load_roto360(roto, angles=[90, 270])] == ["90", "270"]
    assert image_names(pairs) == [f"v_tiny/1_rot{a}.jpg" for a in (0, 180, 270, 90)]


# ---------------------------------------------------------------- bad inputs


def test_missing_homography_file_is_named(tmp_path):
    root = make_hpatches(tmp_path / "hp", sequences=("v_a",))
    (root / "v_a" / "H_1_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"v_a/H_1_3: homography file not found"):
        load_hpatches(root)
    roto = roto360.main(root, tmp_path / "roto", step=180)
    (roto / "v_a" / "1_rot180.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"1_rot180.txt: homography file not found"):
        load_roto360(roto)


def test_image_absent_from_features_file(handmade, tmp_path, capsys):
    root, features = handmade
    (root / "v_hand" / "4.ppm").write_bytes((root / "v_hand" / "3.ppm").read_bytes())
    write_homography(root / "v_hand" / "H_1_4", np.eye(3))
    code = cli.main(["evaluate", "homography", "--dataset", str(root), "--layout", "hpatches",
                     "--features", str(features), "--output", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert "relf-hloc evaluate: error:" in err and "feats.h5" in err and "'v_hand/4.ppm'" in err


def test_mismatched_descriptor_sizes(handmade):
    root, features = handmade
    feats = read_features(features, "v_hand/2.ppm")
    feats["descriptors"] = np.concatenate([feats["descriptors"], feats["descriptors"]])  # D = 12
    write_features(features, "v_hand/2.ppm", feats)
    with pytest.raises(ValueError, match=r"feats.h5: descriptor size 12 of image 'v_hand/2.ppm' "
                                         r"differs from 6 of image 'v_hand/1.ppm'"):
        metrics.evaluate_pairs(load_hpatches(root), features)


@pytest.mark.parametrize("angle", [0, 10, 30, 90, 200])
def test_local_rotation_of_rotation_homography(angle):
    H = rotation_homography(angle, 640, 480)[0]
    points = np.array([[0.0, 0.0], [320, 240], [600, 10]])
    np.testing.assert_allclose(np.mod(local_rotation_deg(H, points), 360), angle % 360, atol=1e-9)


def test_local_rotation_of_perspective_homography_is_its_jacobian():
    points = np.array([[100.0, 200.0], [400, 50]])
    eps = 1e-4
    for p, a in zip(points, local_rotation_deg(H_GRAFFITI, points)):
        J = np.stack([(warp_points(H_GRAFFITI, p[None] + d)[0]
                       - warp_points(H_GRAFFITI, p[None] - d)[0]) / (2 * eps)
                      for d in (np.array([eps, 0]), np.array([0, eps]))], 1)
        assert a == pytest.approx(math.degrees(math.atan2(J[0, 1] - J[1, 0], J[0, 0] + J[1, 1])), abs=1e-5)


def test_orientation_accuracy_counts_bins():
    H = rotation_homography(30, 100, 100)[0]  # truth: 30 degrees, nearest bin 1
    ori0 = np.zeros(4)
    ori1 = np.array([22.5, 45, 67.5, 350])  # bins 1, 2, 3, 16 = 0: off by 0, 1, 2, 1
    pairs = np.stack([np.arange(4), np.arange(4)], 1)
    assert metrics.orientation_accuracy(ori0, ori1, np.zeros((4, 2)), pairs, H) == 75.0
    assert metrics.orientation_accuracy(ori0, ori1, np.zeros((4, 2)), pairs[:0], H) is None


def test_ground_truth_pairs_nearest_within_radius():
    kpts0 = np.array([[10.0, 10], [50, 50], [90, 90]])
    kpts1 = np.array([[12.0, 11], [11.0, 10], [55, 50], [90, 92.9]])
    pairs = metrics.ground_truth_pairs(kpts0, kpts1, np.eye(3))
    assert pairs.tolist() == [[0, 1], [2, 3]]  # 50,50 is 5 px from its nearest
    assert metrics.ground_truth_pairs(kpts0, kpts1[:0], np.eye(3)).shape == (0, 2)


# ---------------------------------------------------------------- baselines


@pytest.mark.parametrize("method,dim", [("sift", 128), ("rootsift", 128), ("orb", 256), ("akaze", 488)])
def test_baseline_features(method, dim):
    if baselines.unavailable_reason(method):
        pytest.skip(baselines.unavailable_reason(method))
    image = cv2.resize(textured_image(seed=3), (256, 192), interpolation=cv2.INTER_LINEAR)
    feats = load_extractor({"name": method, "max_keypoints": 50}).extract(image)
    n = len(feats["keypoints"])
    assert 10 <= n <= 50 and feats["keypoints"].dtype == np.float32
    assert feats["descriptors"].shape == (n, dim)
    np.testing.assert_allclose(np.linalg.norm(feats["descriptors"], axis=1), 1, atol=1e-5)
    assert (np.diff(feats["scores"]) <= 0).all()  # strongest first


@pytest.mark.parametrize("method", ["sift", "orb", "akaze"])
def test_baseline_orientations_turn_counter_clockwise(method):
    """Turning the image by 90 degrees counter-clockwise adds 90 to the written orientations."""
    if baselines.unavailable_reason(method):
        pytest.skip(baselines.unavailable_reason(method))
    image = cv2.resize(textured_image(seed=5), (256, 256), interpolation=cv2.INTER_LINEAR)
    extractor = load_extractor({"name": method, "max_keypoints": 200})
    f0 = extractor.extract(image)
    f1 = extractor.extract(np.ascontiguousarray(np.rot90(image)))
    # np.rot90 maps (x, y) to (y, W - 1 - x)
    turned = np.stack([f0["keypoints"][:, 1], 255 - f0["keypoints"][:, 0]], 1)
    dist = np.linalg.norm(turned[:, None] - f1["keypoints"][None], axis=2)
    near = dist.min(1) < 0.5
    turn = np.mod(f1["orientations"][dist.argmin(1)[near]] - f0["orientations"][near], 360)
    assert near.sum() >= 20
    assert np.mean(np.abs(turn - 90) < 10) > 0.7


def test_akaze_missing_from_opencv_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(cv2, "AKAZE_create", raising=False)
    with pytest.raises(RuntimeError, match="AKAZE is not in this OpenCV build"):
        load_extractor({"name": "akaze"})


def test_binary_descriptors_dot_product_is_hamming():
    rng = np.random.default_rng(0)
    packed = rng.integers(0, 256, (20, 32), dtype=np.uint8)
    unit = baselines.binary_to_unit(packed)
    hamming = np.unpackbits(packed[:, None] ^ packed[None], axis=2).sum(2)
    np.testing.assert_allclose(unit @ unit.T, 1 - 2 * hamming / 256, atol=1e-6)


def test_rootsift_dot_is_hellinger_kernel():
    sift = np.random.default_rng(1).uniform(0, 100, (5, 128)).astype(np.float32)
    root = baselines.normalise_float(sift, "rootsift")
    l1 = sift / sift.sum(1, keepdims=True)
    np.testing.assert_allclose(root @ root.T, np.sqrt(l1[:, None] * l1[None]).sum(2), atol=1e-5)


# ---------------------------------------------------------------- end to end


def test_cli_end_to_end_roto360(tmp_path, capsys):
    root = make_hpatches(tmp_path / "hp", sequences=("v_a",), n_images=2)
    roto = tmp_path / "roto"
    feats = tmp_path / "sift.h5"
    assert cli.main(["make-roto360", "--hpatches", str(root), "--outputs", str(roto), "--step", "90"]) == 0
    assert cli.main(["extract", "--conf", "sift", "--images", str(roto), "--output", str(feats),
                     "--max-keypoints", "300"]) == 0
    assert cli.main(["extract", "--conf", "sift", "--images", str(roto), "--output", str(feats),
                     "--max-keypoints", "300"]) == 0
    assert "0 image(s) done, 4 already in" in capsys.readouterr().out  # resumable
    assert cli.main(["evaluate", "homography", "--dataset", str(roto), "--layout", "roto360",
                     "--features", str(feats), "--outputs", str(tmp_path / "eval"), "--label", "SIFT"]) == 0
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["pairs"] == 4 and list(results["per_angle"]) == ["0", "90", "180", "270"]
    assert results["per_angle"]["0"]["mma"] == {str(t): 100.0 for t in range(1, 11)}  # image with itself
    assert results["per_angle"]["90"]["mma"]["3"] > 50  # SIFT is rotation invariant
    assert (tmp_path / "eval" / "mma_vs_angle.png").is_file()


def test_compare_baselines(tmp_path):
    root = make_hpatches(tmp_path / "hp", sequences=("v_a",), n_images=2)
    assert cli.main(["compare", "--dataset", str(root), "--layout", "hpatches", "--methods", "sift",
                     "--results", str(tmp_path / "cli"), "--cache", str(tmp_path / "cache")]) == 0
    assert json.loads((tmp_path / "cli" / "hp" / "results.json").read_text())["methods"]["SIFT"]["pairs"] == 1
    opts = {"methods": ["sift", "orb"], "max_keypoints": 200, "step": 180, "command": "test"}
    written = compare.main(root, tmp_path / "results", tmp_path / "cache", "both", opts)
    assert written == [tmp_path / "results" / "hp" / "results.json",
                       tmp_path / "results" / "hp-roto360" / "results.json"]
    roto = json.loads(written[1].read_text())
    assert list(roto["methods"]) == ["SIFT", "ORB"] and roto["layout"] == "roto360"
    assert list(roto["methods"]["SIFT"]["per_angle"]) == ["0", "180"]
    md = (tmp_path / "results" / "hp-roto360" / "results.md").read_text()
    assert "| SIFT | 2 |" in md and "| ORB | 2 |" in md and "Produced by `test`" in md
    assert len(list((tmp_path / "cache" / "hp-roto360" / "features").glob("sift-*.h5"))) == 1
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['surf'\]"):
        compare.main(root, tmp_path / "results", tmp_path / "cache", "both",
                     {"methods": ["sift", "surf"]})


def test_compare_relf_on_sift_keypoints(tmp_path):
    root = make_hpatches(tmp_path / "hp", sequences=("v_a",), n_images=2)
    opts = {"methods": ["relf-single"], "max_keypoints": 40, "random_weights": True,
                                  "step": 180, "angles": [180]}
    written = compare.main(root, tmp_path / "results", tmp_path / "cache", "roto360", opts)
    results = json.loads(written[0].read_text())["methods"]
    assert list(results) == ["RELF top-1 (relf-single, SIFT kpts, untrained)"]
    features = tmp_path / "cache" / "hp-roto360" / "features"
    [sift_file], [relf_file] = features.glob("sift-*.h5"), features.glob("relf-single-*.h5")
    sift = read_features(sift_file, "v_a/1_rot180.jpg")["keypoints"]
    relf = read_features(relf_file, "v_a/1_rot180.jpg")["keypoints"]
    _, first = np.unique(sift, axis=0, return_index=True)
    assert len(np.unique(sift, axis=0)) == len(relf) < len(sift)  # OpenCV's duplicates removed
    np.testing.assert_array_equal(relf, sift[np.sort(first)])  # RELF described exactly the SIFT locations


@pytest.mark.slow
def test_compare_relf_multi_candidate_duplicates_points(tmp_path):
    root = make_hpatches(tmp_path / "hp", sequences=("v_a",), n_images=2)
    opts = {"methods": ["relf-single", "relf-fast-multi"], "max_keypoints": 40,
                                  "random_weights": True, "step": 180}
    results = json.loads(compare.main(root, tmp_path / "res", tmp_path / "cache", "roto360", opts)[0]
                         .read_text())["methods"]
    top1 = results["RELF top-1 (relf-single, SIFT kpts, untrained)"]
    multi = results["RELF multi-candidate (relf-fast-multi, SIFT kpts, untrained)"]
    assert multi["total_points"] > top1["total_points"]


def test_localisation_error_of_known_offsets():
    """Median / p90 of the error and mean signed offset of the matches within 10 px; the
    12 px match is left out; a verified homography keeps the consistent matches."""
    kpts0 = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0], [70.0, 80.0]])
    kpts1 = warp_points(H_GRAFFITI, kpts0) + [[0.5, 0], [0, 2.5], [2.7, 3.6], [12, 0]]
    matches = np.array([[0, 0], [1, 1], [2, 2], [3, 3]])
    near = metrics.error_stats(metrics.offsets(kpts0, kpts1, matches, H_GRAFFITI)[:3])
    # errors 0.5, 2.5, 4.5: median 2.5, p90 = 2.5 + 0.8 x 2 = 4.1; mean offsets (3.2 / 3, 6.1 / 3)
    assert near == pytest.approx({"median": 2.5, "p90": 4.1, "dx": 3.2 / 3, "dy": 6.1 / 3})
    assert metrics.localisation_error(kpts0, kpts1, matches, H_GRAFFITI)["matches"] == pytest.approx(near)
    assert metrics.error_stats(np.zeros((0, 2))) is None
    # 30 matches on a grid, shifted by (0.3, -0.2) px, and 5 gross outliers: the verified inliers
    # are the shifted ones, their offset is the shift
    grid = np.stack(np.meshgrid(np.arange(20, 300, 50.0), np.arange(20, 250, 50.0)), -1).reshape(-1, 2)
    k1 = warp_points(H_GRAFFITI, grid) + [0.3, -0.2]
    k1[:5] += [[80, 5], [-60, 40], [30, 90], [-70, -70], [50, -30]]
    m = np.stack([np.arange(len(grid))] * 2, 1)
    err = metrics.localisation_error(grid, k1, m, H_GRAFFITI)
    assert err["inliers"] == pytest.approx({"median": 0.3606, "p90": 0.3606, "dx": 0.3, "dy": -0.2}, abs=1e-3)
    assert metrics.summarize([{"precision": {str(t): 0.0 for t in metrics.THRESHOLDS}, "matches": 1,
                               "points0": 1, "points1": 1, "loc_error": err},
                              {"precision": {str(t): 0.0 for t in metrics.THRESHOLDS}, "matches": 0,
                               "points0": 1, "points1": 1, "loc_error": {"matches": None, "inliers": None}}]
                             )["loc_error"]["inliers"] == pytest.approx(err["inliers"])
