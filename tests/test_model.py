import cv2
import numpy as np
import skimage.data
import pytest
import torch
import torch.nn.functional as F

from relf_hloc.features.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from relf_hloc.features.relf import (RELF, group_align, rootsift_at, exported_network, multi_candidate,
                                  shift_groups, subbin_offset, pyramid_sizes, roll_groups)
from relf_hloc.features.reresnet import ReResNet18, export_plain, fuse_dense, sample_fused

G = 16


def random_bn_statistics(m: torch.nn.Module) -> torch.nn.Module:
    """The model in eval mode with non-trivial batch-norm statistics, so that folding them into
    the convs (or keeping them as plain BatchNorm2d) is tested."""
    for bn in m.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return random_bn_statistics(ReResNet18(G))


@pytest.fixture(scope="module")
def plain(model):
    return export_plain(model)


def rot90_keypoints(kpts, W):
    """Where torch.rot90(k=1, dims=(2, 3)) sends pixel (x, y) of a W-wide image."""
    return np.stack([kpts[:, 1], W - 1 - kpts[:, 0]], 1)


def test_export_equals_equivariant_model(model, plain):
    x = torch.randn(1, 3, 49, 65)
    with torch.no_grad():
        for a, b in zip(model(x), plain(x)):
            assert a.shape == b.shape
            assert (a - b).abs().max() < 1e-5


def test_parameter_counts(model, plain):
    assert abs(sum(p.numel() for p in model.parameters()) - 0.62e6) < 0.01e6
    assert abs(sum(p.numel() for p in plain.parameters()) - 11.2e6) < 0.1e6


