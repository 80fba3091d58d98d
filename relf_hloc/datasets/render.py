"""Render a small textured scene with exact pinhole cameras: ground truth
without any download.

The scene is a room corner: a floor of four tiles, two walls of two panels
each and a box standing on the floor, all textured with photos bundled in
scikit-image (``skimage.data``). Cameras stand on an arc in front of it, look
at its centre from varying heights, and every other camera is rolled about
its optical axis by a large seeded angle (30-180 degrees either way).

Each textured rectangle is drawn by warping its texture with the exact
plane-to-image homography (``cv2.warpPerspective``); a per-pixel depth
computed from the ray-plane intersection composites the planes (z-buffer).
Rendering happens at ``supersample`` times the resolution and is averaged
down, which anti-aliases edges and minified textures.

Cameras are ``relf_hloc.datasets.scenes.View`` (world-to-camera ``R``, ``t``;
intrinsics ``K`` with the pixel centre at integer coordinates; ``angle`` the roll,
counter-clockwise on screen). The ground truth is also written as a COLMAP text model
(``cameras.txt``, ``images.txt``, empty ``points3D.txt``; COLMAP's pixel-corner origin)
readable by ``pycolmap.Reconstruction``.

    python -m relf_hloc.datasets.render OUTPUT_DIR   # OUTPUT_DIR/images, OUTPUT_DIR/gt, scene.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import skimage.data
from scipy.spatial.transform import Rotation

from ..images import write_image
from ..io import OutputFolder, write_json, write_text
from .scenes import Scene, View

# Directional light for flat shading, so faces of the same texture differ.
LIGHT = np.array([0.4, -0.5, 0.75]) / np.linalg.norm([0.4, -0.5, 0.75])
AMBIENT = 0.55
BACKGROUND = (128, 128, 128)
NEAR = 1e-3


@dataclass
class TexturedRect:
    """A planar rectangle carrying an image.

    origin [3]: world position of the texture's top-left corner; u_edge [3],
    v_edge [3]: world vectors along the texture's full width and height;
    texture [h, w, 3] uint8 RGB.
    """

    name: str
    origin: np.ndarray
    u_edge: np.ndarray
    v_edge: np.ndarray
    texture: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the quad."""
        n = np.cross(self.u_edge, self.v_edge)
        return n / np.linalg.norm(n)

    def texel_to_world(self) -> np.ndarray:
        """[4, 3] affine map from texel (u, v, 1) (pixel centres at integers) to
        homogeneous world points (X, 1): columns u-axis, v-axis, offset."""
        h, w = self.texture.shape[:2]
        du, dv = self.u_edge / w, self.v_edge / h
        A = np.zeros((4, 3))
        A[:3, 0], A[:3, 1] = du, dv
        A[:3, 2], A[3, 2] = self.origin + 0.5 * (du + dv), 1.0
        return A

    def point(self, u: float, v: float) -> np.ndarray:
        """World point [3] at texel (u, v) (pixel-centre-at-integer coordinates)."""
        return (self.texel_to_world() @ np.array([u, v, 1.0]))[:3]


def look_at(centre, target, roll_deg: float = 0.0, up=(0.0, 0.0, 1.0)) -> Tuple[np.ndarray, np.ndarray]:
    """World-to-camera (R, t) of a camera at ``centre`` looking at ``target``.

    With roll 0 the image x axis is horizontal (perpendicular to ``up``) and y
    points down. A roll turns the camera about its optical axis so that the
    image content turns by +roll_deg in image coordinates (x right, y down:
    clockwise on screen; the view's ``angle`` is then -roll_deg).
    """
    centre, target, up = (np.asarray(a, float) for a in (centre, target, up))
    z = target - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction parallel to up")
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    R = Rotation.from_euler("z", roll_deg, degrees=True).as_matrix() @ R
    return R, -R @ centre


