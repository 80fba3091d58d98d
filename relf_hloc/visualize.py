"""Pictures of a reconstruction: keypoints, matches (PNG) and the 3D model (plotly HTML).

    relf-hloc visualize keypoints --model M --images DIR --name IMG --output kp.png
        [--color-by track_length|visibility]
    relf-hloc visualize matches --images DIR --features F --matches M --pair A B --output m.png
    relf-hloc visualize model --model M --output model.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import plotly.graph_objects as go
import pycolmap

from .eval.matches import verified_inliers
from .figures import plt, save_figure
from .images import read_image
from .io import atomic_write, read_features, read_matches
from .steps import colmap as cu

ModelLike = Union[Path, str, pycolmap.Reconstruction]


def _model(model: ModelLike) -> pycolmap.Reconstruction:
    return model if isinstance(model, pycolmap.Reconstruction) else cu.read_model(model)


def _figure(width_px: int, height_px: int):
    dpi = 100
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    return fig, ax


def keypoint_track_lengths(rec: pycolmap.Reconstruction, name: str) -> np.ndarray:
    """Per keypoint of image ``name``: the track length of its 3D point, 0 if none [N]."""
    image = rec.find_image_with_name(name)
    if image is None:
        raise KeyError(f"image '{name}' is not in the model")
    return np.array([rec.points3D[p.point3D_id].track.length() if p.has_point3D() else 0
                     for p in image.points2D], dtype=np.int64)


def plot_keypoints(model: ModelLike, image_dir: Path, name: str, output: Path,
                   color_by: str = "track_length", features: Optional[Path] = None) -> Path:
    """Keypoints of one model image over the image: coloured by the track length of
    their 3D point ('track_length'; grey = not triangulated) or by whether they
    have one ('visibility': green = triangulated, red = not). With ``features`` (the
    features file the model was built from) each keypoint is a circle of its scale (OpenCV's
    size when the file has ``scales``) with a tick along its orientation."""
    if color_by not in ("track_length", "visibility"):
        raise ValueError(f"color_by must be 'track_length' or 'visibility', not '{color_by}'")
    rec = _model(model)
    lengths = keypoint_track_lengths(rec, name)
    image = rec.find_image_with_name(name)
    xy = np.array([p.xy for p in image.points2D]).reshape(-1, 2) - 0.5  # COLMAP -> pixel centres
    rgb = read_image(Path(image_dir) / name)
    seen = lengths > 0
    if color_by == "visibility":
        colors = np.where(seen[:, None], [[0.0, 1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0, 1.0]])
    else:
        vmax = max(3, int(lengths.max()))
        colors = plt.get_cmap("jet")(np.clip((lengths - 2) / max(vmax - 2, 1), 0, 1))
        colors[~seen] = (0.6, 0.6, 0.6, 1.0)
    # room on the right for the colour bar, so that it never covers the image
    width = rgb.shape[1] + (90 if color_by == "track_length" else 0)
    fig = plt.figure(figsize=(width / 100, rgb.shape[0] / 100), dpi=100)
    ax = fig.add_axes([0, 0, rgb.shape[1] / width, 1])
    ax.set_axis_off()
    ax.imshow(rgb)
    if features is not None:
        f = read_features(features, name)
        radius = f["scales"] / 2 if "scales" in f else np.full(len(xy), 4.0)
        angle = np.radians(f["orientations"]) if "orientations" in f else None
        for i, (x, y) in enumerate(xy):
            ax.add_patch(plt.Circle((x, y), max(radius[i], 2.0), fill=False, color=colors[i], linewidth=0.6))
            if angle is not None:  # counter-clockwise on screen: y points down
                ax.plot([x, x + max(radius[i], 2.0) * np.cos(angle[i])],
                        [y, y - max(radius[i], 2.0) * np.sin(angle[i])], color=colors[i], linewidth=0.6)
    else:
        ax.scatter(*xy.T, s=10, c=colors, linewidths=0)
    if color_by == "track_length":
        cax = fig.add_axes([rgb.shape[1] / width + 0.02, 0.1, 0.03, 0.8])
        bar = fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(2, vmax), "jet"), cax=cax)
        bar.set_label("track length (grey: none)", fontsize=8)
    ax.text(5, 15, f"{name}: {seen.sum()}/{len(lengths)} keypoints triangulated",
            color="white", fontsize=8, bbox=dict(facecolor="black", alpha=0.6, linewidth=0))
    return save_figure(fig, output, dpi=100)


def plot_matches(image_dir: Path, features: Path, matches: Path, name0: str, name1: str,
                 output: Path, max_lines: int = 300, seed: int = 0) -> Path:
    """Two images side by side with (a random subset of at most ``max_lines``) matches,
    green when they fit the pair's fundamental matrix (2 px), red when not."""
    img0, img1 = read_image(Path(image_dir) / name0), read_image(Path(image_dir) / name1)
    k0 = read_features(features, name0, ["keypoints"])["keypoints"]
    k1 = read_features(features, name1, ["keypoints"])["keypoints"]
    m, _ = read_matches(matches, name0, name1)
    inlier = verified_inliers(k0[m[:, 0]], k1[m[:, 1]], threshold_px=2.0, confidence=0.9999)
    h = max(img0.shape[0], img1.shape[0])
    canvas = np.zeros((h, img0.shape[1] + img1.shape[1], 3), np.uint8)
    canvas[:img0.shape[0], :img0.shape[1]] = img0
    canvas[:img1.shape[0], img0.shape[1]:] = img1
    fig, ax = _figure(canvas.shape[1], canvas.shape[0])
    ax.imshow(canvas)
    shown = np.arange(len(m))
    if len(m) > max_lines:
        shown = np.sort(np.random.default_rng(seed).choice(len(m), max_lines, replace=False))
    p0, p1 = k0[m[shown, 0]], k1[m[shown, 1]] + [img0.shape[1], 0]
    for a, b, ok in sorted(zip(p0, p1, inlier[shown]), key=lambda t: t[2]):  # inliers drawn on top
        ax.plot([a[0], b[0]], [a[1], b[1]], color="lime" if ok else "red", linewidth=0.7, alpha=0.8)
    ax.text(5, 15, f"{len(m)} matches: {inlier.sum()} inliers (green), {len(m) - inlier.sum()} outliers "
            f"(red), F-matrix 2 px" + (f"; {len(shown)} drawn" if len(shown) < len(m) else ""),
            color="white", fontsize=8, bbox=dict(facecolor="black", alpha=0.6, linewidth=0))
    return save_figure(fig, output, dpi=100)


