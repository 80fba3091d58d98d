import json

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from relf_hloc import geometry
from relf_hloc.datasets import render
from relf_hloc.datasets.scenes import View


def dot_rect(u0=37, v0=21, size=(64, 48)):
    """A 2 x 1.5 rectangle in the plane z = 0, black with one red texel at (u0, v0)."""
    texture = np.zeros((size[1], size[0], 3), np.uint8)
    texture[v0, u0] = (255, 0, 0)
    return render.TexturedRect("dot", np.array([-1.0, 0.75, 0]), np.array([2.0, 0, 0]),
                               np.array([0, -1.5, 0]), texture)


def small_camera(centre, target, roll=0.0, width=160, height=120, f=150.0):
    R, t = render.look_at(centre, target, roll)
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    return View("c.png", K, R, t, (width, height), -roll % 360)


def centroid(image):
    """Intensity-weighted centroid (OpenCV pixel convention) of a grey image."""
    w = image.astype(float)
    ys, xs = np.mgrid[:image.shape[0], :image.shape[1]]
    return np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()


@pytest.mark.parametrize("roll", [0.0, 73.0, -150.0])
@pytest.mark.parametrize("supersample", [2, 4])
def test_textured_point_lands_on_its_projection(roll, supersample):
    rect = dot_rect()
    X = rect.point(37, 21)
    camera = small_camera([0.4, -2.5, 3.0], [0.1, 0.0, 0.0], roll)
    image = render.render([rect], camera, supersample=supersample)
    expected, depth = camera.project(X), camera.depth(X)
    assert depth[0] > 0
    found = centroid(image[..., 0].astype(int) - image[..., 1])  # red minus grey background
    np.testing.assert_allclose(found, expected[0], atol=0.05)  # measured: <= 0.02 px


def test_rect_point_maps_texel_centres():
    rect = dot_rect(size=(64, 48))
    # texel centre (0, 0) is half a texel in from the corner; (63.5, 47.5) is the far corner
    np.testing.assert_allclose(rect.point(0, 0), [-1 + 1 / 64, 0.75 - 0.75 / 48, 0])
    np.testing.assert_allclose(rect.point(63.5, 47.5), [1.0, -0.75, 0])


def test_nearer_plane_hides_farther_one():
    far = render.TexturedRect("far", np.array([-5.0, 5, 0]), np.array([10.0, 0, 0]),
                              np.array([0, -10.0, 0]), np.full((8, 8, 3), (0, 0, 255), np.uint8))
    near = render.TexturedRect("near", np.array([-0.5, 0.5, 1]), np.array([1.0, 0, 0]),
                               np.array([0, -1.0, 0]), np.full((8, 8, 3), (255, 0, 0), np.uint8))
    camera = small_camera([0, -0.01, 5], [0, 0, 0])
    for order in ([far, near], [near, far]):  # result independent of drawing order
        image = render.render(order, camera)
        centre, corner = image[60, 80], image[5, 5]
        assert centre[0] > 100 and centre[2] == 0, centre
        assert corner[2] > 100 and corner[0] == 0, corner


def test_demo_cameras_are_rolled_as_stated():
    cameras = render.demo_cameras(12, 64, 48, seed=0)
    rolls = np.array([-c.angle for c in cameras])  # angle: counter-clockwise on screen
    rolls = (rolls + 180) % 360 - 180
    assert np.all(rolls[::2] == 0)
    assert np.all((np.abs(rolls[1::2]) >= 30) & (np.abs(rolls[1::2]) <= 180))
    assert len({round(r) for r in rolls[1::2]}) == 6  # seeded, different angles
    for cam, r in zip(cameras, rolls):
        R_upright, _ = render.look_at(cam.center, cam.center + cam.R[2], 0.0)
        roll = Rotation.from_matrix(cam.R @ R_upright.T).as_rotvec(degrees=True)
        np.testing.assert_allclose(roll, [0, 0, r], atol=1e-6)
        # the world's up direction (+z) points up in the image of an upright camera
        if r == 0:
            assert (cam.R @ [0, 0, 1.0])[1] < 0


def test_roll_turns_the_image_about_the_principal_point():
    X = np.array([[0.3, 0.2, 0.1], [-0.5, 0.4, 0.0], [0.0, -0.6, 0.3]])
    up = small_camera([1, -3, 2], [0, 0, 0], 0.0)
    rolled = small_camera([1, -3, 2], [0, 0, 0], 40.0)
    pp = up.K[:2, 2]
    a = np.radians(40.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    np.testing.assert_allclose(rolled.project(X) - pp, (up.project(X) - pp) @ rot.T, atol=1e-9)


def test_demo_scene_is_not_a_single_plane():
    normals = {tuple(np.round(r.normal, 6)) for r in render.demo_scene()}
    assert len({tuple(abs(x) for x in n) for n in normals}) == 3


def test_main_writes_a_colmap_model_matching_the_cameras(tmp_path):
    import pycolmap

    out = render.main(tmp_path / "scene", num_cameras=3, width=80, height=60, supersample=1)
    cameras = render.read_scene(out).views
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == [c.name for c in cameras]
    assert cv2.imread(str(out / "images" / names[0])).shape == (60, 80, 3)
    model = pycolmap.Reconstruction(str(out / "gt"))
    assert model.num_points3D() == 0 and len(model.images) == 3
    for image in model.images.values():
        cam = next(c for c in cameras if c.name == image.name)
        pose = image.cam_from_world()
        np.testing.assert_allclose(pose.rotation.matrix(), cam.R, atol=1e-9)
        np.testing.assert_allclose(pose.translation, cam.t, atol=1e-9)
        # COLMAP's pixel-corner origin: +0.5 on the principal point
        np.testing.assert_allclose(model.cameras[image.camera_id].calibration_matrix(),
                                   cam.K + [[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])
    # same parameters: reused as is; deterministic when rendered again
    first = cv2.imread(str(out / "images" / names[1]))
    mtime = (out / "scene.json").stat().st_mtime_ns
    render.main(out, num_cameras=3, width=80, height=60, supersample=1)
    assert (out / "scene.json").stat().st_mtime_ns == mtime
    render.main(out, num_cameras=3, width=80, height=60, supersample=1, overwrite=True)
    np.testing.assert_array_equal(cv2.imread(str(out / "images" / names[1])), first)
    assert json.loads((out / "scene.json").read_text())["params"]["num_cameras"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["scene"]  # no temporary folder left


def test_ground_truth_scale_is_the_camera_spread():
    cameras = render.demo_cameras(12)
    centres = np.array([c.center for c in cameras])
    assert 6 < geometry.scene_scale(centres) < 12  # an arc of 110 degrees at 5-6 m


def test_read_scene_names_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="scene.json"):
        render.read_scene(tmp_path)


def test_main_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(RuntimeError, match="does not look like a rendered scene"):
        render.main(tmp_path, num_cameras=2, width=32, height=24)
    assert (tmp_path / "mine.txt").exists()
