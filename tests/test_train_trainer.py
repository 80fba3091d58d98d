"""Trainer: config handling, exact resume, a smoke test that learns, torchrun/DDP on CPU."""

import csv
import math
import os
import socket
import subprocess
import sys

import pytest
import torch
import yaml

from relf_hloc.cli.train import apply_overrides
from relf_hloc.confs import differences, merge
from relf_hloc.features.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from relf_hloc.train import trainer
from relf_hloc.train.data import PairGenerator

from test_train_data import image_dir  # noqa: F401  (fixture: small scikit-image pictures)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_conf(root, **train):
    """A config small enough for a unit test: 64x64 crops, 16 keypoints, no validation."""
    conf = merge(trainer.default_conf, {
        "data": {"root": str(root), "num_val_images": 0, "crop_hw": [64, 64], "num_keypoints": 16},
        "train": {"batch_size": 1, "max_steps": 4, "checkpoint_every": 2, "steps_per_epoch": 100,
                  "num_threads": 1, "device": "cpu", **train},
        "optim": {"warmup_steps": 2},
        "val": {"synthetic_pairs": 0, "hpatches": None},
    })
    return conf


def read_rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("seconds", "pairs_per_s")}
                for r in csv.DictReader(f)]


def test_config_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batchsize: 2\n")
    with pytest.raises(KeyError, match=r"bad.yaml: unknown option 'train.batchsize'"):
        trainer.load_config(bad)
    with pytest.raises(FileNotFoundError, match="missing.yaml: training config not found"):
        trainer.load_config(tmp_path / "missing.yaml")
    conf = apply_overrides(trainer.default_conf, ["data.homography=paper", "train.batch_size=3"])
    assert conf["data"]["homography"] == "paper" and conf["train"]["batch_size"] == 3
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        apply_overrides(conf, ["data.homography"])


def test_shipped_configs_load():
    for name in ("cpu", "gpu", "smoke"):
        conf = trainer.load_config(os.path.join(REPO, "configs", "train", f"{name}.yaml"))
        assert conf["model"]["G"] == 16


def test_lr_schedule_and_step_sampler():
    conf = {"warmup_steps": 4, "min_lr_ratio": 0.1}
    assert [trainer.lr_factor(s, conf, 14) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert trainer.lr_factor(9, conf, 14) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way: cos = 0
    assert trainer.lr_factor(14, conf, 14) == pytest.approx(0.1)
    # rank 1 of 2, batch 3, steps 2..3: sample numbers (t * 2 + 1) * 3 + j
    assert list(trainer.StepSampler(2, 4, 3, 1, 2)) == [15, 16, 17, 21, 22, 23]


def test_resume_is_exact(image_dir, tmp_path):  # noqa: F811
    conf = tiny_conf(image_dir)
    straight = trainer.train(conf, tmp_path / "straight")
    trainer.train(conf, tmp_path / "split", stop_step=2)
    _, meta, _ = load_checkpoint(tmp_path / "split" / "last.pth")
    assert meta["step"] == 2 and meta["train_config"] == conf and meta["normalization"] == "imagenet"
    resumed = trainer.train(conf, tmp_path / "split", resume=tmp_path / "split" / "last.pth")
    a, meta_a, _ = load_checkpoint(straight)
    b, meta_b, _ = load_checkpoint(resumed)
    assert meta_a["step"] == meta_b["step"] == 4
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_rows(tmp_path / "straight" / "train.csv") == read_rows(tmp_path / "split" / "train.csv")
    assert [int(r["step"]) for r in read_rows(tmp_path / "split" / "train.csv")] == [1, 2, 3, 4]
    log = [line.split(" ", 2)[2] for line in (tmp_path / "split" / "train.log").read_text().splitlines()]
    split = tmp_path / "split"  # both runs' lines, after a time stamp, appended
    assert [line.split(";")[0].split(" in ")[0] for line in log] == [
        f"train: relf-hloc {trainer.code_version}, 4 steps of batch 1, 1 process(es) on cpu, "
        f"1 thread(s), outputs {split}", "train: 2 steps (0 -> 2)",
        f"train: relf-hloc {trainer.code_version}, 4 steps of batch 1, 1 process(es) on cpu, "
        f"1 thread(s), outputs {split}", f"train: resumed from {split / 'last.pth'} at step 2",
        "train: 2 steps (2 -> 4)"]

    # exported weights (float16, no optimiser): the schedule and the data go on at their step
    state, meta, _ = load_checkpoint(tmp_path / "split" / "last.pth")  # step 4
    model = trainer.ReResNet18(conf["model"]["G"], conf["model"]["widths"])
    trainer.load_model_state(model, state)
    meta["step"] = 2
    save_checkpoint(tmp_path / "exported.pth", model, meta, half=True)
    (tmp_path / "cont").mkdir()
    rows = read_rows(tmp_path / "straight" / "train.csv")
    with open(tmp_path / "cont" / "train.csv", "w", newline="") as f:  # the committed log, to step 3
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:3])
    trainer.train(conf, tmp_path / "cont", resume=tmp_path / "exported.pth")
    cont = read_rows(tmp_path / "cont" / "train.csv")
    assert [int(r["step"]) for r in cont] == [1, 2, 3, 4]  # truncated to step 2, then 3 and 4
    assert [r["lr"] for r in cont] == [r["lr"] for r in rows]  # warm-up not restarted
    meta["step"] = 0
    save_checkpoint(tmp_path / "weights_only.pth", model, meta)
    with pytest.raises(ValueError, match="weights_only.pth: has no training state and no step"):
        trainer.train(conf, tmp_path / "x", resume=tmp_path / "weights_only.pth")


