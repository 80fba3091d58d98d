"""The Re-WideResNet-16-8 backbone: export, exact 90-degree equivariance of every field,
invariant aligned descriptors, parameter counts, and the backbone recorded in checkpoints.
Random weights; the e2cnn network is built once per module (5x5 bases take seconds)."""

import numpy as np
import pytest
import torch

from relf_hloc.features.backbones import build_backbone, fused_channels
from relf_hloc.features.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from relf_hloc.features.relf import RELF, exported_network
from relf_hloc.features.reresnet import export_plain, fuse_dense
from relf_hloc.features.rewrn import ReWRN16_8

from test_model import random_bn_statistics, rot90_keypoints

G = 16
WRN = {"random_weights": True, "backbone": "wrn16_8", "pyramid": None}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return random_bn_statistics(ReWRN16_8(G))


@pytest.fixture(scope="module")
def plain(model):
    return export_plain(model)


def test_export_equals_equivariant_model(model, plain):
    x = torch.randn(1, 3, 41, 57)
    with torch.no_grad():
        for a, b in zip(model(x), plain(x)):
            assert a.shape == b.shape
            assert (a - b).abs().max() < 1e-5 * a.abs().max()
    kinds = {type(m) for m in plain.modules() if not list(m.children())}
    assert kinds <= {torch.nn.Conv2d, torch.nn.BatchNorm2d}  # plain layers only (ONNX, int8)


def test_parameter_counts_and_shapes(model, plain):
    equivariant = sum(p.numel() for p in model.parameters())
    exported = sum(p.numel() for p in plain.parameters())
    print(f"Re-WRN-16-8: {equivariant} equivariant parameters, {exported} once exported")
    assert (equivariant, exported) == (1_290_836, 30_286_912)
    with torch.no_grad():
        feats = plain(torch.randn(1, 3, 33, 49))
    assert [tuple(f.shape[1:]) for f in feats] == [(512, 5, 7), (256, 9, 13), (128, 17, 25)]
    assert model.channels == fused_channels("wrn16_8") == 896
    assert fused_channels("reresnet18") == 1024


def test_every_field_shifts_by_a_quarter_group_under_rot90(plain):
    """rot90 (counter-clockwise as displayed) rolls every regular field by +G/4, as ReResNet's."""
    x = torch.randn(1, 3, 49, 65)  # (H-1) and (W-1) multiples of 16 (8 would do: 3 stride-2 stages)
    with torch.no_grad():
        feats, feats_rot = plain(x), plain(torch.rot90(x, 1, (2, 3)))
    for f, fr in zip(feats + [fuse_dense(feats)], feats_rot + [fuse_dense(feats_rot)]):
        B, C, h, w = f.shape
        expected = torch.roll(torch.rot90(f, 1, (2, 3)).reshape(B, C // G, G, w, h), G // 4, 2)
        scale = f.abs().max()
        assert (fr.reshape(B, C // G, G, w, h) - expected).abs().max() < 1e-4 * scale
        wrong = torch.roll(expected, -G // 2, 2)  # the sign is pinned
        assert (fr.reshape(B, C // G, G, w, h) - wrong).abs().max() > 1e-2 * scale


def test_aligned_descriptors_invariant_to_rot90():
    image = (np.random.default_rng(0).random((97, 129, 3)) * 255).astype(np.uint8)
    rotated = np.ascontiguousarray(np.rot90(image, 1, (0, 1)))
    kpts = np.random.default_rng(1).uniform([4, 4], [124, 92], (100, 2)).astype(np.float32)
    for conf in (WRN, {**WRN, "pyramid": {"max_size": 161, "min_size": 113, "step": 2 ** 0.5}}):
        relf = RELF(conf)
        a = relf.extract(image, kpts)
        b = relf.extract(rotated, rot90_keypoints(kpts, 129))
        assert a["descriptors"].shape == (100, 896)
        assert (a["descriptors"] * b["descriptors"]).sum(1).min() >= 0.9999
        assert np.allclose((b["orientations"] - a["orientations"]) % 360, 90, atol=1e-3)


def test_checkpoints_record_the_backbone(tmp_path, model):
    meta = {"backbone": "wrn16_8", "G": G, "widths": [64, 128, 256, 512], "normalization": "imagenet",
            "code_version": "test"}
    path = save_checkpoint(tmp_path / "wrn.pth", model, meta, half=True)
    net = exported_network(str(path), backbone="wrn16_8")
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        ref = export_plain(model)(x)[0]
    assert (net(x)[0] - ref).abs().max() < 0.05 * ref.abs().max()  # fp16 weights
    with pytest.raises(CheckpointError, match=r"wrn.pth: checkpoint has backbone='wrn16_8', "
                                              r"but 'reresnet18' is required"):
        exported_network(str(path))
    # a checkpoint written before backbones were recorded holds ReResNet-18
    old = save_checkpoint(tmp_path / "old.pth", build_backbone("reresnet18"), {**meta, "backbone": None})
    ckpt = torch.load(old, weights_only=False)
    del ckpt["meta"]["backbone"]
    torch.save(ckpt, old)
    assert load_checkpoint(old)[1]["backbone"] == "reresnet18"
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        build_backbone("vgg")


def test_onnx_backends(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is an optional extra")
    from relf_hloc.features import onnx
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    image = (np.random.default_rng(2).random((81, 97, 3)) * 255).astype(np.uint8)
    kpts = np.random.default_rng(3).uniform([4, 4], [92, 76], (60, 2)).astype(np.float32)
    ref = RELF(WRN).extract(image, kpts)
    fp32 = RELF({**WRN, "backend": "onnxruntime"}).extract(image, kpts)
    assert (fp32["descriptors"] * ref["descriptors"]).sum(1).min() > 0.9999
    int8 = RELF({**WRN, "backend": "onnxruntime-int8"}).extract(image, kpts)
    assert np.median((int8["descriptors"] * ref["descriptors"]).sum(1)) > 0.95
    assert all(p.name.startswith("relf-wrn16_8-untrained-") for p in onnx.cache_dir().iterdir())


def test_wrn_conf_passes_through_the_hloc_plugin():
    """hloc hands the conf's model dict to the wrapper: the backbone goes through."""
    from relf_hloc.confs import confs
    from relf_hloc.hloc_plugin import build_extractor_class

    class BaseModel(torch.nn.Module):  # hloc.utils.base_model.BaseModel as it behaves
        default_conf = {}

        def __init__(self, conf):
            super().__init__()
            self.conf = {**self.default_conf, **conf}
            self._init(self.conf)

        def forward(self, data):
            return self._forward(data)

    conf = {**confs["relf-wrn"]["model"], "random_weights": True, "pyramid": None, "max_keypoints": 40}
    assert conf["backbone"] == "wrn16_8"
    image = torch.from_numpy(skimage_image())[None]
    out = build_extractor_class(BaseModel)(conf).eval()({"image": image})
    assert out["descriptors"].shape[:2] == (1, 896) and out["keypoints"].shape[1] > 0


def skimage_image():
    import cv2
    import skimage.data
    return cv2.resize(skimage.data.astronaut(), (129, 97)).transpose(2, 0, 1).astype(np.float32) / 255
