"""Validation metrics: exact 90-degree rotations are matched perfectly even untrained."""

import cv2
import numpy as np
import pytest
import torch

from relf_hloc.train.validation import ValPair, evaluate_pairs, resize_long_side


def test_resize_long_side_keeps_pixel_centres():
    image = np.zeros((40, 80, 3), np.uint8)
    small, S = resize_long_side(image, 20)
    assert small.shape == (10, 20, 3)
    # the image corners (-0.5, -0.5) and (79.5, 39.5) map to the new corners
    corners = np.array([[-0.5, -0.5, 1], [79.5, 39.5, 1]]) @ S.T
    assert np.allclose(corners[:, :2], [[-0.5, -0.5], [19.5, 9.5]])


def test_exact_rotation_gives_perfect_orientation_and_matches():
    skdata = pytest.importorskip("skimage.data")
    from relf_hloc.features.reresnet import ReResNet18

    H, W = 193, 257  # (H - 1), (W - 1) multiples of 16: equivariance is exact
    image0 = cv2.resize(skdata.astronaut(), (W, H), interpolation=cv2.INTER_AREA)
    image1 = np.ascontiguousarray(np.rot90(image0))  # +90 degrees (counter-clockwise on screen)
    rot90 = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, W - 1.0], [0.0, 0.0, 1.0]])
    torch.manual_seed(0)
    model = ReResNet18(16).eval()
    metrics = evaluate_pairs(model, [ValPair(image0, image1, rot90)], G=16, num_keypoints=200)
    assert metrics["ori_acc"] == pytest.approx(100.0)
    assert metrics["mma5"] > 80 and metrics["matches"] > 50
    # a wrong ground truth (the inverse rotation) scores near zero
    wrong = evaluate_pairs(model, [ValPair(image0, image1, np.linalg.inv(rot90))], 16, 200)
    assert wrong["mma5"] < 10 and wrong["ori_acc"] < 50
