"""Training pair generator: determinism, ground-truth geometry, keypoints, group shifts."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from relf_hloc.train.data import (PairDataset, PairGenerator, group_shift, local_rotation_deg,
                                  sample_homography, seed_for, split_names)
from relf_hloc.geometry import warp_points


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Four small natural images from scikit-image, as files in a nested folder."""
    skdata = pytest.importorskip("skimage.data")
    root = tmp_path_factory.mktemp("train_images")
    (root / "sub").mkdir()
    for i, name in enumerate(["astronaut", "coffee", "chelsea", "camera"]):
        image = getattr(skdata, name)()
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2))
        if image.ndim == 3:
            image = image[:, :, ::-1]  # RGB -> BGR for OpenCV
        cv2.imwrite(str(root / ("sub" if i % 2 else ".") / f"{name}.png"), image)
    return root


def bilinear(image: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Colours [N, 3] of image [3, H, W] at points [N, 2] (pixel centre at integers)."""
    H, W = image.shape[-2:]
    grid = pts / torch.tensor([W - 1, H - 1]) * 2 - 1
    return F.grid_sample(image[None], grid[None, None], align_corners=True)[0, :, 0].T


def test_sample_is_a_function_of_the_seed(image_dir):
    gen = PairGenerator.from_folder(image_dir, {"crop_hw": (64, 80), "num_keypoints": 32})
    assert len(gen.paths) == 4  # the folder is searched recursively
    a, b, c = gen.sample(7), gen.sample(7), gen.sample(8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["image1"], c["image1"])
    assert a["image1"].shape == a["image2"].shape == (3, 64, 80)
    assert a["kpts1"].shape == a["kpts2"].shape == (32, 2)
    assert a["shift"].dtype == torch.int64 and a["angle"].shape == (32,)
    dataset = PairDataset(gen, base_seed=3, length=10)
    assert torch.equal(dataset[5]["image2"], gen.sample(seed_for(3, 5))["image2"])


@pytest.mark.parametrize("mode", ["full_rotation", "paper"])
def test_ground_truth_correspondences(image_dir, mode):
    conf = {"crop_hw": (96, 128), "num_keypoints": 64, "photometric": False, "homography": mode}
    # corners are where interpolation differs most: the tolerance is loose, the contrast clear
    gen = PairGenerator.from_folder(image_dir, conf)
    for seed in range(3):
        s = gen.sample(seed)
        k1, k2 = s["kpts1"], s["kpts2"]
        assert torch.allclose(k2, warp_points(s["H"].double(), k1.double()).float(), atol=1e-3)
        for k in (k1, k2):  # 8 px from the borders of both views
            assert (k >= 8).all() and (k[:, 0] <= 127 - 8).all() and (k[:, 1] <= 95 - 8).all()
        assert len(torch.unique(k1, dim=0)) == 64  # distinct points
        # view 2 shows view 1's content at the ground-truth positions...
        same = (bilinear(s["image1"], k1) - bilinear(s["image2"], k2)).abs().mean()
        # ...and not at other positions
        other = (bilinear(s["image1"], k1) - bilinear(s["image2"], k2.roll(1, 0))).abs().mean()
        assert same < 0.08 and other > 3 * same, (seed, same, other)
        # integer keypoints sit on Harris peaks: pixel coordinates
        assert torch.equal(k1, k1.round())


def test_background_fills_uncovered_area(image_dir):
    gen = PairGenerator.from_folder(image_dir, {"crop_hw": (64, 64), "num_keypoints": 16,
                                                "photometric": False, "scale": (0.8, 0.8),
                                                "homography": "paper"})
    s = gen.sample(1)
    corner = s["image2"][:, :2, :2]  # zoomed out by 0.8 about the centre: corners uncovered
    assert corner.abs().sum() > 0  # another image, not black


def test_group_shift_hand_values():
    angles = torch.tensor([0.0, 12.0, 22.4, 90.0, -90.0, 180.0, 359.0, -11.0])
    assert group_shift(angles, 16).tolist() == [0, 1, 1, 4, 12, 8, 0, 0]
    assert group_shift(torch.tensor([90.0]), 8).tolist() == [2]


def test_local_rotation_of_sampled_homographies():
    rng = np.random.default_rng(0)
    conf = {"homography": "full_rotation", "scale": (0.9, 1.1), "perspective": 0.0, "translation": 0.1}
    angles = []
    for _ in range(200):
        H = torch.from_numpy(sample_homography(rng, (100, 120), conf))
        a = local_rotation_deg(H, torch.tensor([[10.0, 20.0], [90.0, 60.0]], dtype=torch.float64))
        assert abs(a[0] - a[1]) < 1e-9  # an affine map turns every point alike
        angles.append(float(a[0]))
    assert min(angles) < -150 and max(angles) > 150  # the whole circle is sampled
    paper = {**conf, "homography": "paper"}
    angles = np.array([float(local_rotation_deg(torch.from_numpy(sample_homography(rng, (100, 120), paper)),
                                                torch.zeros(1, 2, dtype=torch.float64))[0])
                       for _ in range(1000)])
    assert 0.8 < (np.abs(angles) <= 5).mean() < 0.92 and np.abs(angles).max() <= 60


def test_errors_name_the_problem(image_dir, tmp_path):
    with pytest.raises(ValueError, match="homography mode 'spin'"):
        PairGenerator.from_folder(image_dir, {"homography": "spin"})
    with pytest.raises(ValueError, match="at least 2 training images"):
        PairGenerator([image_dir / "astronaut.png"])
    with pytest.raises(FileNotFoundError, match="no images"):
        PairGenerator.from_folder(tmp_path)
    train, val = split_names(list("abcdefgh"), 3, seed=0)
    assert len(val) == 3 and not set(train) & set(val) and len(train) == 5
    with pytest.raises(ValueError, match="cannot hold back 8"):
        split_names(list("abcdefgh"), 8, seed=0)


def test_real_training_images(shared_data):
    gen = PairGenerator.from_folder(shared_data / "train_images", {"crop_hw": (192, 240)})
    s = gen.sample(0)
    assert s["kpts1"].shape == (512, 2) and s["image2"].shape == (3, 192, 240)