def load_texture(name: str, aspect: float = None, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    """An image bundled with scikit-image as uint8 RGB [h, w, 3], centre-cropped
    to width/height ``aspect`` and multiplied by ``tint`` (grey images get colour)."""
    try:
        image = np.asarray(getattr(skimage.data, name)())
    except (AttributeError, OSError, ValueError) as e:
        raise RuntimeError(f"skimage.data.{name}: bundled sample image unavailable ({e})") from e
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    if aspect is not None:
        h, w = image.shape[:2]
        if w / h > aspect:
            cw = int(round(h * aspect))
            image = image[:, (w - cw) // 2:(w - cw) // 2 + cw]
        else:
            ch = int(round(w / aspect))
            image = image[(h - ch) // 2:(h - ch) // 2 + ch]
    return np.clip(image * np.asarray(tint), 0, 255).astype(np.uint8)


def _rect(name, origin, u_edge, v_edge, texture, tint=(1, 1, 1)) -> TexturedRect:
    u_edge, v_edge = np.asarray(u_edge, float), np.asarray(v_edge, float)
    tex = load_texture(texture, np.linalg.norm(u_edge) / np.linalg.norm(v_edge), tint)
    return TexturedRect(name, np.asarray(origin, float), u_edge, v_edge, tex)


def demo_scene() -> List[TexturedRect]:
    """The demo's room corner (units: about metres; floor z = 0, up +z).

    Floor [-4, 4]^2 in four tiles, back wall y = 4 and left wall x = -4 (4 high),
    a 1.6 x 1.2 x 1.2 box near the centre. Every surface has its own photo, so
    no two surfaces look alike.
    """
    ex, ey, ez = np.eye(3) * 4.0
    rects = [
        # floor tiles: texture rows (v) run towards -y so the photos read upright from the cameras
        _rect("floor_nw", (-4, 4, 0), ex, -ey, "moon", (0.8, 0.85, 1.0)),
        _rect("floor_ne", (0, 4, 0), ex, -ey, "immunohistochemistry"),
        _rect("floor_sw", (-4, 0, 0), ex, -ey, "grass", (0.7, 1.0, 0.6)),
        _rect("floor_se", (0, 0, 0), ex, -ey, "gravel", (1.0, 0.85, 0.65)),
        # back wall (y = 4), seen from -y; left wall (x = -4), seen from +x
        _rect("back_left", (-4, 4, 4), ex, -ez, "astronaut"),
        _rect("back_right", (0, 4, 4), ex, -ez, "coffee"),
        _rect("left_near", (-4, -4, 4), ey, -ez, "rocket"),
        _rect("left_far", (-4, 0, 4), ey, -ez, "hubble_deep_field"),
    ]
    # box: x in [-0.3, 1.3], y in [-0.1, 1.1], z in [0, 1.2]
    x0, x1, y0, y1, h = -0.3, 1.3, -0.1, 1.1, 1.2
    rects += [
        _rect("box_front", (x0, y0, h), (x1 - x0, 0, 0), (0, 0, -h), "chelsea"),
        _rect("box_right", (x1, y0, h), (0, y1 - y0, 0), (0, 0, -h), "coins", (1.0, 0.9, 0.7)),
        _rect("box_left", (x0, y1, h), (0, y0 - y1, 0), (0, 0, -h), "text", (0.7, 0.8, 1.0)),
        _rect("box_back", (x1, y1, h), (x0 - x1, 0, 0), (0, 0, -h), "page"),
        _rect("box_top", (x0, y1, h), (x1 - x0, 0, 0), (0, y0 - y1, 0), "camera", (1.0, 0.8, 0.8)),
    ]
    return rects


def demo_cameras(num_cameras: int = 12, width: int = 640, height: int = 480, seed: int = 0,
                 focal_factor: float = 0.8) -> List[View]:
    """Cameras on an arc in front of ``demo_scene``, looking at the box.

    Azimuths spread evenly over [-100, 10] degrees at 5-6 m from the centre,
    heights 2-3.5 m; every odd-indexed camera is rolled by a seeded angle with
    magnitude in [30, 180] degrees. Shared intrinsics: focal focal_factor * width,
    principal point at the image centre (COLMAP's (w/2, h/2) from the pixel corner).
    """
    if num_cameras < 2:
        raise ValueError(f"demo_cameras: need at least 2 cameras, got {num_cameras}")
    rng = np.random.default_rng(seed)
    f = focal_factor * width
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1.0]])
    azimuths = np.radians(np.linspace(-100, 10, num_cameras))
    cameras = []
    for i, az in enumerate(azimuths):
        radius, height_m = rng.uniform(5.0, 6.0), rng.uniform(2.0, 3.5)
        target = np.array([0.5, 0.5, 0.6]) + rng.uniform(-0.3, 0.3, 3)
        roll = round(float(rng.choice([-1, 1]) * rng.uniform(30, 180)), 3) if i % 2 else 0.0
        centre = np.array([radius * np.cos(az), radius * np.sin(az), height_m])
        R, t = look_at(centre, target, roll)
        cameras.append(View(f"view_{i:02d}.png", K.copy(), R, t, (width, height), -roll % 360))
    return cameras


