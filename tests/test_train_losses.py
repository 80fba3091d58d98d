"""Training losses: hand-computed values, the shift convention (pinned on the model), gradients."""

import math

import pytest
import torch

from relf_hloc.train.data import group_shift, local_rotation_deg
from relf_hloc.train.losses import (info_nce, orientation_accuracy, orientation_loss, relf_loss,
                                    roll_groups)


def test_roll_groups_per_vector_shift():
    v = torch.arange(2 * 2 * 4).float().view(2, 8)  # N=2, C=2, G=4
    out = roll_groups(v, torch.tensor([1, 3]), 4)
    assert out.tolist() == [[1, 2, 3, 0, 5, 6, 7, 4], [11, 8, 9, 10, 15, 12, 13, 14]]
    assert torch.equal(roll_groups(out, torch.tensor([-1, -3]), 4), v)  # inverse
    assert roll_groups(v.view(2, 2, 4), torch.tensor([1, 3]), 4).shape == (2, 2, 4)


def test_info_nce_hand_values():
    eye = torch.eye(2)
    # matching rows: each direction is -log(e^1 / (e^1 + e^0)) = log(1 + e^-1) at T = 1
    assert info_nce(eye, eye, 1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    # swapped rows: the positive has similarity 0, the negative 1
    assert info_nce(eye, eye.flip(0), 1.0).item() == pytest.approx(math.log(1 + math.e), abs=1e-6)
    # scale does not matter (L2-normalised), the temperature does
    assert info_nce(3 * eye, eye, 0.07).item() == pytest.approx(math.log(1 + math.exp(-1 / 0.07)),
                                                                abs=1e-7)


def test_orientation_loss_hand_value():
    # p = softmax([0, 0]) = [1/2, 1/2], q = softmax([log 3, 0]) = [3/4, 1/4]
    out = orientation_loss(torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]]), torch.zeros(1),
                           standardized=False)
    assert out["kl"].item() == pytest.approx(0.5 * math.log(4 / 3), abs=1e-6)
    assert out["entropy"].item() == pytest.approx(math.log(2), abs=1e-6)


def test_orientation_loss_zero_for_perfectly_shifted_histograms():
    torch.manual_seed(0)
    G, N = 16, 32
    hist1 = 3 * torch.randn(N, G)
    shift = torch.randint(0, G, (N,))
    # view 2 convention: hist2[(g + s) % G] = hist1[g]
    hist2 = torch.stack([h.roll(int(s)) for h, s in zip(hist1, shift)])
    assert orientation_loss(hist1, hist2, shift)["kl"].item() == pytest.approx(0.0, abs=1e-5)
    assert orientation_accuracy(hist1, hist2, shift, tolerance=0).item() == 1.0
    # applying the shift twice (the original's defect) is penalised
    assert orientation_loss(hist1, hist2, 2 * shift)["kl"].item() > 0.5
    # a wrong shift by 2 bins is out of the +-1 tolerance
    assert orientation_accuracy(hist1, hist2, shift + 2).item() < 0.2


def test_relf_loss_total_and_gradients():
    torch.manual_seed(0)
    G, C, N = 4, 3, 10
    vec1 = torch.randn(N, C * G, requires_grad=True)
    vec2 = torch.randn(N, C * G, requires_grad=True)
    shift = torch.randint(0, G, (N,))
    out = relf_loss(vec1, vec2, shift, G, {"alpha": 10.0, "entropy_weight": 0.5})
    expected = 10 * (out["ori_kl"] + 0.5 * out["ori_entropy"]) + out["desc"]
    assert out["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    out["total"].backward()
    for grad in (vec1.grad, vec2.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # the orientation term reaches field 0 (columns :G) only; the descriptor term all fields
    assert vec2.grad[:, G:].abs().sum() > 0


def test_relf_loss_of_aligned_views_is_minimal():
    torch.manual_seed(0)
    G, C, N = 8, 4, 16
    vec1 = 5 * torch.randn(N, C * G)
    shift = torch.randint(0, G, (N,))
    vec2 = roll_groups(vec1, -shift, G)  # v2[(g + s) % G] = v1[g]
    out = relf_loss(vec1, vec2, shift, G, {"entropy_weight": 0.0})
    assert out["ori_kl"].item() == pytest.approx(0.0, abs=1e-5)
    assert out["desc_acc"].item() == 1.0 and out["ori_acc"].item() == 1.0
    shuffled = relf_loss(vec1, vec2[torch.randperm(N)], shift, G, {"entropy_weight": 0.0})
    assert shuffled["desc"] > out["desc"] + 1.0


def test_shift_convention_matches_the_model():
    """torch.rot90 by +90 deg: local_rotation_deg says +90, the shift is G/4, and rolling
    view 2's vectors by it gives view 1's vectors exactly ((H-1), (W-1) multiples of 16)."""
    from relf_hloc.features.reresnet import ReResNet18, sample_fused

    torch.manual_seed(0)
    G, H, W = 16, 97, 129
    model = ReResNet18(G).eval()
    image1 = torch.rand(1, 3, H, W)
    image2 = torch.rot90(image1, 1, dims=(2, 3))  # [1, 3, W, H]
    # pixel (x, y) of view 1 lands at (y, W - 1 - x) in view 2
    rot90 = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, W - 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    kpts1 = torch.tensor([[40.0, 30.0], [64.0, 48.0], [80.0, 60.0], [17.5, 70.25]])
    kpts2 = torch.stack([kpts1[:, 1], W - 1 - kpts1[:, 0]], 1)
    angle = local_rotation_deg(rot90, kpts1.double())
    assert torch.allclose(angle, torch.full((4,), 90.0, dtype=torch.float64))
    shift = group_shift(angle, G)
    assert shift.tolist() == [G // 4] * 4
    with torch.no_grad():
        vec1 = sample_fused(model(image1), kpts1[None], (H, W))[0]
        vec2 = sample_fused(model(image2), kpts2[None], (W, H))[0]
    assert torch.allclose(roll_groups(vec2, shift, G), vec1, atol=1e-4)
    assert not torch.allclose(roll_groups(vec2, -shift, G), vec1, atol=1e-2)


def test_standardized_histograms_cannot_go_flat():
    # standardised [0, 2] and [5, 5.1] are both [-1, 1]: scale and offset do not matter
    hist1, hist2 = torch.tensor([[0.0, 2.0]]), torch.tensor([[5.0, 5.1]])
    out = orientation_loss(hist1, hist2, torch.zeros(1), temperature=0.5)
    assert out["kl"].item() == pytest.approx(0.0, abs=1e-4)
    # p = softmax([-2, 2]): entropy of (1 / (1 + e^4), e^4 / (1 + e^4)), far below log 2
    p = 1 / (1 + math.exp(4))
    expected = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert out["entropy"].item() == pytest.approx(expected, rel=1e-3)
    # nearly flat histograms are still standardised to a peak: the entropy stays low
    flat = torch.tensor([[1.0, 1.0, 1.0, 1.1]])
    assert orientation_loss(flat, flat, torch.zeros(1), 0.5)["entropy"].item() < 0.3
    assert orientation_loss(flat, flat, torch.zeros(1), standardized=False)["entropy"].item() == \
        pytest.approx(math.log(4), abs=1e-2)