def test_exported_last_weights_carry_step_and_best_score(image_dir, tmp_path):  # noqa: F811
    """train.export_last (the long run's committed fallback): the latest weights after every
    validation, float16, with the best score so far; a resume from it keeps that best score."""
    conf = merge(tiny_conf(image_dir), {
        "data": {"num_val_images": 2}, "val": {"synthetic_pairs": 1, "num_keypoints": 16},
        "train": {"steps_per_epoch": 2, "export_best": str(tmp_path / "best.pth"),
                  "export_last": str(tmp_path / "last.pth")}})
    trainer.train(conf, tmp_path / "run")
    scores = [float(r["score"]) for r in read_rows(tmp_path / "run" / "val.csv")]
    assert len(scores) == 2
    state, meta, ckpt = load_checkpoint(tmp_path / "last.pth")
    assert meta["step"] == 4 and meta["metrics"]["score"] == pytest.approx(scores[1], abs=1e-3)
    assert ckpt["best_score"] == pytest.approx(max(scores), abs=1e-3) and "optimizer" not in ckpt
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values() if v.is_floating_point())
    _, best_meta, _ = load_checkpoint(tmp_path / "best.pth")
    assert best_meta["step"] == 2 + 2 * scores.index(max(scores))

    model = trainer.ReResNet18(conf["model"]["G"], conf["model"]["widths"])
    trainer.load_model_state(model, state)
    save_checkpoint(tmp_path / "lagging.pth", model, meta, half=True, extra={"best_score": 99.5})
    trainer.train(conf, tmp_path / "cont", resume=tmp_path / "lagging.pth")  # at step 4 of 4
    assert (tmp_path / "cont" / "train.log").read_text().splitlines()[-1].split("; ")[1] == "best score 99.50"


def test_run_stopped_in_its_last_validation_validates_on_resume(image_dir, tmp_path, monkeypatch):  # noqa: F811
    """A run killed during its final validation has last.pth at the last step and no best.pth:
    resuming it trains nothing and validates (best.pth of the final step)."""
    conf = merge(tiny_conf(image_dir, max_steps=2, checkpoint_every=1),
                 {"data": {"num_val_images": 2}, "val": {"synthetic_pairs": 1, "num_keypoints": 16}})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(trainer.Validation, "__call__", killed)
        with pytest.raises(KeyboardInterrupt):
            trainer.train(conf, tmp_path / "run")
    assert not (tmp_path / "run" / "best.pth").exists()
    assert load_checkpoint(tmp_path / "run" / "last.pth")[1]["step"] == 2
    trainer.train(conf, tmp_path / "run", resume=tmp_path / "run" / "last.pth")
    assert load_checkpoint(tmp_path / "run" / "best.pth")[1]["step"] == 2
    assert len(read_rows(tmp_path / "run" / "val.csv")) == 1
    assert len(read_rows(tmp_path / "run" / "train.csv")) == 2  # no step trained again


def test_detector_head_trains_on_the_frozen_trunk(image_dir, tmp_path):  # noqa: F811
    conf = tiny_conf(image_dir)
    with pytest.raises(ValueError, match="freeze_backbone trains the detector head on given weights"):
        trainer.train(merge(conf, {"train": {"freeze_backbone": True}}), tmp_path / "x")
    trunk = trainer.train(conf, tmp_path / "trunk")
    det_conf = merge(conf, {"model": {"detector": True, "init_weights": str(trunk)},
                                    "train": {"freeze_backbone": True}})
    out = trainer.train(det_conf, tmp_path / "det")
    a, _, _ = load_checkpoint(trunk)
    b, meta, _ = load_checkpoint(out)
    assert meta["detector"] is True
    assert all(torch.equal(a[k], b[k]) for k in a)  # trunk untouched, batch-norm statistics too
    torch.manual_seed(conf["seed"])  # the head's initial weights, as train() draws them
    initial = trainer.ReResNet18(conf["model"]["G"], conf["model"]["widths"], detector=True).detector
    assert any(not torch.equal(v, b[f"detector.{k}"]) for k, v in initial.state_dict().items()
               if f"detector.{k}" in b)
    columns = set(read_rows(tmp_path / "det" / "train.csv")[0])
    assert {"repeatability", "peakiness"} <= columns and "desc" not in columns