def test_dense_equivariance_rot90_shifts_fields_by_quarter_group(plain):
    """rot90 (counter-clockwise as displayed) of the input rolls every regular field by +G/4."""
    x = torch.randn(1, 3, 65, 81)  # (H-1) and (W-1) multiples of 16
    with torch.no_grad():
        feats, feats_rot = plain(x), plain(torch.rot90(x, 1, (2, 3)))
    for f, fr in zip(feats + [fuse_dense(feats)], feats_rot + [fuse_dense(feats_rot)]):
        B, C, h, w = f.shape
        expected = torch.roll(torch.rot90(f, 1, (2, 3)).reshape(B, C // G, G, w, h), G // 4, 2)
        assert torch.allclose(fr.reshape(B, C // G, G, w, h), expected, atol=1e-4)
        # and not another shift: the sign is pinned
        wrong = torch.roll(expected, -G // 2, 2)
        assert not torch.allclose(fr.reshape(B, C // G, G, w, h), wrong, atol=1e-4)


def test_sample_fused_equals_dense_fusion_then_bilinear_sampling(plain):
    x = torch.randn(1, 3, 50, 70)
    with torch.no_grad():
        feats = plain(x)
    kpts = torch.rand(1, 40, 2) * torch.tensor([69.0, 49.0])
    dense = fuse_dense(feats)
    grid = kpts / torch.tensor([69.0, 49.0]) * 2 - 1
    ref = F.grid_sample(dense, grid[:, None], align_corners=True)[:, :, 0].transpose(1, 2)
    assert torch.allclose(sample_fused(feats, kpts, (50, 70)), ref, atol=1e-5)


def test_aligned_descriptors_invariant_to_rot90_single_scale():
    image = (np.random.default_rng(0).random((97, 129, 3)) * 255).astype(np.uint8)
    rotated = np.ascontiguousarray(np.rot90(image, 1, (0, 1)))
    assert np.array_equal(
        rotated, torch.rot90(torch.from_numpy(image).permute(2, 0, 1), 1, (1, 2)).permute(1, 2, 0).numpy())
    kpts = np.random.default_rng(1).uniform([4, 4], [124, 92], (100, 2)).astype(np.float32)
    relf = RELF({"random_weights": True, "pyramid": None})
    a = relf.extract(image, kpts)
    b = relf.extract(rotated, rot90_keypoints(kpts, 129))
    cos = (a["descriptors"] * b["descriptors"]).sum(1)
    assert cos.min() >= 0.99
    # orientation grows by 90 degrees when the image turns counter-clockwise by 90
    assert np.allclose((b["orientations"] - a["orientations"]) % 360, 90)


def test_pyramid_sizes_match_the_spec():
    longer = [1024, 861, 724, 609, 512, 431, 362, 304, 256]
    for h, w in [(480, 640), (1536, 2048), (300, 200)]:
        sizes = pyramid_sizes(h, w, snap=None)  # the paper's sizes
        assert [max(s) for s in sizes] == longer
        for sh, sw in sizes:
            assert abs(sh / sw - h / w) < 0.01
        snapped = pyramid_sizes(h, w)  # default: nearest 16k + 1
        assert [max(s) for s in snapped] == [1025, 865, 721, 609, 513, 433, 369, 305, 257]
        for (sh, sw), (ph, pw) in zip(snapped, sizes):
            assert (sh - 1) % 16 == 0 and (sw - 1) % 16 == 0
            assert abs(sh - ph) <= 8 and abs(sw - pw) <= 8
    assert pyramid_sizes(480, 640, max_size=640, min_size=320, step=2 ** 0.5, snap=None) == \
        [(480, 640), (339, 453), (240, 320)]
    assert pyramid_sizes(100, 120, max_size=None) == [(100, 120)]


def test_snapped_pyramid_keeps_descriptors_invariant_to_rot90():
    image = cv2.resize(skimage.data.astronaut(), (203, 150), interpolation=cv2.INTER_AREA)
    rotated = np.ascontiguousarray(np.rot90(image, 1, (0, 1)))
    kpts = np.random.default_rng(1).uniform([8, 8], [194, 141], (100, 2)).astype(np.float32)
    pyramid = {"max_size": 257, "min_size": 129, "step": 2 ** 0.5}
    relf = RELF({"random_weights": True, "pyramid": pyramid})
    a = relf.extract(image, kpts)
    b = relf.extract(rotated, rot90_keypoints(kpts, 203))
    assert (a["descriptors"] * b["descriptors"]).sum(1).min() >= 0.99
    assert np.allclose((b["orientations"] - a["orientations"]) % 360, 90)
    # the paper's unsnapped sizes are not exactly equivariant (measured by scripts/invariance_report.py)
    relf = RELF({"random_weights": True, "pyramid": {**pyramid, "snap": None}})
    a = relf.extract(image, kpts)
    b = relf.extract(rotated, rot90_keypoints(kpts, 203))
    assert (a["descriptors"] * b["descriptors"]).sum(1).min() < 0.99


def test_vectorised_aligning_equals_per_keypoint_roll():
    v = torch.randn(300, 8 * G)
    desc, ori = group_align(v, G)
    naive = torch.stack([torch.roll(x.view(-1, G), -int(x[:G].argmax()), 1).flatten() for x in v])
    assert torch.allclose(desc, F.normalize(naive, dim=1))
    assert torch.equal(ori, v[:, :G].argmax(1).float())


def band_limited_vectors(n=200, fields=6, seed=0):
    """Vectors whose fields are smooth over the group (harmonics 0-2) with one clear peak in
    field 0: what a fractional rotation of the image does to them is a fractional shift."""
    g = torch.arange(G, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    peak = torch.rand(n, 1, generator=gen) * G
    hist = torch.cos(2 * torch.pi * (g - peak) / G) + 0.3 * torch.cos(4 * torch.pi * (g - peak) / G)
    coef = torch.randn(n, fields - 1, 5, generator=gen)
    rest = (coef[..., :1] + coef[..., 1:2] * torch.cos(2 * torch.pi * g / G + coef[..., 2:3])
            + coef[..., 3:4] * torch.cos(4 * torch.pi * g / G + coef[..., 4:5]))
    return torch.cat([hist[:, None], rest], 1).reshape(n, -1)


def test_fractional_shift_equals_roll_for_whole_bins():
    v = torch.randn(50, 8 * G)
    for s in (1, 3, 15):
        shifts = torch.full((50,), s)
        assert torch.allclose(shift_groups(v, shifts.float(), G), roll_groups(v, shifts, G), atol=1e-5)


@pytest.mark.parametrize("turn", [0.25, 0.5, 3.7])
def test_subbin_aligning_is_invariant_to_fractional_turns(turn):
    """A turn by a fraction of a bin: sub-bin aligning gives the same descriptor and an
    orientation larger by the turn; the paper's integer roll keeps up to half a bin of it."""
    v = band_limited_vectors()
    turned = shift_groups(v, torch.full((len(v),), -turn), G)  # every field turned by +turn bins
    a, ori_a = group_align(v, G, subbin=True)
    b, ori_b = group_align(turned, G, subbin=True)
    cos_subbin = (a * b).sum(1)
    ai, _ = group_align(v, G)
    bi, _ = group_align(turned, G)
    cos_integer = (ai * bi).sum(1)
    assert cos_subbin.min() > 0.999 and cos_integer.min() < 0.96  # measured: 0.99997 and 0.89-0.95
    d = torch.remainder(ori_b - ori_a - turn + G / 2, G) - G / 2
    assert d.abs().max() < 0.15  # the parabola's bias on this histogram shape


def test_subbin_aligning_is_exactly_equivariant_to_whole_bins():
    v = torch.randn(100, 8 * G)
    a, ori_a = group_align(v, G, subbin=True)
    b, ori_b = group_align(roll_groups(v, torch.full((100,), -5), G), G, subbin=True)  # turned by 5 bins
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(torch.remainder(ori_b - ori_a, G), torch.full((100,), 5.0), atol=1e-5)
    assert ((ori_a - ori_a.round()).abs() <= 0.5).all()  # within half a bin of the argmax


def test_subbin_offset_is_the_parabola_vertex():
    hist = torch.tensor([[0.0, 1.0, 3.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    offset = subbin_offset(hist, hist.argmax(1))
    # through (-1, 1), (0, 3), (1, 2): vertex at 0.5 * (1 - 2) / (1 - 6 + 2) = 1/6
    assert offset.tolist() == pytest.approx([1 / 6, 0.0])  # a flat histogram has no offset


def test_multi_candidate_counts_on_hand_made_histograms():
    Gs = 4
    hist = torch.tensor([[1.0, 0.7, 0.5, 0.1],    # ratio 0.6: bins 0, 1
                         [0.2, 0.2, 0.3, 0.19],   # every bin (>= 0.18)
                         [0.0, 0.0, 0.0, 0.0]])   # flat: every bin is a peak
    v = torch.cat([hist, torch.arange(12.0).view(3, 4) + 1], 1)  # 2 fields
    desc, index, ori = multi_candidate(v, Gs, ratio=0.6)
    assert index.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert ori.tolist() == [0, 1, 0, 1, 2, 3, 0, 1, 2, 3]
    assert torch.allclose(desc.norm(dim=1), torch.ones(10))
    # the candidate of bin 1 of keypoint 0 is the vector rolled by -1
    assert torch.allclose(desc[1], F.normalize(roll_groups(v[:1], torch.tensor([1]), Gs), dim=1)[0])
    _, index, ori = multi_candidate(v[:1], Gs, top_k=3)
    assert ori.tolist() == [0, 1, 2]


def test_checkpoint_round_trip_and_mismatch(tmp_path, model):
    meta = {"G": G, "widths": [64, 128, 256, 512], "normalization": "imagenet",
            "code_version": "test", "train_config": {"lr": 1e-4}}
    path = save_checkpoint(tmp_path / "w.pth", model, meta, half=True)
    state, got, _ = load_checkpoint(path, expect={"G": G, "widths": (64, 128, 256, 512)})
    assert got["train_config"] == {"lr": 1e-4}
    assert not any(k.endswith(".filter") for k in state)
    net = exported_network(str(path))  # loads into a fresh model: keys and shapes agree
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        ref = export_plain(model)(x)[0]
    assert (net(x)[0] - ref).abs().max() < 0.05  # fp16 weights
    with pytest.raises(CheckpointError, match=r"w.pth: checkpoint has G=16, but 8 is required"):
        load_checkpoint(path, expect={"G": 8})
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth: not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pth")


def test_missing_weights_is_an_error_unless_random_weights_requested(tmp_path):
    with pytest.raises(FileNotFoundError, match="--random-weights"):
        RELF({"weights": str(tmp_path / "none.pth")})
    with pytest.warns(UserWarning, match="RANDOM"):
        RELF({"random_weights": True, "pyramid": None})


def test_weights_tag_names_the_checkpoint_content(tmp_path):
    from relf_hloc.confs import DEFAULT_WEIGHTS
    from relf_hloc.features import weights_tag
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    a.write_bytes(b"one"), b.write_bytes(b"two")
    assert weights_tag(a) == "w7692c3ad"  # sha256(b"one")[:8]
    assert weights_tag(b) != weights_tag(a)
    assert weights_tag(None) == weights_tag(DEFAULT_WEIGHTS)  # the shipped weights by default
    assert weights_tag(a, random_weights=True) == "untrained"
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        weights_tag(tmp_path / "missing.pth")


def test_rootsift_part_keeps_rot90_invariance_and_weights_the_dot_product():
    """RELF + RootSIFT (at SIFT's scale, in RELF's orientation): 1024 + 128 dimensions, unit
    length, dot product = (1 - w) RELF's + w RootSIFT's, and still invariant to a 90-degree turn."""
    image = np.ascontiguousarray(skimage.data.astronaut()[100:260, 150:350])
    rotated = np.ascontiguousarray(np.rot90(image))
    plain = RELF({"random_weights": True, "pyramid": None, "max_keypoints": 200})
    both = RELF({"random_weights": True, "pyramid": None, "max_keypoints": 200, "rootsift": 0.3})
    a, b = plain.extract(image), both.extract(image)
    assert b["descriptors"].shape == (len(a["keypoints"]), 1152) and both.channels == 1152
    np.testing.assert_allclose(np.linalg.norm(b["descriptors"], axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(b["descriptors"][:, :1024], a["descriptors"] * 0.7 ** 0.5, atol=1e-6)
    assert (b["scales"] > 0).all()
    k1 = rot90_keypoints(b["keypoints"], image.shape[1])
    r = both.extract(rotated, k1, scales=b["scales"])
    assert np.median((b["descriptors"] * r["descriptors"]).sum(1)) > 0.95
    # the RootSIFT part turns with its orientation (exactly, by 90 degrees), not without it
    upright = rootsift_at(image, b["keypoints"], b["scales"], b["orientations"])
    turned = rootsift_at(rotated, k1, b["scales"], b["orientations"] + 90)
    assert (turned * upright).sum(1).min() > 0.999
    fixed = rootsift_at(rotated, k1, b["scales"], b["orientations"])
    assert np.median((fixed * upright).sum(1)) < 0.6
    with pytest.raises(ValueError, match="needs each keypoint's scale"):
        both.extract(image, b["keypoints"])
    with pytest.raises(ValueError, match="rootsift: a share in"):
        RELF({"random_weights": True, "rootsift": 1.5})


def test_backbones_whose_weights_are_loaded_skip_the_random_init():
    """e2cnn's random init takes most of a backbone's build; under ``weights_to_load`` it is skipped
    (the weights are then loaded), and outside it every convolution still draws random weights."""
    from e2cnn import nn as enn

    from relf_hloc.features.reresnet import ReResNet18, weights_to_load

    def conv_weights(model):
        return [m.weights.detach() for m in model.modules() if isinstance(m, enn.R2Conv)]
    with weights_to_load():
        skipped = conv_weights(ReResNet18(16, (16, 32, 32, 32), detector=True))
    drawn = conv_weights(ReResNet18(16, (16, 32, 32, 32), detector=True))
    assert len(skipped) == len(drawn) == 22
    assert all(float(w.abs().sum()) == 0 for w in skipped) and all(float(w.abs().sum()) > 0 for w in drawn)


def write_pca(path, mean, components, weights):
    """A descriptor PCA file as scripts/make_codebook.py --make pca writes it."""
    from relf_hloc.features import weights_tag
    np.savez(path, mean=mean.astype(np.float32), components=components.astype(np.float16),
             weights=np.array(weights_tag(weights)), explained=np.zeros(components.shape[1], np.float32))


def test_pca_projects_the_aligned_descriptor_and_is_checked_against_its_weights(tmp_path):
    """``pca``: (descriptor - mean) @ components, unit length, before the RootSIFT part; the file lies
    beside the weights and must have been learned for them; its content names the features."""
    import shutil
    from relf_hloc.confs import DEFAULT_WEIGHTS, DETECTOR_WEIGHTS
    from relf_hloc.features import identity
    weights = tmp_path / "w.pth"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    image = np.ascontiguousarray(skimage.data.astronaut()[100:260, 150:350])
    base = {"weights": str(weights), "pyramid": None, "max_keypoints": 100}
    plain = RELF(base).extract(image)
    # hand-made PCA: the first 8 coordinates, no mean: the projection is the normalised first 8
    write_pca(tmp_path / "w.pca.npz", np.zeros(1024), np.eye(1024)[:, :8], weights)
    compact = RELF({**base, "pca": 8})
    out = compact.extract(image)
    first = plain["descriptors"][:, :8] / np.linalg.norm(plain["descriptors"][:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(out["descriptors"], first, atol=1e-5)
    assert compact.channels == 8 and RELF({**base, "pca": 8, "rootsift": 0.5}).channels == 136
    tag = identity({"name": "relf", **base, "pca": 8})["pca"]
    write_pca(tmp_path / "w.pca.npz", np.ones(1024), np.eye(1024)[:, :8], weights)
    assert identity({"name": "relf", **base, "pca": 8})["pca"] != tag  # another PCA, other features
    assert identity({"name": "relf", **base})["pca"] is None
    with pytest.raises(ValueError, match="pca must be in 1..8"):
        RELF({**base, "pca": 9})
    with pytest.raises(ValueError, match="choose one"):
        RELF({**base, "pca": 8, "descriptor_dim": 8})
    write_pca(tmp_path / "w.pca.npz", np.zeros(1024), np.eye(1024)[:, :8], DETECTOR_WEIGHTS)  # other weights
    with pytest.raises(CheckpointError, match="w.pca.npz: learned for weights"):
        RELF({**base, "pca": 8})
    (tmp_path / "w.pca.npz").unlink()
    with pytest.raises(FileNotFoundError, match="w.pca.npz: no descriptor PCA"):
        RELF({**base, "pca": 8})
    with pytest.raises(ValueError, match="random weights have no PCA"):
        RELF({"random_weights": True, "pca": 8})


def test_auto_backend_is_int8_on_the_cpu_where_onnx_runtime_is_installed(monkeypatch):
    """'auto' resolves to the runtime that runs, before files are named: ONNX Runtime int8 on the CPU
    with the onnx extra, torch without it or on a GPU; the features' identity names the resolved one."""
    import importlib.util
    from relf_hloc.confs import resolve_backend, runnable, with_options
    from relf_hloc.features import identity
    real = importlib.util.find_spec
    for installed, cpu in ((True, "onnxruntime-int8"), (False, "torch")):
        fake = lambda name, *a, on=installed: (object() if on else None) if name == "onnxruntime" else real(name, *a)  # noqa: E731
        monkeypatch.setattr(importlib.util, "find_spec", fake)
        assert resolve_backend("auto") == cpu and resolve_backend("auto", "cuda") == "torch"
        assert resolve_backend("onnxruntime") == "onnxruntime"  # others name themselves
        conf = with_options("relf-fast-rs", backend="auto")
        assert runnable(conf)["model"]["backend"] == cpu and conf["model"]["backend"] == "auto"
        assert runnable(conf, "cuda")["model"]["backend"] == "torch"
        assert identity(conf["model"])["backend"] == cpu == identity(runnable(conf)["model"])["backend"]
