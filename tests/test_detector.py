"""The learned detector: peaks of score maps, their rotation covariance, its losses and metric."""

import cv2
import numpy as np
import pytest
import torch

from relf_hloc.eval.homography import repeatability
from relf_hloc.features.checkpoint import CheckpointError
from relf_hloc.features.detectors import pyramid_peaks, score_peaks
from relf_hloc.features.relf import RELF
from relf_hloc.train.losses import detector_loss, warp_to_view1

from test_model import rot90_keypoints


def test_score_peaks_hand_computed():
    logits = torch.full((12, 12), -10.0)
    logits[5, 4:7] = torch.tensor([0.0, 1.0, 0.5])  # peak at (x=5, y=5), right neighbour higher
    logits[4, 5], logits[6, 5] = 0.0, 0.0            # symmetric in y
    logits[5, 9] = 0.8                               # 4 px away: a peak of its own at radius 2
    logits[1, 1] = 5.0                               # inside the 2-pixel border: dropped
    xy, scores = score_peaks(logits, radius=2, threshold=0.5, border=2)
    order = torch.argsort(-scores)
    xy, scores = xy[order], scores[order]
    # parabola through (0, 1, 0.5): vertex at 0.5 * (0 - 0.5) / (0 - 2 + 0.5) = 1/6
    assert torch.allclose(xy[0], torch.tensor([5 + 1 / 6, 5.0]), atol=1e-6)
    assert torch.allclose(xy[1], torch.tensor([9.0, 5.0]))  # flat neighbours (-10, -10): centred
    assert torch.allclose(scores, torch.sigmoid(torch.tensor([1.0, 0.8])))
    # a radius of 4 keeps only the stronger of the two (the border peak suppresses nothing);
    # a threshold above both keeps none
    assert len(score_peaks(logits, radius=4, threshold=0.5)[0]) == 1
    assert len(score_peaks(logits, radius=2, threshold=0.9)[0]) == 0


def test_pyramid_peaks_maps_stem_pixels_to_image_pixels():
    a = torch.full((20, 20), -10.0)
    a[6, 8] = 2.0  # level 0: 39x39 image at full size; stem pixel 8 -> level pixel 16
    b = torch.full((10, 10), -10.0)
    b[4, 5] = 3.0  # level 1: half size (20x20); stem pixel 5 -> level pixel 10 -> image 20.5
    b[2, 2] = 1.0  # stem pixel 2 -> level pixel 4 -> image 8.275
    kpts, scores, scales = pyramid_peaks([(a, (39, 39)), (b, (20, 20))], (39, 39), radius=1)
    f = 39 / 20
    expected = [[(2 * 5 + 0.5) * f - 0.5, (2 * 4 + 0.5) * f - 0.5], [16.0, 12.0],
                [(2 * 2 + 0.5) * f - 0.5, (2 * 2 + 0.5) * f - 0.5]]
    assert torch.allclose(kpts, torch.tensor(expected), atol=1e-5)  # strongest first
    assert torch.allclose(scales, torch.tensor([f, 1.0, f]))
    assert torch.allclose(scores, torch.sigmoid(torch.tensor([3.0, 2.0, 1.0])))
    assert len(pyramid_peaks([(a, (39, 39)), (b, (20, 20))], (39, 39), max_keypoints=2, radius=1)[0]) == 2
    # two levels peaking at the same image pixel give one keypoint, the stronger
    c = torch.full((20, 20), -10.0)
    c[6, 8] = 4.0
    kpts, scores, _ = pyramid_peaks([(a, (39, 39)), (c, (39, 39))], (39, 39), radius=1)
    assert len(kpts) == 1 and scores[0] == torch.sigmoid(torch.tensor(4.0))