def test_smoke_training_lowers_the_loss(image_dir):  # noqa: F811
    """Over-fit one fixed pair for a few steps: the loss must go down."""
    conf = tiny_conf(image_dir, max_steps=10)
    conf["optim"].update(lr=1e-3, warmup_steps=1)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = PairGenerator.from_folder(image_dir, {"crop_hw": (64, 64), "num_keypoints": 32,
                                                "photometric": False})
    batch = torch.utils.data.default_collate([gen.sample(0)])
    model = trainer.ReResNet18(16).train()
    optimizer, scheduler = trainer.build_optimizer(model, conf)
    no_amp = torch.autocast("cpu", enabled=False)
    losses = [trainer.optimize_step(model, optimizer, scheduler, batch, conf, "cpu", no_amp)
              for _ in range(8)]
    assert all(math.isfinite(r["total"]) for r in losses)
    assert losses[-1]["total"] < losses[0]["total"] - 1.0
    assert losses[-1]["desc"] < losses[0]["desc"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_ddp_gloo_two_processes(image_dir, tmp_path):  # noqa: F811
    """`torchrun --nproc_per_node 2 ... train` starts DDP (gloo on CPU) and takes a step."""
    conf = tiny_conf(image_dir, max_steps=1, checkpoint_every=1)
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(conf))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "relf_hloc.cli", "train", "--config", str(config), "--output", str(tmp_path / "out")]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "out" / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and math.isfinite(float(rows[0]["total"]))  # one row: rank 0 logs
    assert float(rows[0]["pairs_per_s"]) > 0
    _, meta, _ = load_checkpoint(tmp_path / "out" / "last.pth")
    assert meta["step"] == 1


def test_init_weights_fine_tunes_from_a_checkpoint(image_dir, tmp_path):  # noqa: F811
    from relf_hloc.features.checkpoint import load_model_state
    from relf_hloc.features.reresnet import ReResNet18
    torch.manual_seed(123)
    source = ReResNet18(16)
    start = save_checkpoint(tmp_path / "start.pth", source, {"G": 16, "widths": [64, 128, 256, 512],
                                                             "normalization": "imagenet", "code_version": "test"})
    conf = tiny_conf(image_dir, max_steps=1, checkpoint_every=1)
    conf["optim"].update(lr=0.0, weight_decay=0.0)  # one step that changes nothing
    conf["model"]["init_weights"] = str(start)
    trainer.train(conf, tmp_path / "ft")
    trained = ReResNet18(16)
    load_model_state(trained, load_checkpoint(tmp_path / "ft" / "last.pth")[0])
    for (name, a), b in zip(source.named_parameters(), trained.parameters()):
        assert torch.equal(a, b), name
    other = save_checkpoint(tmp_path / "c8.pth", source, {"G": 8, "widths": [64, 128, 256, 512],
                                                          "normalization": "imagenet", "code_version": "test"})
    conf["model"]["init_weights"] = str(other)
    with pytest.raises(CheckpointError, match="c8.pth: checkpoint has G=8, but 16 is required"):
        trainer.train(conf, tmp_path / "bad")


def test_config_differences():
    old = {"a": 1, "b": {"c": [1, 2], "d": "x"}}
    new = {"a": 1, "b": {"c": (1, 2), "d": "y"}, "e": 0}
    assert differences(old, new) == ["b.d: 'x' -> 'y'", "e: None -> 0"]


def test_a_new_objective_is_one_registry_entry(image_dir, monkeypatch):  # noqa: F811
    """The trainer sums every enabled objective (``objectives.OBJECTIVES``): a new one changes the
    total by its own total and adds its named parts, with no change to the trainer."""
    from relf_hloc.train import objectives

    class Constant:
        def enabled(self, step):
            return True

        def losses(self, step):
            return {"total": torch.tensor(2.5), "constant": torch.tensor(1.0)}

    conf = tiny_conf(image_dir)
    generator, _ = trainer.pair_generators(conf)
    batch = {k: v[None] for k, v in generator.sample(0).items()}
    model = trainer.build_model(conf, torch.device("cpu"), 1)
    nothing = torch.autocast("cpu", enabled=False)
    base = trainer.training_step(model, batch, conf, "cpu", nothing)
    monkeypatch.setitem(objectives.OBJECTIVES, "constant", Constant())
    more = trainer.training_step(model, batch, conf, "cpu", nothing)
    assert more["constant"] == 1.0 and "constant" not in base
    assert torch.isclose(more["total"], base["total"] + 2.5)
    assert set(objectives.OBJECTIVES) == {"descriptor", "teacher", "detector", "constant"}
