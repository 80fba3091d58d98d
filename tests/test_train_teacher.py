"""Distillation from a teacher's hloc features file: the loader's geometry and checks, the
relational and regression losses by hand, and the trainer's errors."""

import math

import cv2
import h5py
import numpy as np
import pytest
import torch

from relf_hloc.geometry import warp_points
from relf_hloc.confs import merge
from relf_hloc.train import trainer
from relf_hloc.train.data import PairGenerator, Teacher
from relf_hloc.train.losses import distill_loss, regression_loss, relational_loss, roll_groups


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Three textured images (random blobs) and a teacher file for two of them, whose
    keypoints are the centres of bright squares drawn at known places."""
    root = tmp_path_factory.mktemp("teacher_images")
    rng = np.random.default_rng(0)
    points = {}
    for i in range(3):
        image = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (5, 5), 0)
        pts = np.stack([rng.uniform(20, 300, 40), rng.uniform(20, 220, 40)], 1).round()
        for x, y in pts.astype(int):
            image[y - 2:y + 3, x - 2:x + 3] = 255
        cv2.imwrite(str(root / f"im{i}.png"), image)
        points[f"im{i}.png"] = pts.astype(np.float32)
    with h5py.File(root / "teacher.h5", "w") as f:
        for name in ("im0.png", "im1.png"):
            n = len(points[name])
            group = f.create_group(name)
            group["keypoints"] = points[name]
            desc = rng.normal(size=(8, n)).astype(np.float32)
            group["descriptors"] = (desc / np.linalg.norm(desc, axis=0)).astype(np.float16)
            group["scores"] = np.linspace(1, 0, n).astype(np.float16)
    return root


def test_teacher_points_follow_the_crop_and_the_homography(image_dir):
    names = ["im0.png", "im1.png", "im2.png"]
    teacher = Teacher(image_dir / "teacher.h5", names)
    gen = PairGenerator.from_folder(image_dir, {"crop_hw": (96, 128), "num_keypoints": 16,
                                               "photometric": False, "teacher_keypoints": 24}, names, teacher)
    seen = 0
    for seed in range(12):
        s = gen.sample(seed)
        m = s["teacher_mask"]
        if not m.any():
            continue
        seen += 1
        k1, k2 = s["teacher_kpts1"][m], s["teacher_kpts2"][m]
        assert torch.allclose(warp_points(s["H"].double(), k1.double()).float(), k2, atol=1e-3)
        # each teacher point sits on a bright square in view 1 (the squares are 5 px wide
        # before the crop's resize; their centres are the brightest pixels around)
        gray = s["image1"].mean(0)
        xy = k1.round().long()
        assert (gray[xy[:, 1], xy[:, 0]] > 0.8).float().mean() > 0.9
        # strongest first, descriptors unit norm, padding zero
        scores = s["teacher_scores"][m]
        assert torch.all(scores[:-1] >= scores[1:])
        assert torch.allclose(s["teacher_desc"][m].norm(dim=1), torch.ones(int(m.sum())), atol=1e-2)
        assert not s["teacher_desc"][~m].any()
        assert m.sum() <= 24
    assert seen >= 4


def test_images_without_teacher_entry_train_as_today(image_dir):
    teacher = Teacher(image_dir / "teacher.h5", ["im0.png", "im1.png", "im2.png"])
    out = teacher.pair("im2.png", np.eye(3), torch.eye(3, dtype=torch.float64),
                       torch.ones(10, 10, dtype=torch.bool), 5, 16)
    assert not out["teacher_mask"].any() and out["teacher_desc"].shape == (5, 8)


def test_teacher_file_errors(image_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5: teacher features file not found"):
        Teacher(tmp_path / "missing.h5", ["im0.png"])
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5: not an HDF5 features file"):
        Teacher(tmp_path / "text.h5", ["im0.png"])
    with pytest.raises(ValueError, match="holds none of the 1 training images"):
        Teacher(image_dir / "teacher.h5", ["other.png"])
    with h5py.File(tmp_path / "nk.h5", "w") as f:  # descriptors stored [N, D]
        f["a.png/keypoints"] = np.zeros((5, 2), np.float32)
        f["a.png/descriptors"] = np.zeros((5, 8), np.float32)
        f["a.png/scores"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"image a.png: expected keypoints \[N, 2\], descriptors \[D, N\]"):
        Teacher(tmp_path / "nk.h5", ["a.png"])
    with h5py.File(tmp_path / "nodesc.h5", "w") as f:
        f["a.png/keypoints"] = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"image a.png lacks \['descriptors', 'scores'\]"):
        Teacher(tmp_path / "nodesc.h5", ["a.png"])


def test_relational_loss_by_hand():
    t = torch.eye(2)
    # student equal to teacher: KL 0
    assert relational_loss(t, t, t, 1.0).item() == pytest.approx(0.0, abs=1e-7)
    # student similarities all equal (uniform rows); teacher rows softmax([1, 0]) at T = 1:
    # KL(p || uniform) = sum p log(2 p)
    p = torch.softmax(torch.tensor([1.0, 0.0]), 0)
    expected = (p * torch.log(2 * p)).sum().item()
    flat = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert relational_loss(flat, flat, t, 1.0).item() == pytest.approx(expected, abs=1e-6)


def test_regression_loss_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert regression_loss(a, a).item() == pytest.approx(0.0, abs=1e-7)
    assert regression_loss(a, torch.tensor([[0.0, 1.0], [0.0, -1.0]])).item() == pytest.approx(1.5)


def test_distill_loss_aligns_view_two_by_the_true_shift():
    G, M = 4, 6
    torch.manual_seed(0)
    vec1 = torch.randn(M, 3 * G)
    shift = torch.randint(0, G, (M,))
    vec2 = roll_groups(vec1, -shift, G)  # view 2 = view 1 turned by the shift
    teacher = torch.nn.functional.normalize(torch.randn(M, 5), dim=1)
    conf = {"relational_weight": 1.0, "regression_weight": 0.5, "relational_temperature": 0.1}
    proj = torch.nn.Linear(3 * G, 5)
    out = distill_loss(vec1, vec2, shift, teacher, G, conf, proj)
    # both views aligned to the same frame: the student's cross-view similarity matrix is its
    # self-similarity, and the regression sees the same descriptor twice
    same = distill_loss(vec1, vec1, torch.zeros(M, dtype=torch.long), teacher, G, conf, proj)
    assert out["relational"].item() == pytest.approx(same["relational"].item(), abs=1e-5)
    assert out["regression"].item() == pytest.approx(same["regression"].item(), abs=1e-5)
    assert out["total"].item() == pytest.approx(out["relational"].item() + 0.5 * out["regression"].item())
    out["total"].backward()
    assert proj.weight.grad is not None and math.isfinite(proj.weight.grad.abs().sum().item())


def test_trainer_refuses_teacher_losses_without_a_teacher(image_dir, tmp_path):
    conf = merge(trainer.default_conf, {"data": {"root": str(image_dir), "num_val_images": 1},
                                                "loss": {"relational_weight": 1.0}})
    with pytest.raises(ValueError, match="need a teacher: set train.teacher"):
        trainer.pair_generators(conf)
    conf = merge(conf, {"train": {"teacher": str(image_dir / "teacher.h5")},
                                "loss": {"regression_weight": 1.0}})
    with pytest.raises(ValueError, match="needs model.projection: 8"):
        trainer.pair_generators(conf)


def test_training_with_a_teacher_logs_its_losses_and_ships_without_the_projection(image_dir, tmp_path):
    from relf_hloc.features.relf import exported_network
    conf = merge(trainer.default_conf, {
        "data": {"root": str(image_dir), "num_val_images": 0, "crop_hw": [96, 128], "num_keypoints": 16},
        "model": {"projection": 8},
        "loss": {"relational_weight": 1.0, "regression_weight": 1.0},
        "train": {"batch_size": 1, "max_steps": 3, "checkpoint_every": 3, "steps_per_epoch": 100,
                  "num_threads": 1, "device": "cpu", "teacher": str(image_dir / "teacher.h5")},
        "optim": {"warmup_steps": 1},
        "val": {"synthetic_pairs": 0, "hpatches": None},
    })
    last = trainer.train(conf, tmp_path / "run")
    header = (tmp_path / "run" / "train.csv").read_text().splitlines()[0].split(",")
    assert {"relational", "regression", "desc", "ori_kl"} <= set(header)
    state = torch.load(last, weights_only=False)
    assert state["meta"]["projection"] == 8 and "projection.weight" in state["state_dict"]
    net = exported_network(str(last))  # inference ignores the training-only head
    assert not hasattr(net, "projection") or net.projection is None


def test_teacher_configs_load():
    import os
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "train", "teacher")
    for name in sorted(os.listdir(folder)):
        conf = trainer.load_config(os.path.join(folder, name))
        assert conf["model"]["init_weights"] == "shipped" and conf["train"]["max_steps"] == 800
        if conf["loss"]["regression_weight"]:
            assert conf["model"]["projection"] == 128


def test_projected_descriptor_option(tmp_path):
    """``descriptor_dim``: the checkpoint's learned projection, unit vectors of that size; still
    invariant to a 90-degree turn (the projection acts on the aligned descriptor); weights without
    a projection, or with another size, are an error naming the file."""
    from relf_hloc.features.checkpoint import CheckpointError, save_checkpoint
    from relf_hloc.features.relf import RELF
    from relf_hloc.features.reresnet import ReResNet18

    torch.manual_seed(0)
    meta = {"G": 16, "widths": [64, 128, 256, 512], "normalization": "imagenet", "code_version": "test"}
    with_head = save_checkpoint(tmp_path / "proj.pth", ReResNet18(16, projection=32), meta)
    image = (np.random.default_rng(0).random((97, 97, 3)) * 255).astype(np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 2)
    kpts = np.array([[40.0, 50.0], [60.0, 30.0], [48.0, 48.0]], np.float32)
    relf = RELF({"weights": str(with_head), "pyramid": None, "descriptor_dim": 32, "subbin": False})
    a = relf.extract(image, kpts)
    b = relf.extract(np.ascontiguousarray(np.rot90(image)), np.stack([kpts[:, 1], 96 - kpts[:, 0]], 1))
    assert a["descriptors"].shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(a["descriptors"], axis=1), 1, atol=1e-5)
    np.testing.assert_allclose((a["descriptors"] * b["descriptors"]).sum(1), 1, atol=1e-4)
    with pytest.raises(CheckpointError, match="proj.pth: its projection gives 32-d descriptors, not 128"):
        RELF({"weights": str(with_head), "pyramid": None, "descriptor_dim": 128})
    plain = save_checkpoint(tmp_path / "plain.pth", ReResNet18(16), meta)
    with pytest.raises(CheckpointError, match="plain.pth: these weights have no learned projection"):
        RELF({"weights": str(plain), "pyramid": None, "descriptor_dim": 32})
