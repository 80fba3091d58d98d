"""Scene readers and rotated-camera variants (relf_hloc/scenes.py)."""

import numpy as np
import cv2
import pytest

from relf_hloc.datasets import scenes
from relf_hloc.datasets.scenes import View
from relf_hloc.images import rotate_image


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def make_view(rng, size=(64, 48), fx=70.0, fy=75.0):
    K = np.array([[fx, 0, 30.2], [0, fy, 21.7], [0, 0, 1]])
    return View("a.png", K, random_rotation(rng), rng.normal(size=3) + [0, 0, 8], size)


def points_in_front(view, rng, n=50):
    """World points whose projections fall inside the image of ``view``."""
    w, h = view.size
    pix = rng.uniform([0, 0], [w - 1, h - 1], size=(n, 2))
    depth = rng.uniform(2, 10, size=n)
    rays = np.linalg.solve(view.K, np.concatenate([pix, np.ones((n, 1))], 1).T).T
    cam = rays * depth[:, None]
    return (cam - view.t) @ view.R, pix  # R^T (x - t)


@pytest.mark.parametrize("angle", [0, 90, 180, 270, -90, 30, 137.5, 359])
def test_rotated_camera_projects_onto_rotated_pixels(angle):
    rng = np.random.default_rng(0)
    view = make_view(rng)
    X, pix = points_in_front(view, rng)
    np.testing.assert_allclose(view.project(X), pix, atol=1e-9)
    rotated = scenes.rotate_view(view, angle)
    M, size = scenes.rotation_affine(view.size, angle)
    expected = pix @ M[:, :2].T + M[:, 2]
    np.testing.assert_allclose(rotated.project(X), expected, atol=1e-8)
    assert rotated.size == size
    # camera centre unchanged, pose still a rotation, third row of K untouched
    np.testing.assert_allclose(rotated.center, view.center, atol=1e-9)
    np.testing.assert_allclose(rotated.R @ rotated.R.T, np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(rotated.K[2], [0, 0, 1])


def test_90_degree_camera_is_exact_pinhole_with_swapped_focals():
    view = make_view(np.random.default_rng(1), size=(64, 48))
    r = scenes.rotate_view(view, 90)
    assert r.size == (48, 64)
    # x' = y, y' = W - 1 - x: cx' = cy, cy' = 63 - cx, fx' = fy, fy' = fx
    np.testing.assert_allclose(r.K, [[75, 0, 21.7], [0, 70, 63 - 30.2], [0, 0, 1]], atol=1e-12)
    assert r.angle == 90


def test_rotated_image_pixels_match_camera_exactly_for_90_multiples():
    """Pixel content moves where the camera says: a bright dot at a known 3D point."""
    rng = np.random.default_rng(2)
    view = make_view(rng, size=(40, 30))
    X, pix = points_in_front(view, rng, n=1)
    x0, y0 = np.round(pix[0]).astype(int)
    pix_int = np.array([[x0, y0]], float)
    image = np.zeros((30, 40), np.uint8)
    image[y0, x0] = 255
    for angle in (90, 180, 270):
        rotated_img = rotate_image(image, angle)[0]
        M, size = scenes.rotation_affine(view.size, angle)
        assert rotated_img.shape == (size[1], size[0])
        y1, x1 = np.argwhere(rotated_img == 255)[0]
        np.testing.assert_allclose(pix_int @ M[:, :2].T + M[:, 2], [[x1, y1]], atol=1e-9)


def test_rotated_image_arbitrary_angle_keeps_whole_image():
    image = np.zeros((30, 40), np.uint8)
    image[10:13, 20:23] = 255  # 3x3 blob centred at (21, 11)
    M, size = scenes.rotation_affine((40, 30), 33)
    rotated = rotate_image(image, 33)[0]
    assert rotated.shape == (size[1], size[0])
    w, h = 40 * np.cos(np.radians(33)) + 30 * np.sin(np.radians(33)), \
        40 * np.sin(np.radians(33)) + 30 * np.cos(np.radians(33))
    assert size == (int(np.ceil(w)), int(np.ceil(h)))
    ys, xs = np.nonzero(rotated > 64)
    centroid = np.array([xs.mean(), ys.mean()])
    np.testing.assert_allclose(centroid, M[:, :2] @ [21, 11] + M[:, 2], atol=0.3)


def test_inplane_rotation_difference_of_pure_roll():
    view = make_view(np.random.default_rng(3))
    for angle, expected in [(0, 0), (30, 30), (200, 160), (270, 90), (359, 1)]:
        r = scenes.rotate_view(view, angle)
        assert scenes.inplane_rotation_difference(view, r) == pytest.approx(expected, abs=1e-9)
        assert scenes.inplane_rotation_difference(r, view) == pytest.approx(expected, abs=1e-9)


def test_rotation_angles_modes():
    names = [f"{i}.png" for i in range(8)]
    assert set(scenes.rotation_angles(names, "none").values()) == {0.0}
    a90 = scenes.rotation_angles(names, "90", seed=1)
    assert sorted(a90.values()) == [0, 0, 90, 90, 180, 180, 270, 270]
    r1, r2 = (scenes.rotation_angles(names, "random", seed=s) for s in (1, 1))
    assert r1 == r2 and all(0 <= a < 360 for a in r1.values())
    assert r1 != scenes.rotation_angles(names, "random", seed=2)
    assert list(scenes.rotation_angles(names[:3], "0,-45").values()) == [0, 315, 0]
    with pytest.raises(ValueError, match="comma list"):
        scenes.rotation_angles(names, "sideways")


def test_resize_view_moves_pixel_centres():
    view = make_view(np.random.default_rng(4), size=(64, 48))
    X, pix = points_in_front(view, np.random.default_rng(5))
    small, scale = scenes.resize_view(view, 32)
    assert scale == 0.5 and small.size == (32, 24)
    np.testing.assert_allclose(small.project(X), 0.5 * (pix + 0.5) - 0.5, atol=1e-9)
    assert scenes.resize_view(view, 100) == (view, 1.0)


# --- readers on tiny hand-written files ------------------------------------------

def write_png(path, w=8, h=6):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def test_read_strecha(tmp_path):
    write_png(tmp_path / "images" / "0000.jpg")
    write_png(tmp_path / "images" / "no_camera.jpg")
    # camera-to-world R = rotation by 90 degrees about z, centre C = (1, 2, 3)
    (tmp_path / "gt_dense_cameras").mkdir()
    (tmp_path / "gt_dense_cameras" / "0000.jpg.camera").write_text(
        "100 0 4\n0 100 3\n0 0 1\n0 0 0\n0 -1 0\n1 0 0\n0 0 1\n1 2 3\n8 6\n")
    scene = scenes.read_scene(tmp_path, "strecha")
    assert scene.names == ["0000.jpg"]
    v = scene.views[0]
    np.testing.assert_allclose(v.R, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(v.center, [1, 2, 3])
    np.testing.assert_allclose(v.t, -v.R @ [1, 2, 3])
    assert v.size == (8, 6) and v.K[0, 2] == 4


def test_read_strecha_errors(tmp_path):
    write_png(tmp_path / "images" / "0000.jpg")
    (tmp_path / "gt_dense_cameras").mkdir()
    cam = tmp_path / "gt_dense_cameras" / "0000.jpg.camera"
    cam.write_text("1 2 3\n")
    with pytest.raises(ValueError, match="0000.jpg.camera: a Strecha .camera file has 26"):
        scenes.read_scene(tmp_path, "strecha")
    cam.write_text("100 0 4\n0 100 3\n0 0 1\n0 0 0\n2 0 0\n0 1 0\n0 0 1\n1 2 3\n8 6\n")
    with pytest.raises(ValueError, match="not a rotation"):
        scenes.read_scene(tmp_path, "strecha")
    cam.unlink()
    (tmp_path / "gt_dense_cameras" / "gone.jpg.camera").write_text("")
    with pytest.raises(FileNotFoundError, match="gone.jpg is missing"):
        scenes.read_scene(tmp_path, "strecha")


def test_read_middlebury(tmp_path):
    write_png(tmp_path / "a.png", 8, 6)
    write_png(tmp_path / "b.png", 10, 6)
    eye = "1 0 0 0 1 0 0 0 1"
    (tmp_path / "x_par.txt").write_text(
        f"2\na.png 50 0 3.5 0 50 2.5 0 0 1 {eye} 0.1 0.2 0.3\n"
        f"b.png 50 0 4.5 0 50 2.5 0 0 1 -1 0 0 0 -1 0 0 0 1 1 2 3\n")
    scene = scenes.read_scene(tmp_path, "middlebury")
    assert scene.names == ["a.png", "b.png"]
    np.testing.assert_allclose(scene["a.png"].t, [0.1, 0.2, 0.3])
    assert scene["b.png"].size == (10, 6)
    assert scenes.inplane_rotation_difference(scene["a.png"], scene["b.png"]) == pytest.approx(180)
    (tmp_path / "x_par.txt").write_text(f"1\na.png 50 0 3.5 0 50 2.5 0 0 1 {eye} 0.1 0.2\n")
    with pytest.raises(ValueError, match=r"x_par.txt:2: expected 'name' and 21 numbers"):
        scenes.read_scene(tmp_path, "middlebury")


def test_read_colmap_text_and_binary(tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    write_png(tmp_path / "images" / "a.png", 8, 6)
    model = tmp_path / "sparse" / "0"
    model.mkdir(parents=True)
    (model / "cameras.txt").write_text("1 PINHOLE 8 6 50 55 4.5 3.5\n")
    # qw qx qy qz = rotation by 180 degrees about x
    (model / "images.txt").write_text("1 0 1 0 0 0.1 0.2 0.3 1 a.png\n\n")
    (model / "points3D.txt").write_text("")
    scene = scenes.read_scene(tmp_path, "colmap")
    v = scene["a.png"]
    np.testing.assert_allclose(v.K, [[50, 0, 4], [0, 55, 3], [0, 0, 1]])  # -0.5 px shift
    np.testing.assert_allclose(v.R, np.diag([1, -1, -1]), atol=1e-12)
    np.testing.assert_allclose(v.t, [0.1, 0.2, 0.3])
    assert scene.image_dir == tmp_path / "images"
    binary = tmp_path / "bin"
    binary.mkdir()
    pycolmap.Reconstruction(str(model)).write_binary(str(binary))
    vb = scenes.read_colmap(binary, tmp_path / "images")["a.png"]
    np.testing.assert_allclose(vb.R, v.R, atol=1e-12)
    np.testing.assert_allclose(vb.K, v.K)
    (model / "cameras.txt").write_text("1 SIMPLE_RADIAL 8 6 50 4.5 3.5 0.1\n")
    with pytest.raises(ValueError, match="lens distortion"):
        scenes.read_scene(tmp_path, "colmap")


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown scene format 'x'"):
        scenes.read_scene(tmp_path, "x")


def test_write_variant_roundtrip(tmp_path):
    rng = np.random.default_rng(6)
    src = tmp_path / "src"
    image = (rng.uniform(0, 255, (40, 48, 3))).astype(np.uint8)
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), image)  # file content as written
    image = cv2.cvtColor(cv2.imread(str(src / "a.jpg")), cv2.COLOR_BGR2RGB)
    view = View("a.jpg", np.array([[30.0, 0, 23.5], [0, 30, 19.5], [0, 0, 1]]),
                np.eye(3), np.array([0, 0, 5.0]), (48, 40))
    scene = scenes.Scene(src, [view])
    out = scenes.write_variant(scene, tmp_path / "rot", {"a.jpg": 270})
    assert out.names == ["a.png"] and out.views[0].size == (40, 48)
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "rot" / "a.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(written, np.rot90(image, 3))
    np.testing.assert_allclose(out.views[0].R, scenes.roll_matrix(270))


# --- real data when present ---------------------------------------------------------

def test_shared_strecha_fountain(shared_data):
    scene = scenes.read_scene(shared_data / "strecha" / "fountain-P11", "strecha")
    assert len(scene) == 11 and scene.views[0].size == (1536, 1024)
    # Strecha's P = K [R^T | -R^T C] (R camera-to-world, C the centre), from the file's own
    # numbers, must equal our K [R | t]; the centre is the file's C
    v = scene.views[0]
    raw = np.loadtxt(shared_data / "strecha" / "fountain-P11" / "gt_dense_cameras" / "0000.jpg.camera",
                     max_rows=8)
    K, R_c2w, C = raw[:3], raw[4:7], raw[7]
    np.testing.assert_allclose(v.projection, K @ np.concatenate([R_c2w.T, (-R_c2w.T @ C)[:, None]], 1),
                               atol=1e-6)
    np.testing.assert_allclose(v.center, [-7.28137, -7.57667, 0.204446], atol=1e-4)
    assert 5 < scene.scene_size() < 20  # metres


def test_shared_middlebury_temple(shared_data):
    scene = scenes.read_scene(shared_data / "middlebury" / "templeSparseRing", "middlebury")
    assert len(scene) == 16 and scene.views[0].size == (640, 480)
    # the bounding box centre of the temple projects inside every image
    centre = np.array([(-0.073568 + 0.028855) / 2, (0.021728 + 0.181892) / 2,
                       (-0.012445 + 0.062736) / 2])
    for v in scene.views:
        x, y = v.project(centre[None])[0]
        assert 0 < x < 640 and 0 < y < 480, v.name
    # some views are natively upside-down relative to others
    rolls = [scenes.inplane_rotation_difference(scene.views[0], v) for v in scene.views]
    assert max(rolls) > 150


def test_overlapping_pairs_by_frustum_and_axis_angle():
    """Two cameras a step apart looking the same way overlap; one looking away, or turned by more
    than 60 degrees about the scene, does not; a roll changes nothing."""
    from relf_hloc.datasets.scenes import View, overlapping_pairs, roll_matrix

    K = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])

    def cam(name, centre, yaw_deg, roll=0.0):
        a = np.radians(yaw_deg)
        R = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])  # about y
        R = roll_matrix(roll) @ R
        return View(name, K, R, -R @ np.asarray(centre, float), (100, 80))
    views = [cam("a", [0, 0, 0], 0), cam("b", [0.5, 0, 0], 0, roll=90), cam("c", [0, 0, 0], 180),
             cam("d", [8.0, 0, 7.0], 80), cam("e", [-0.3, 0, 0], 5)]
    pairs = overlapping_pairs(views)
    assert frozenset("ab") in pairs and frozenset("ae") in pairs and frozenset("be") in pairs
    assert not any("c" in p or "d" in p for p in pairs)
