import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from relf_hloc import geometry


def random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    R = Rotation.random(n, random_state=seed).as_matrix()
    t = rng.normal(size=(n, 3)) * 3
    return R, t


def test_camera_centres_project_to_origin():
    R, t = random_poses(5)
    c = geometry.camera_centres(R, t)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, c) + t, 0, atol=1e-12)


def test_rotation_error_of_known_perturbation():
    R_gt = Rotation.random(4, random_state=1).as_matrix()
    angles = np.array([0.0, 3.0, 90.0, 179.0])
    axes = np.array([[0, 0, 1], [1, 0, 0], [0.6, 0.8, 0], [0, 1, 0]], float)
    delta = Rotation.from_rotvec(axes * np.radians(angles)[:, None]).as_matrix()
    # a perturbation on either side gives the same angle
    np.testing.assert_allclose(geometry.rotation_error_deg(delta @ R_gt, R_gt), angles, atol=1e-6)
    np.testing.assert_allclose(geometry.rotation_error_deg(R_gt @ delta, R_gt), angles, atol=1e-6)


def test_umeyama_recovers_known_similarity_exactly():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(10, 3))
    s, R, t = 2.5, Rotation.from_euler("xyz", [10, -70, 140], degrees=True).as_matrix(), np.array([1.0, -2, 3])
    dst = s * src @ R.T + t
    s_est, R_est, t_est = geometry.umeyama(src, dst)
    assert s_est == pytest.approx(s, rel=1e-12)
    np.testing.assert_allclose(R_est, R, atol=1e-12)
    np.testing.assert_allclose(t_est, t, atol=1e-12)
    s1, _, _ = geometry.umeyama(src, dst, with_scale=False)
    assert s1 == 1.0


def test_umeyama_never_returns_a_reflection():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(8, 3))
    dst = src * np.array([1, 1, -1])  # mirror image: best proper rotation, not the mirror
    _, R, _ = geometry.umeyama(src, dst)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_umeyama_rejects_degenerate_input():
    with pytest.raises(ValueError, match="at least 3"):
        geometry.umeyama(np.zeros((2, 3)), np.zeros((2, 3)))
    line = np.outer(np.arange(5.0), [1, 2, 3])
    with pytest.raises(ValueError, match="collinear"):
        geometry.umeyama(line, line)


def test_align_and_compare_is_zero_for_a_similar_reconstruction():
    R_gt, t_gt = random_poses(6, seed=2)
    # the same cameras seen in another world frame: X_est = s * Q X_gt + d
    s, Q, d = 0.3, Rotation.from_euler("z", 75, degrees=True).as_matrix(), np.array([5.0, 0, -1])
    R_est = R_gt @ Q.T
    t_est = s * t_gt - R_est @ d
    np.testing.assert_allclose(geometry.camera_centres(R_est, t_est),
                               s * geometry.camera_centres(R_gt, t_gt) @ Q.T + d, atol=1e-12)
    out = geometry.align_and_compare(R_est, t_est, R_gt, t_gt)
    np.testing.assert_allclose(out["rot_err_deg"], 0, atol=1e-5)
    np.testing.assert_allclose(out["pos_err"], 0, atol=1e-10)
    assert out["sim_s"] == pytest.approx(1 / s)


def test_align_and_compare_measures_one_moved_camera():
    # four cameras on a square of side 1 (scene size = diagonal sqrt(2)), all looking down z
    c_gt = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    R = np.repeat(np.eye(3)[None], 4, 0)
    t_gt = -c_gt
    R_est = R.copy()
    R_est[0] = Rotation.from_euler("y", 10, degrees=True).as_matrix()
    out = geometry.align_and_compare(R_est, t_gt, R, t_gt)  # same centres, one rotated camera
    np.testing.assert_allclose(out["rot_err_deg"], [10, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(out["pos_err"], 0, atol=1e-12)
    assert out["scale"] == pytest.approx(np.sqrt(2))


def test_relative_pose_error():
    R0, t0 = np.eye(3), np.zeros(3)
    R1 = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    t1 = np.array([1.0, 0, 0])
    R, t = geometry.relative_pose(R0, t0, R1, t1)
    np.testing.assert_allclose(R, R1)
    np.testing.assert_allclose(t, t1)
    # estimate: right rotation, translation 90 degrees off, scale irrelevant
    assert geometry.relative_pose_error(R, 7 * np.array([0, 0, 1.0]), R1, t1) == pytest.approx((0.0, 90.0))
    assert geometry.relative_pose_error(R, -t1, R1, t1) == pytest.approx((0.0, 180.0))
    assert geometry.relative_pose_error(R, -t1, R1, t1, ignore_sign=True) == pytest.approx((0.0, 0.0))
    assert geometry.relative_pose_error(R, np.zeros(3), R1, t1)[1] == 180.0


def test_pose_auc_hand_computed():
    # errors 0 and 4 (two pairs): recall 0.5 at 0, rising linearly to 1 at 4.
    # area up to 4 is (0.5 + 1) / 2 * 4 = 3, then recall stays 1.
    auc = geometry.pose_auc([0.0, 4.0], thresholds=(5, 10))
    assert auc[5] == pytest.approx((3 + 1) / 5 * 100)
    assert auc[10] == pytest.approx((3 + 6) / 10 * 100)
    # an error equal to the threshold is not below it (the usual convention)
    assert geometry.pose_auc([0.0, 5.0], thresholds=(5,))[5] == pytest.approx(50.0)
    # failed pairs (inf) lower recall everywhere
    assert geometry.pose_auc([0.0, np.inf], thresholds=(10,))[10] == pytest.approx(50.0)
    assert geometry.pose_auc([np.inf], thresholds=(10,))[10] == 0.0


def test_epipolar_distance_of_a_sideways_camera():
    """A camera moved along x (x1 = x0 + t, K = I * f): epipolar lines are the rows, so the
    distance of a match is its row difference, in pixels."""
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    k0 = np.array([[100.0, 50], [300, 200], [10, 400]])
    k1 = k0 + [[-40, 0], [-7, 1.5], [-90, -3]]
    d = geometry.epipolar_distance(k0, k1, K, K, np.eye(3), np.array([1.0, 0, 0]))
    np.testing.assert_allclose(d, [0, 1.5, 3], atol=1e-9)