@pytest.mark.parametrize("pyramid", [None, {"max_size": 193, "min_size": 96, "step": 2 ** 0.5, "snap": 16}])
def test_learned_keypoints_are_rotation_covariant(pyramid):
    """Keypoints of an image turned by 90 degrees (sides 16k + 1) are the turned keypoints,
    with the same scores and (turned) descriptors."""
    noise = np.random.default_rng(0).random((161, 193, 3)).astype(np.float32)
    image = (cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2), None, 0, 255, cv2.NORM_MINMAX)).astype(np.uint8)
    rotated = np.ascontiguousarray(np.rot90(image, 1, (0, 1)))
    relf = RELF({"random_weights": True, "pyramid": pyramid, "max_keypoints": 300,
                 "detector": {"name": "learned", "threshold": 0.0}})
    a, b = relf.extract(image), relf.extract(rotated)
    assert len(a["keypoints"]) > 50 and "scales" in a
    expected = rot90_keypoints(a["keypoints"], 193)
    dist = np.linalg.norm(expected[:, None] - b["keypoints"][None], axis=2)
    nearest = dist.argmin(1)
    same = dist[np.arange(len(expected)), nearest] < 1e-3
    assert same.mean() >= 0.95  # ties at the budget's edge may swap a few
    assert np.allclose(a["scores"][same], b["scores"][nearest[same]], atol=1e-5)
    cos = (a["descriptors"][same] * b["descriptors"][nearest[same]]).sum(1)
    assert cos.min() > 0.99


def test_learned_detector_needs_weights_with_a_head(tmp_path):
    with pytest.raises(CheckpointError, match="relf_c16.pth: these weights have no learned detector"):
        RELF({"detector": {"name": "learned"}})


def test_detector_loss_terms_hand_computed():
    logits = torch.randn(2, 24, 32)
    H = torch.eye(3).expand(2, 3, 3)
    loss = detector_loss(logits, logits, H, {"detector_window": 8})
    assert loss["repeatability"].abs() < 1e-6  # identical maps under the identity
    # one peak (score 1) per 9x9 window of a zero map: peakiness = 1 - mean(max - mean) over windows
    peaks = torch.full((1, 27, 27), -30.0)
    peaks[0, 4::9, 4::9] = 30.0
    out = detector_loss(peaks, peaks, torch.eye(3)[None], {"detector_window": 8})
    flat = detector_loss(torch.zeros(1, 27, 27), torch.zeros(1, 27, 27), torch.eye(3)[None])
    assert flat["peakiness"] == pytest.approx(1.0)  # a constant map has no peak
    assert out["peakiness"] < 0.25
    # a view 2 shifted by 4 image pixels (2 stem pixels) is sampled back onto view 1's grid
    shifted = torch.roll(torch.sigmoid(logits), 2, dims=2)
    T = torch.eye(3)
    T[0, 2] = 4.0
    warped, inside = warp_to_view1(shifted, T.expand(2, 3, 3))
    assert torch.allclose(warped[..., :30], torch.sigmoid(logits)[..., :30], atol=1e-5)
    assert inside[..., :30].all() and not inside[..., 30:].any()


def test_repeatability_hand_computed():
    k0 = np.array([[10.0, 10.0], [50.0, 50.0], [95.0, 5.0]])
    H = np.array([[1.0, 0, 10], [0, 1, 0], [0, 0, 1]])  # shift right by 10 px
    k1 = np.array([[21.0, 11.0], [70.0, 50.0], [5.0, 5.0]])
    # image 0 -> 1: (20, 10) hit by (21, 11) at 1.4 px, (60, 50) missed, (105, 5) outside;
    # image 1 -> 0: (11, 11) hit, (60, 50) missed, (-5, 5) outside => (1 + 1) / (2 + 2)
    assert repeatability(k0, k1, H, (100, 100), (100, 100), threshold=3) == pytest.approx(50.0)
    assert repeatability(k0, k1, H, (100, 100), (100, 100), threshold=1) == pytest.approx(0.0)
    assert repeatability(k0[:0], k1[:0], H, (100, 100), (100, 100)) is None


def test_shipped_detector_weights_give_oriented_keypoints_with_scales():
    from relf_hloc.confs import get_conf
    noise = np.random.default_rng(1).random((241, 321, 3)).astype(np.float32)
    image = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 3), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    relf = RELF({**get_conf("relf-det-fast")["model"], "max_keypoints": 200})
    out = relf.extract(image)
    assert len(out["keypoints"]) == 200 and out["descriptors"].shape == (200, 1024)
    assert np.all(np.diff(out["scores"]) <= 0)  # strongest first
    levels = {round((321 / w + 241 / h) / 2, 4) for h, w in relf.pyramid_levels(241, 321)}
    assert set(np.unique(out["scales"]).astype(np.float64).round(4)) <= levels  # one scale per level
    assert len(np.unique(out["scales"])) >= 2