def render(rects: Sequence[TexturedRect], camera: View, supersample: int = 2) -> np.ndarray:
    """Image uint8 RGB [height, width, 3] of the rectangles seen by ``camera``."""
    s = int(supersample)
    width, height = camera.size
    W, H = width * s, height * s
    # pixel centres at integers at both sizes: x_s = s * x + (s - 1) / 2
    K = np.array([[s, 0, (s - 1) / 2], [0, s, (s - 1) / 2], [0, 0, 1.0]]) @ camera.K
    rays = np.stack(np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float)), -1)
    rays = np.concatenate([rays, np.ones((H, W, 1))], -1) @ np.linalg.inv(K).T  # [H, W, 3], z = 1
    image = np.empty((H, W, 3), np.uint8)
    image[:] = BACKGROUND
    zbuffer = np.full((H, W), np.inf)
    Rt = np.concatenate([camera.R, camera.t[:, None]], 1)
    for rect in rects:
        M = Rt @ rect.texel_to_world()  # texel (u, v, 1) -> camera frame
        Hom = K @ M
        # depth of each pixel's ray on the rectangle's plane: z = (n . p) / (n . ray)
        n = camera.R @ rect.normal
        denom = rays @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = (n @ M[:, 2]) / denom
            uvw = rays @ np.linalg.inv(M).T  # texel coordinates of the ray's hit point
            u, v = uvw[..., 0] / uvw[..., 2], uvw[..., 1] / uvw[..., 2]
        th, tw = rect.texture.shape[:2]
        visible = ((depth > NEAR) & (depth < zbuffer) & (u >= -0.5) & (u <= tw - 0.5)
                   & (v >= -0.5) & (v <= th - 0.5))
        if not visible.any():
            continue
        shade = AMBIENT + (1 - AMBIENT) * abs(float(rect.normal @ LIGHT))
        colour = cv2.warpPerspective(rect.texture, Hom, (W, H), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
        image[visible] = np.clip(colour[visible] * shade, 0, 255).astype(np.uint8)
        zbuffer[visible] = depth[visible]
    if s > 1:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


def rotation_to_qvec(R: np.ndarray) -> np.ndarray:
    """COLMAP quaternion (w, x, y, z) of a rotation matrix, w >= 0."""
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    q = np.array([w, x, y, z])
    return q if w >= 0 else -q


def write_colmap_text(cameras: Sequence[View], path) -> Path:
    """Write cameras as a COLMAP text model (one shared PINHOLE camera when all
    intrinsics agree, else one per image; no 3D points) into folder ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    intrinsics, camera_ids = [], []
    for cam in cameras:
        K = cam.K + np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])  # COLMAP: pixel-corner origin
        key = (*map(int, cam.size), *(float(K[i, j]) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2))))
        if key not in intrinsics:
            intrinsics.append(key)
        camera_ids.append(intrinsics.index(key) + 1)
    lines = ["# Camera list with one line of data per camera:",
             "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    lines += [f"{i + 1} PINHOLE {w} {h} {fx!r} {fy!r} {cx!r} {cy!r}"
              for i, (w, h, fx, fy, cx, cy) in enumerate(intrinsics)]
    write_text(path / "cameras.txt", "\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:",
             "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
             "#   POINTS2D[] as (X, Y, POINT3D_ID)"]
    for image_id, (cam, camera_id) in enumerate(zip(cameras, camera_ids), 1):
        q = " ".join(repr(float(a)) for a in rotation_to_qvec(cam.R))
        t = " ".join(repr(float(a)) for a in cam.t)
        lines += [f"{image_id} {q} {t} {camera_id} {cam.name}", ""]
    write_text(path / "images.txt", "\n".join(lines) + "\n")
    write_text(path / "points3D.txt",
        "# 3D point list with one line of data per point:\n"
        "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n")
    return path


def scene_params(num_cameras: int, width: int, height: int, seed: int, supersample: int) -> dict:
    """The parameters that define a rendered scene (a changed one renders it again)."""
    return {"num_cameras": num_cameras, "width": width, "height": height, "seed": seed,
            "supersample": supersample, "version": 2}


def main(output, num_cameras: int = 12, width: int = 640, height: int = 480, seed: int = 0,
         supersample: int = 2, overwrite: bool = False) -> Path:
    """Render the demo scene into ``output``: ``images/*.png``, the ground-truth
    COLMAP text model ``gt/`` and ``scene.json`` (parameters, K, R, t, rolls).

    ``scene.json`` is written last: a folder holding it with the same parameters
    is complete and is reused unless ``overwrite``. Returns ``output``.
    """
    output = Path(output)
    params = scene_params(num_cameras, width, height, seed, supersample)
    meta_path = output / "scene.json"
    if not overwrite and meta_path.exists():
        try:
            if json.loads(meta_path.read_text()).get("params") == params:
                return output
        except json.JSONDecodeError:
            pass  # a broken scene.json: rendered again
    cameras = demo_cameras(num_cameras, width, height, seed)
    rects = demo_scene()
    # rendered into a sibling folder and swapped in: a stopped run leaves no partial scene
    with OutputFolder(output, owned_markers=("scene.json",), what="a rendered scene") as partial:
        for cam in cameras:
            write_image(partial / "images" / cam.name, render(rects, cam, supersample))
        write_colmap_text(cameras, partial / "gt")
        meta = {"params": params, "units": "metres (scene: floor [-4, 4]^2, walls 4 high)",
                "scene_size_note": "position errors are in % of the largest distance between two "
                                   "ground-truth camera centres (relf_hloc.eval.poses)",
                "cameras": [{"name": c.name, "angle": c.angle, "K": c.K.tolist(),
                             "R": c.R.tolist(), "t": c.t.tolist()} for c in cameras]}
        write_json(partial / "scene.json", meta)
    return output


def read_scene(path) -> Scene:
    """The scene of a folder written by ``main`` (its images and cameras, from scene.json)."""
    meta_path = Path(path) / "scene.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path}: no such file (not a rendered scene folder)")
    meta = json.loads(meta_path.read_text())
    p = meta["params"]
    views = [View(c["name"], np.array(c["K"]), np.array(c["R"]), np.array(c["t"]),
                  (p["width"], p["height"]), c["angle"]) for c in meta["cameras"]]
    return Scene(Path(path) / "images", views, name="rendered", meta={"format": "rendered", **p})


def parse_args(argv=None):
    """Arguments of ``python -m relf_hloc.datasets.render``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--num-cameras", type=int, default=12)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--supersample", type=int, default=2)
    parser.add_argument("--overwrite", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    print(main(a.output, a.num_cameras, a.width, a.height, a.seed, a.supersample, a.overwrite))