def camera_wireframe(image: pycolmap.Image, camera: pycolmap.Camera, size: float) -> np.ndarray:
    """World coordinates of a camera pyramid as a polyline [10, 3] (apex, corners)."""
    w, h = camera.width, camera.height
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    rays = np.c_[camera.cam_from_img(corners), np.ones(4)]
    rays *= size / np.linalg.norm(rays, axis=1, keepdims=True)
    world_from_cam = image.cam_from_world().inverse()
    apex = world_from_cam.translation
    pts = (world_from_cam.rotation.matrix() @ rays.T).T + apex
    order = [0, 1, 2, 3, 0]
    return np.vstack([apex, pts[0], pts[1], apex, pts[2], pts[3], apex] + [pts[order]])


def plot_model(model: ModelLike, output: Path, max_points: int = 50000,
               max_reprojection_error: Optional[float] = None, seed: int = 0) -> Path:
    """Interactive 3D view (plotly HTML, self-contained): coloured points and cameras."""
    rec = _model(model)
    points = [p for p in rec.points3D.values()
              if max_reprojection_error is None or p.error <= max_reprojection_error]
    if len(points) > max_points:
        keep = np.random.default_rng(seed).choice(len(points), max_points, replace=False)
        points = [points[i] for i in keep]
    xyz = np.array([p.xyz for p in points]).reshape(-1, 3)
    rgb = np.array([p.color for p in points]).reshape(-1, 3)
    fig = go.Figure()
    fig.add_trace(go.Scatter3d(
        x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers", name="points",
        marker=dict(size=1.5, color=[f"rgb({r},{g},{b})" for r, g, b in rgb])))
    if len(xyz):
        extent = np.percentile(xyz, 95, axis=0) - np.percentile(xyz, 5, axis=0)
        size = 0.05 * float(np.linalg.norm(extent)) or 1.0
    else:
        size = 1.0
    for image_id in rec.reg_image_ids():
        image = rec.images[image_id]
        line = camera_wireframe(image, rec.cameras[image.camera_id], size)
        fig.add_trace(go.Scatter3d(x=line[:, 0], y=line[:, 1], z=line[:, 2], mode="lines",
                                   name=image.name, line=dict(color="red", width=2),
                                   hovertext=image.name, showlegend=False))
    fig.update_layout(scene=dict(aspectmode="data", xaxis_visible=False, yaxis_visible=False,
                                 zaxis_visible=False),
                      margin=dict(l=0, r=0, t=30, b=0),
                      title=f"{rec.num_reg_images()} images, {rec.num_points3D()} points")
    with atomic_write(output) as tmp:
        fig.write_html(str(tmp), include_plotlyjs=True)  # self-contained: works offline
    return Path(output)
