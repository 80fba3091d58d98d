"""Scenes with ground-truth cameras, and their rotated-camera variants.

One in-memory form for every dataset: a :class:`Scene` is an image folder plus
one :class:`View` per image (name relative to the folder, intrinsics ``K``,
world-to-camera ``R``, ``t`` and image size). Pixel convention everywhere: the
centre of the top-left pixel is (0, 0), as in OpenCV and hloc features files
(COLMAP's (0.5, 0.5) is converted on reading).

Readers:
- :func:`read_strecha`: ``<scene>/images/<img>`` + ``<scene>/gt_dense_cameras/<img>.camera``
  (K 3x3; 3 zeros; camera-to-world R 3x3; camera centre C; width height;
  P = K [R^T | -R^T C]).
- :func:`read_middlebury`: ``<scene>/*_par.txt``, one line per image:
  ``name k11..k33 r11..r33 t1 t2 t3`` with P = K [R | t].
- :func:`read_colmap`: a COLMAP model, text or binary (through pycolmap).

Rotated-camera variants (:func:`rotate_scene`): every image rotated in-plane by
an angle with the whole image kept (expanded canvas). In pixel coordinates a
counter-clockwise rotation (as seen on screen, y down) by ``a`` maps
``p' = A (p - c) + c'`` with ``A = [[cos a, sin a], [-sin a, cos a]]``, ``c`` and
``c'`` the centres of the old image and the new canvas. The camera that takes
this picture is the old one rolled about its optical axis:
``R' = Rz R``, ``t' = Rz t`` with ``Rz = [[A, 0], [0, 1]]``, and
``K' = [[A F A^T, c' + A (pp - c)], [0, 0, 1]]`` where ``F`` is the 2x2 focal
block of ``K`` and ``pp`` its principal point. This is exact for any angle;
for multiples of 90 degrees K' is again a pinhole (fx and fy swapped for odd
multiples); for other angles and fx != fy it carries a small off-diagonal term
(fx - fy) sin a cos a, which normalised-coordinate metrics handle exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import pycolmap

from .. import geometry
from ..images import list_images, read_image, rotate_image, write_image
from ..io import write_json

FORMATS = ("strecha", "middlebury", "colmap")


@dataclass
class View:
    """One image with its ground-truth camera.

    name: image path relative to the scene's image folder (POSIX).
    K: [3, 3] intrinsics, pixel centre at integer coordinates.
    R: [3, 3] world-to-camera rotation; t: [3] translation (x_cam = R X + t).
    size: (width, height) in pixels.
    angle: in-plane rotation (degrees, counter-clockwise) applied to the
        original image to make this one (0 for the original).
    """

    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: Tuple[int, int]
    angle: float = 0.0

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates [3]."""
        return -self.R.T @ self.t

    @property
    def projection(self) -> np.ndarray:
        """P = K [R | t], [3, 4]."""
        return self.K @ np.concatenate([self.R, self.t[:, None]], 1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points [N, 3] -> pixels [N, 2]."""
        x = (np.atleast_2d(np.asarray(points, np.float64)) @ self.R.T + self.t) @ self.K.T
        return x[:, :2] / x[:, 2:]

    def depth(self, points: np.ndarray) -> np.ndarray:
        """Depth [N] of world points [N, 3] along the optical axis (> 0: in front)."""
        return (np.atleast_2d(np.asarray(points, np.float64)) @ self.R.T + self.t)[:, 2]

    def colmap_camera(self, camera_id: int = 1):
        """pycolmap PINHOLE camera (COLMAP's pixel-corner origin: +0.5). K's off-diagonal
        terms (only for rotations off the 90-degree grid when fx != fy; well under a pixel
        on the shared scenes) are not representable in COLMAP and are dropped."""
        K = self.K
        return pycolmap.Camera(model="PINHOLE", width=self.size[0], height=self.size[1],
                               params=np.array([K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]),
                               camera_id=camera_id)


@dataclass
class Scene:
    """Image folder + ground-truth views (sorted by name)."""

    image_dir: Path
    views: List[View]
    name: str = ""
    meta: Dict = field(default_factory=dict)

    def __post_init__(self):
        self.image_dir = Path(self.image_dir)
        self.views = sorted(self.views, key=lambda v: v.name)
        names = [v.name for v in self.views]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.image_dir}: duplicate image names in the scene")

    @property
    def names(self) -> List[str]:
        """Image names, in view order."""
        return [v.name for v in self.views]

    def __getitem__(self, name: str) -> View:
        for v in self.views:
            if v.name == name:
                return v
        raise KeyError(f"scene {self.name or self.image_dir}: no image '{name}'")

    def __len__(self) -> int:
        return len(self.views)

    def scene_size(self) -> float:
        """Scale of the scene for relative position thresholds: the largest
        distance between two camera centres."""
        return geometry.scene_scale(np.stack([v.center for v in self.views]))

    def subset(self, names: Iterable[str]) -> "Scene":
        """The scene of the views named in ``names``."""
        keep = set(names)
        return replace(self, views=[v for v in self.views if v.name in keep])

    def colmap_model(self):
        """pycolmap.Reconstruction with the ground-truth cameras and poses, one camera per
        image, no 3D points."""
        rec = pycolmap.Reconstruction()
        for image_id, view in enumerate(self.views, 1):
            rec.add_camera_with_trivial_rig(view.colmap_camera(image_id))
            image = pycolmap.Image(name=view.name, camera_id=image_id, image_id=image_id)
            rec.add_image_with_trivial_frame(image, pycolmap.Rigid3d(pycolmap.Rotation3d(view.R), view.t))
        return rec


def _numbers(path: Path) -> List[float]:
    try:
        return [float(x) for x in path.read_text().split()]
    except ValueError as e:
        raise ValueError(f"{path}: expected only numbers ({e})") from e


def _check_rotation(R: np.ndarray, where: str) -> None:
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
        raise ValueError(f"{where}: R is not a rotation matrix")


def _image_size(path: Path) -> Tuple[int, int]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise FileNotFoundError(f"{path}: image not found or unreadable")
    return int(image.shape[1]), int(image.shape[0])


def read_strecha_camera(path) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, int]]:
    """One Strecha ``.camera`` file -> (K [3,3], world-to-camera R [3,3], t [3], (w, h))."""
    path = Path(path)
    values = _numbers(path)
    if len(values) != 26:
        raise ValueError(f"{path}: a Strecha .camera file has 26 numbers "
                         f"(K 9, zeros 3, R 9, C 3, w h), found {len(values)}")
    K = np.array(values[:9]).reshape(3, 3)
    R_cam_to_world = np.array(values[12:21]).reshape(3, 3)
    C = np.array(values[21:24])
    _check_rotation(R_cam_to_world, str(path))
    R = R_cam_to_world.T
    return K, R, -R @ C, (int(values[24]), int(values[25]))


def read_strecha(scene_dir) -> Scene:
    """Strecha scene: ``images/`` and ``gt_dense_cameras/<image>.camera``.

    Images without a camera file are skipped (Strecha ships a few); a camera
    file without its image is an error.
    """
    root = Path(scene_dir)
    image_dir, camera_dir = root / "images", root / "gt_dense_cameras"
    if not camera_dir.is_dir():
        camera_dir = image_dir  # some copies keep the .camera files beside the images
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{root}: a Strecha scene needs an images/ folder")
    views = []
    for camera_file in sorted(camera_dir.glob("*.camera")):
        name = camera_file.name[: -len(".camera")]
        if not (image_dir / name).is_file():
            raise FileNotFoundError(f"{camera_file}: its image {image_dir / name} is missing")
        K, R, t, size = read_strecha_camera(camera_file)
        views.append(View(name, K, R, t, size))
    if not views:
        raise FileNotFoundError(f"{root}: no <image>.camera files in {camera_dir}")
    return Scene(image_dir, views, name=root.name, meta={"format": "strecha"})


def read_middlebury(scene_dir) -> Scene:
    """Middlebury multi-view scene: ``<scene>/*_par.txt`` next to the images."""
    root = Path(scene_dir)
    par_files = sorted(root.glob("*_par.txt")) if root.is_dir() else [root]
    if not par_files or not par_files[0].is_file():
        raise FileNotFoundError(f"{root}: no *_par.txt camera file found")
    if len(par_files) > 1:
        raise ValueError(f"{root}: several *_par.txt files ({[p.name for p in par_files]}); "
                         f"pass the one to use")
    par = par_files[0]
    lines = [line.split() for line in par.read_text().splitlines() if line.strip()]
    count = lines[0]
    if len(count) == 1:  # the first line holds the number of views
        lines = lines[1:]
        if int(count[0]) != len(lines):
            raise ValueError(f"{par}: header says {count[0]} views, found {len(lines)} lines")
    views = []
    for i, parts in enumerate(lines, 2 if len(count) == 1 else 1):
        if len(parts) != 22:
            raise ValueError(f"{par}:{i}: expected 'name' and 21 numbers (K 9, R 9, t 3), "
                             f"found {len(parts) - 1} numbers")
        try:
            values = np.array([float(x) for x in parts[1:]])
        except ValueError as e:
            raise ValueError(f"{par}:{i}: {e}") from e
        K, R, t = values[:9].reshape(3, 3), values[9:18].reshape(3, 3), values[18:]
        _check_rotation(R, f"{par}:{i}")
        views.append(View(parts[0], K, R, t, _image_size(par.parent / parts[0])))
    return Scene(par.parent, views, name=par.parent.name, meta={"format": "middlebury"})


PINHOLE_PARAMS = {  # COLMAP model -> (fx, fy, cx, cy) indices into params, distortion start
    "SIMPLE_PINHOLE": ((0, 0, 1, 2), 3),
    "PINHOLE": ((0, 1, 2, 3), 4),
    "SIMPLE_RADIAL": ((0, 0, 1, 2), 3),
    "RADIAL": ((0, 0, 1, 2), 3),
    "OPENCV": ((0, 1, 2, 3), 4),
    "FULL_OPENCV": ((0, 1, 2, 3), 4),
}


def read_colmap(model_dir, image_dir=None) -> Scene:
    """COLMAP model (cameras/images/points3D, .txt or .bin) -> Scene.

    Only registered images are used. Lens distortion is not modelled by the
    benchmark: a model with non-zero distortion parameters is refused (undistort
    it first with ``colmap image_undistorter``).
    image_dir: defaults to ``<model_dir>/../images`` or ``<model_dir>/../../images``.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir}: COLMAP model folder not found")
    stems = {p.stem for p in model_dir.iterdir() if p.suffix in (".txt", ".bin")}
    if not {"cameras", "images"} <= stems:
        raise FileNotFoundError(f"{model_dir}: no cameras/images .txt or .bin COLMAP files")
    if image_dir is None:
        candidates = [model_dir / "images", model_dir.parent / "images",
                      model_dir.parent.parent / "images"]
        image_dir = next((c for c in candidates if c.is_dir()), model_dir.parent / "images")
    rec = pycolmap.Reconstruction(str(model_dir))
    views = []
    for image in rec.images.values():
        if not image.has_pose:
            continue
        camera = rec.cameras[image.camera_id]
        model = camera.model.name
        if model not in PINHOLE_PARAMS:
            raise ValueError(f"{model_dir}: camera {image.camera_id} has model {model}; "
                             f"only {sorted(PINHOLE_PARAMS)} are read")
        (fx, fy, cx, cy), dist = PINHOLE_PARAMS[model]
        p = np.asarray(camera.params, np.float64)
        if np.any(np.abs(p[dist:]) > 1e-9):
            raise ValueError(f"{model_dir}: camera {image.camera_id} ({model}) has lens "
                             f"distortion {p[dist:].tolist()}; undistort the images first")
        # COLMAP puts the centre of the top-left pixel at (0.5, 0.5); we use (0, 0).
        K = np.array([[p[fx], 0, p[cx] - 0.5], [0, p[fy], p[cy] - 0.5], [0, 0, 1]])
        pose = image.cam_from_world()
        views.append(View(image.name, K, np.asarray(pose.rotation.matrix()),
                          np.asarray(pose.translation, np.float64),
                          (int(camera.width), int(camera.height))))
    if not views:
        raise ValueError(f"{model_dir}: the COLMAP model has no registered image")
    return Scene(image_dir, views, name=model_dir.name, meta={"format": "colmap"})


def read_scene(path, format: str, image_dir=None) -> Scene:
    """Read a scene in one of FORMATS. For ``colmap``, ``path`` is the scene folder
    (holding ``images/`` and ``sparse/`` or ``sparse/0``) or the model folder itself."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: scene not found")
    if format == "strecha":
        return read_strecha(path)
    if format == "middlebury":
        return read_middlebury(path)
    if format == "colmap":
        for model in (path, path / "sparse" / "0", path / "sparse"):
            if model.is_dir() and any((model / f"cameras{e}").is_file() for e in (".txt", ".bin")):
                return read_colmap(model, image_dir)
        raise FileNotFoundError(f"{path}: no COLMAP model (cameras.txt/.bin) in it, "
                                f"sparse/ or sparse/0/")
    raise ValueError(f"unknown scene format '{format}' (choose from {', '.join(FORMATS)})")


# ---------------------------------------------------------------------------
# Rotated-camera variants


def roll_matrix(angle_deg: float) -> np.ndarray:
    """Rz [3, 3]: rotation about the optical axis whose image-plane part is the
    pixel rotation A = [[c, s], [-s, c]] (counter-clockwise on screen, y down)."""
    a = math.radians(angle_deg)
    c, s = _snap(math.cos(a)), _snap(math.sin(a))
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _snap(x: float) -> float:
    """Exact 0/+-1 for multiples of 90 degrees (cos(pi/2) is 6e-17, not 0)."""
    r = round(x)
    return float(r) if abs(x - r) < 1e-12 else x


def rotation_affine(size: Tuple[int, int], angle_deg: float) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Pixel map of the in-plane rotation onto the expanded canvas:
    (M [2, 3] with p' = M [p; 1], new size (w, h)). Same map as the Roto-360
    generator (one definition of the rotation, shared)."""
    H, new_size = geometry.rotation_homography(angle_deg, *size)
    return H[:2], new_size


def rotate_view(view: View, angle_deg: float) -> View:
    """The ground-truth camera of ``view``'s image rotated by ``angle_deg``."""
    M, new_size = rotation_affine(view.size, angle_deg)
    Rz = roll_matrix(angle_deg)
    H = np.eye(3)
    H[:2] = M  # pixels -> rotated pixels
    # K' = H K Rz^T keeps projections consistent: K' (Rz x) = H K x; exact, and
    # upper-triangular whenever A commutes with the focal block (90-multiples).
    K = H @ view.K @ Rz.T
    K[np.abs(K) < 1e-12] = 0.0
    return View(view.name, K, Rz @ view.R, Rz @ view.t, new_size,
                (view.angle + angle_deg) % 360)


def rotation_angles(names: Sequence[str], mode: str, seed: int = 0) -> Dict[str, float]:
    """Angle per image (degrees): ``none`` (all 0), ``90`` (seeded random multiples
    of 90, cycling 0/90/180/270 so each appears), ``random`` (seeded uniform over
    [0, 360)), or a comma list of angles assigned cyclically (``0,45,90``)."""
    rng = np.random.default_rng(seed)
    n = len(names)
    if mode == "none":
        angles = np.zeros(n)
    elif mode == "90":
        angles = rng.permutation(np.arange(n) % 4) * 90.0
    elif mode == "random":
        angles = np.round(rng.uniform(0, 360, n), 1)
    else:
        try:
            fixed = [float(a) for a in mode.split(",")]
        except ValueError:
            raise ValueError(f"rotation '{mode}': use none, 90, random or a comma list of "
                             f"angles in degrees") from None
        angles = np.array([fixed[i % len(fixed)] for i in range(n)])
    return {name: float(a % 360) for name, a in zip(names, angles)}


def resize_view(view: View, max_size: int) -> Tuple[View, float]:
    """Camera of the image downscaled so that its longer side is <= max_size.

    Returns (view, scale); scale 1 means unchanged. Pixel centres map as
    x' = s (x + 0.5) - 0.5, with s per axis = new size / old size.
    """
    w, h = view.size
    scale = min(1.0, max_size / max(w, h))
    if scale == 1.0:
        return view, 1.0
    new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    sx, sy = new_size[0] / w, new_size[1] / h
    S = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
    return replace(view, K=S @ view.K, size=new_size), scale


def write_variant(scene: Scene, output_dir, angles: Optional[Dict[str, float]] = None,
                  max_size: Optional[int] = None) -> Scene:
    """Write each image of ``scene`` (optionally downscaled to ``max_size``, then
    rotated by ``angles[name]``) into ``output_dir`` as PNG, and return the scene
    of the new images with exactly updated cameras.

    Images already written with the right size are kept (resumable).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    views = []
    for view in scene.views:
        angle = (angles or {}).get(view.name, 0.0)
        new_view, scale = resize_view(view, max_size) if max_size else (view, 1.0)
        new_view = rotate_view(new_view, angle)
        name = Path(view.name).with_suffix(".png").as_posix()
        new_view = replace(new_view, name=name)
        path = output_dir / name
        if not (path.is_file() and _image_size(path) == new_view.size):
            image = read_image(scene.image_dir / view.name)
            if scale != 1.0:
                w, h = resize_view(view, max_size)[0].size
                image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            write_image(path, rotate_image(image, angle)[0])
        views.append(new_view)
    return Scene(output_dir, views, name=scene.name,
                 meta={**scene.meta, "source": str(scene.image_dir), "max_size": max_size})


def rotated_variant(source: Union["Scene", Path], output, rotation: str, seed: int = 0,
                    max_size: Optional[int] = None) -> Tuple[Path, Optional["Scene"]]:
    """A rotation variant (``rotation_angles`` of ``rotation`` and ``seed``), downscaled to
    ``max_size``, written as PNG into ``output``/images (resumable): (image folder, the scene
    with its cameras turned with the images, also written to ``output``/cameras.json). A plain
    image folder as ``source`` has no ground truth: (image folder, None)."""
    output = Path(output)
    if isinstance(source, Scene):
        variant = write_variant(source, output / "images", rotation_angles(source.names, rotation, seed), max_size)
        write_json(output / "cameras.json", {v.name: {"angle": v.angle, "K": v.K.tolist(), "R": v.R.tolist(),
                                                      "t": v.t.tolist(), "size": list(v.size)}
                                             for v in variant.views})
        return variant.image_dir, variant
    for name, angle in rotation_angles(list_images(source), rotation, seed).items():
        path = output / "images" / Path(name).with_suffix(".png")
        if not path.is_file():
            image = read_image(Path(source) / name)
            if max_size and max(image.shape[:2]) > max_size:
                s = max_size / max(image.shape[:2])
                image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            write_image(path, rotate_image(image, angle)[0])
    return output / "images", None


def scene_centre(views: Sequence[View]) -> np.ndarray:
    """The point nearest to every optical axis (least squares)."""
    A, b = np.zeros((3, 3)), np.zeros(3)
    for v in views:
        d = v.R[2]  # optical axis in world coordinates
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ v.center
    return np.linalg.solve(A, b)


def overlapping_pairs(views: Sequence[View], grid: int = 16, min_overlap: float = 0.3, max_angle: float = 60.0) -> set:
    """Unordered name pairs of views that overlap (the ground truth of retrieval): each view's image
    sampled on a ``grid`` x ``grid`` lattice of pixels, lifted to the depth of ``scene_centre``; a pair
    overlaps when each sees at least ``min_overlap`` of the other's points (in front, inside its image)
    and their optical axes are at most ``max_angle`` degrees apart. A roll changes neither number."""
    centre = scene_centre(views)
    n = len(views)
    seen = np.zeros((n, n))
    for i, v in enumerate(views):
        w, h = v.size
        u, s = np.meshgrid(np.linspace(0, w - 1, grid), np.linspace(0, h - 1, grid))
        rays = np.linalg.inv(v.K) @ np.stack([u.ravel(), s.ravel(), np.ones(grid * grid)])
        points = (v.R.T @ (rays * v.depth(centre)[0] - v.t[:, None])).T
        for j, o in enumerate(views):
            x = o.project(points)
            inside = (o.depth(points) > 0) & (x >= 0).all(1) & (x < np.array(o.size)).all(1)
            seen[i, j] = inside.mean()
    out = set()
    for i in range(n):
        for j in range(i + 1, n):
            angle = np.degrees(np.arccos(np.clip(views[i].R[2] @ views[j].R[2], -1, 1)))
            if min(seen[i, j], seen[j, i]) >= min_overlap and angle <= max_angle:
                out.add(frozenset((views[i].name, views[j].name)))
    return out


def inplane_rotation_difference(view0: View, view1: View) -> float:
    """In-plane rotation between two views, in [0, 180] degrees, from their
    ground-truth poses: the angle, in view1's image plane, between view1's
    "down" axis and view0's "down" axis expressed in view1's camera frame.
    For a pure roll by a it is |a| (mod 360, folded to [0, 180]); it includes
    the native roll of datasets with upside-down views (Middlebury).
    """
    down0_in_1 = view1.R @ view0.R.T @ np.array([0.0, 1.0, 0.0])
    angle = math.degrees(math.atan2(down0_in_1[0], down0_in_1[1]))
    return abs(angle)
