"""scripts/average_weights.py: the mean of checkpoints, and a clear error for ones that differ."""

import importlib.util
from pathlib import Path

import pytest
import torch

from relf_hloc.features.checkpoint import CheckpointError, save_checkpoint
from relf_hloc.features.reresnet import ReResNet18

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "average_weights.py"
spec = importlib.util.spec_from_file_location("average_weights", SCRIPT)
average_weights = importlib.util.module_from_spec(spec)
spec.loader.exec_module(average_weights)

WIDTHS = [8, 8, 8, 8]


def checkpoint(path, G, seed, step):
    torch.manual_seed(seed)
    model = ReResNet18(G, WIDTHS)
    meta = {"G": G, "widths": WIDTHS, "normalization": "imagenet", "code_version": "test",
            "step": step, "metrics": {"score": 1.0}}
    save_checkpoint(path, model, meta)
    return {k: v.clone() for k, v in average_weights.load_checkpoint(path)[0].items()}


def test_average_is_the_mean_and_names_its_sources(tmp_path):
    a = checkpoint(tmp_path / "a.pth", 4, 0, 100)
    b = checkpoint(tmp_path / "b.pth", 4, 1, 200)
    state, meta = average_weights.average([tmp_path / "a.pth", tmp_path / "b.pth"])
    key = "stem.0.module.weights"
    assert not torch.equal(a[key], b[key])
    for k, v in state.items():
        expected = (a[k] + b[k]) / 2 if v.is_floating_point() else a[k]
        assert torch.allclose(v, expected), k
    assert [s["step"] for s in meta["averaged"]] == [100, 200]
    assert meta["step"] == 200 and "metrics" not in meta


def test_average_refuses_other_groups(tmp_path):
    checkpoint(tmp_path / "a.pth", 4, 0, 100)
    checkpoint(tmp_path / "c8.pth", 8, 0, 100)
    with pytest.raises(CheckpointError, match=r"c8\.pth: G 8 differs from 4"):
        average_weights.average([tmp_path / "a.pth", tmp_path / "c8.pth"])
