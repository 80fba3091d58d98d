"""Self-supervised RELF training: ``relf-hloc train --config configs/train/X.yaml``.

Pairs come from single images (``data.PairGenerator``); the loss is
``losses.relf_loss`` (InfoNCE + orientation alignment). One forward per step
runs both views together. Runs on CPU or CUDA (bf16 autocast), on one process
or several with ``torchrun`` (DistributedDataParallel; nccl on GPU, gloo on CPU).

Output folder::

    last.pth        model + optimiser + scheduler + step: resume with --resume (atomic writes)
    best.pth        the model with the best validation score (mean MMA@5 over val sets)
    train.csv       one row per step: losses, accuracies, learning rate, throughput
    val.csv         one row per validation: MMA@3/5/10, matches, orientation accuracy
    config.yaml     the resolved configuration
    train.log       what the runs said: start, resumes, warnings, validations, ends (appended)

Every sample is a pure function of (seed, global sample number), the training
state is saved with the model, and CPU kernels are deterministic: resuming
gives the same weights as an uninterrupted run (tested).
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from .. import __version__ as code_version
from ..confs import DEFAULT_WEIGHTS, ConfigError, differences, merge, read_yaml
from ..features.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from ..features.backbones import build_backbone, fused_channels
from ..features.reresnet import NORMALIZATION, ReResNet18, export_plain, normalize_image  # noqa: F401  (tests)
from ..images import list_images
from ..io import atomic_write, write_text
from . import data as pair_data
from .losses import default_conf as loss_defaults
from .objectives import Step, total_losses
from .validation import build_val_sets, validate

default_conf = {
    "seed": 0,
    "data": {
        "root": "../shared/data/train_images",  # relative paths: to the current directory
        "num_val_images": 20,                    # held back from training for validation
        **{k: v for k, v in pair_data.default_conf.items() if k != "groups"},
    },
    "model": {"backbone": "reresnet18",  # or wrn16_8 (features.backbones)
              "G": 16, "widths": [64, 128, 256, 512],
              "init_weights": None,   # start from these weights (a checkpoint, or 'shipped'): fine-tuning
              "detector": False,      # with the learned detector head (losses.detector_loss)
              "projection": 0},       # > 0: a projection head for loss.regression_weight (teacher's size)
    "loss": dict(loss_defaults),
    "optim": {
        "lr": 3e-4,
        "weight_decay": 1e-4,      # AdamW (decoupled); the original's Adam L2 of 0.1 is far stronger
        "warmup_steps": 100,
        "min_lr_ratio": 0.05,      # cosine decay to lr * min_lr_ratio at max_steps
        "grad_clip": 10.0,
    },
    "train": {
        "batch_size": 2,
        "max_steps": 20000,
        "steps_per_epoch": 1000,   # validation (and best checkpoint) after every epoch
        "checkpoint_every": 200,
        "num_threads": 0,          # torch CPU threads; 0 = torch's default
        "num_workers": 0,          # DataLoader workers
        "device": "auto",          # auto | cpu | cuda
        "amp": True,               # bf16 autocast on CUDA (ignored on CPU)
        "time_budget_s": 0,        # > 0: stop (checkpoint + validation) after this many seconds
        "export_best": None,       # also write the best model here, float16 weights only (to commit)
        "export_last": None,       # and the latest one after every validation, with the best score so far
        "freeze_backbone": False,  # train the detector head only, on the fixed trunk of init_weights
        "teacher": None,           # an hloc features file of training images (data.Teacher): distillation
    },
    "val": {
        "synthetic_pairs": 8,
        "hpatches": "../shared/data/hpatches",  # null to skip
        "hpatches_angles": [45, 90, 160, 250],
        "hpatches_pairs": True,
        "hpatches_size": 320,
        "num_keypoints": 512,
        "at_start": False,         # also validate the untrained network at step 0
    },
}


def load_config(path) -> dict:
    """A YAML config merged into ``default_conf``; a top-level ``base: other.yaml`` (relative
    to the file) is loaded first and this file's entries override it."""
    path = Path(path)
    user = read_yaml(path, "training config")
    base = user.pop("base", None)
    try:
        return merge(load_config(path.parent / base) if base else default_conf, user)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def lr_factor(step: int, conf: dict, max_steps: int) -> float:
    """Linear warm-up then cosine decay to min_lr_ratio."""
    warmup = conf["warmup_steps"]
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(max_steps - warmup, 1), 1.0)
    return conf["min_lr_ratio"] + (1 - conf["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * progress))


class StepSampler(torch.utils.data.Sampler):
    """Global sample numbers of this rank from ``start_step`` on: step t, rank r, item j
    is sample (t * world + r) * batch + j, so a resumed run sees exactly the same data."""

    def __init__(self, start_step: int, stop_step: int, batch: int, rank: int, world: int):
        self.start, self.stop, self.batch, self.rank, self.world = start_step, stop_step, batch, rank, world

    def __iter__(self):
        for t in range(self.start, self.stop):
            first = (t * self.world + self.rank) * self.batch
            yield from range(first, first + self.batch)

    def __len__(self):
        return (self.stop - self.start) * self.batch


class TextLog:
    """Print a line and append it, time-stamped, to the run's ``train.log`` (main process)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def __call__(self, line: str):
        """Print ``line`` and append it to the log file (main process only)."""
        if not self.enabled:
            return
        tqdm.write(line)
        with open(self.path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


class CsvLog:
    """Append rows to a CSV file, writing the header once (the first row fixes the columns)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def write(self, row: Dict[str, float]):
        """Append one row (columns fixed by the first row; main process only)."""
        if not self.enabled:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def truncate_log(path: Path, step: int):
    """Drop rows after ``step`` (left by a run that died after its last checkpoint)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)


def single_thread_worker(_):
    """DataLoader workers: one torch thread each (many workers x many threads thrash)."""
    torch.set_num_threads(1)


def setup_distributed(device_kind: str):
    """(rank, world size, local rank); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def model_meta(conf: dict, step: int, metrics: Optional[dict] = None) -> dict:
    """The checkpoint metadata of the network of ``conf`` at ``step``."""
    return {"backbone": conf["model"]["backbone"], "G": conf["model"]["G"], "widths": list(conf["model"]["widths"]),
            "channels": fused_channels(conf["model"]["backbone"], conf["model"]["widths"]),
            "normalization": NORMALIZATION, "code_version": code_version,
            "detector": bool(conf["model"]["detector"]), "projection": int(conf["model"]["projection"]),
            "train_config": conf, "step": step, "metrics": metrics or {}}


def training_step(model, batch: dict, conf: dict, device, autocast, trunk=None) -> Dict[str, torch.Tensor]:
    """Losses of one batch: both views go through the network in one forward, then every
    objective that applies (``objectives``) adds its losses. With a frozen ``trunk``
    (train.freeze_backbone) only the detector head learns."""
    images = torch.cat([batch["image1"], batch["image2"]]).to(device, non_blocking=True)
    with autocast:
        if trunk is None:
            feats = model(normalize_image(images))
        else:
            with torch.no_grad():
                feats = trunk(normalize_image(images))
    return total_losses(Step(model, feats, batch, conf, device, frozen=trunk is not None))


def optimize_step(model, optimizer, scheduler, batch: dict, conf: dict, device, autocast, trunk=None
                  ) -> Dict[str, float]:
    """One optimisation step on ``batch``; returns the losses and metrics as floats."""
    losses = training_step(model, batch, conf, device, autocast, trunk)
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, conf["optim"]["grad_clip"])
    optimizer.step()
    scheduler.step()
    return {**{k: v.item() for k, v in losses.items()}, "grad_norm": grad_norm.item()}


def build_optimizer(model: torch.nn.Module, conf: dict):
    """AdamW with linear warm-up and cosine decay over train.max_steps."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=conf["optim"]["lr"],
                                  weight_decay=conf["optim"]["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, conf["optim"], conf["train"]["max_steps"]))
    return optimizer, scheduler


def select_device(tconf: dict) -> Tuple[torch.device, int, int, int]:
    """(device, rank, world size, local rank): CUDA or CPU, one process or torchrun's."""
    device_kind = tconf["device"]
    if device_kind == "auto":
        device_kind = "cuda" if torch.cuda.is_available() else "cpu"
    if device_kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    rank, world, local_rank = setup_distributed(device_kind)
    device = torch.device(f"cuda:{local_rank}" if device_kind == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if tconf["num_threads"]:
        torch.set_num_threads(tconf["num_threads"])
    return device, rank, world, local_rank


def pair_generators(conf: dict):
    """(training generator, validation generator or None, generator conf): a fixed split of
    the image folder into training and validation images."""
    dconf = dict(conf["data"])
    root = Path(dconf.pop("root"))
    num_val = dconf.pop("num_val_images")
    dconf["groups"] = conf["model"]["G"]
    train_names, val_names = pair_data.split_names(list_images(root), num_val, conf["seed"])
    teacher = conf["train"]["teacher"]
    if not teacher and (conf["loss"]["relational_weight"] or conf["loss"]["regression_weight"]):
        raise ValueError("loss.relational_weight and loss.regression_weight need a teacher: "
                         "set train.teacher to an hloc features file of the training images")
    teacher = pair_data.Teacher(teacher, train_names) if teacher else None
    if teacher is not None and conf["loss"]["regression_weight"] and \
            conf["model"]["projection"] != teacher.dim:
        raise ValueError(f"loss.regression_weight needs model.projection: {teacher.dim} "
                         f"(the size of {teacher.path}'s descriptors)")
    generator = pair_data.PairGenerator.from_folder(root, dconf, train_names, teacher)
    val_conf = {**dconf, "homography": "full_rotation"}
    val_generator = pair_data.PairGenerator.from_folder(root, val_conf, val_names) \
        if len(val_names) >= 2 else None
    return generator, val_generator


def restore(model, optimizer, scheduler, conf: dict, resume, output: Path, log: TextLog) -> Tuple[int, float]:
    """Initial weights (``model.init_weights``: fine-tuning) or a resumed run's full state
    (weights, optimiser, schedule, step, best score; logs truncated to its step).
    Returns (step, best score)."""
    expect = {"backbone": conf["model"]["backbone"], "G": conf["model"]["G"], "widths": conf["model"]["widths"]}
    init = conf["model"]["init_weights"]
    if init and not resume:  # a resumed run has its own weights
        init = DEFAULT_WEIGHTS if init == "shipped" else Path(init)
        state, _, _ = load_checkpoint(init, expect={**expect, "normalization": NORMALIZATION})
        load_model_state(model, state, optional=("detector.", "projection."))  # new heads start at random
        log(f"train: initialised from {init}")
    if not resume:
        return 0, -math.inf
    state, meta, ckpt = load_checkpoint(resume, expect=expect)
    load_model_state(model, state)
    step = meta["step"]
    if "optimizer" in ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        best_score = ckpt["best_score"]
    else:  # exported weights (best.pth): same schedule position, fresh optimiser moments
        if not step:
            raise ValueError(f"{resume}: has no training state and no step; "
                             "resume from last.pth, or pass it as --init-weights")
        scheduler.last_epoch = step
        for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base_lr * lr_factor(step, conf["optim"], conf["train"]["max_steps"])
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
        best_score = ckpt.get("best_score", meta.get("metrics", {}).get("score", -math.inf))
        log(f"train: {resume} holds weights only; the optimiser state starts afresh")
    if log.enabled:
        changed = [k for k in differences(meta.get("train_config", {}), conf)  # a resumed run has
                   if not k.startswith(("model.init_weights:", "train.export_"))]  # its own weights
        if changed:
            log(f"train: warning: {resume} was trained with other settings ({', '.join(changed)}); "
                "continuing with the new ones")
        for name in ("train.csv", "val.csv"):
            truncate_log(output / name, step)
        log(f"train: resumed from {resume} at step {step}")
    return step, best_score


SHOWN_LOSSES = ("total", "desc", "ori_kl", "ori_acc", "relational", "regression", "repeatability", "peakiness",
                "reliability")  # on the progress bar


class Validation:
    """The fixed validation sets, their CSV log and the best score so far (best.pth)."""

    def __init__(self, conf: dict, val_generator, output: Path, best_score: float, log: TextLog):
        self.G, self.vconf, self.text = conf["model"]["G"], conf["val"], log
        self.sets = build_val_sets(self.vconf, val_generator, conf["seed"] + 1) if log.enabled else {}
        self.log = CsvLog(output / "val.csv", log.enabled)
        self.best_score = best_score

    def __call__(self, model, device, step: int, epoch: int, save_best) -> Optional[dict]:
        """Validate; the metrics (None without validation sets)."""
        if not self.sets:
            return None
        t0 = time.time()
        metrics = validate(model, self.sets, self.G, self.vconf["num_keypoints"], device)
        self.log.write({"step": step, "epoch": epoch, **metrics, "seconds": time.time() - t0})
        summary = ", ".join(f"{k} {v:.1f}" for k, v in metrics.items() if k.endswith(("mma5", "ori_acc")))
        best = metrics["score"] > self.best_score
        self.text(f"val step {step}: score {metrics['score']:.2f} ({summary}) in {time.time() - t0:.0f} s"
                  + (" (best)" if best else ""))
        if best:
            self.best_score = metrics["score"]
            save_best(metrics)
        return metrics


def build_model(conf: dict, device: torch.device, world: int) -> torch.nn.Module:
    """The network of ``model`` (seeded: identical initial weights on every rank), in training
    mode; with ``train.freeze_backbone`` only the detector head trains."""
    torch.manual_seed(conf["seed"])
    model = build_backbone(conf["model"]["backbone"], conf["model"]["G"], conf["model"]["widths"],
                           conf["model"]["detector"], conf["model"]["projection"]).to(device).train()
    if conf["train"]["freeze_backbone"]:
        if model.detector is None or not conf["model"]["init_weights"]:
            raise ValueError("train.freeze_backbone trains the detector head on given weights: "
                             "set model.detector: true and model.init_weights")
        if world > 1:
            raise ValueError("train.freeze_backbone runs on one process (the head is small)")
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("detector."))
    return model


def build_loader(conf: dict, generator, step: int, stop_step: int, rank: int, world: int,
                 device: torch.device) -> torch.utils.data.DataLoader:
    """The pairs of steps ``step``..``stop_step`` of this rank (``StepSampler``: a resumed run
    sees exactly the data it would have seen)."""
    tconf, batch = conf["train"], conf["train"]["batch_size"]
    dataset = pair_data.PairDataset(generator, conf["seed"], (tconf["max_steps"] * world + world) * batch)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, sampler=StepSampler(step, stop_step, batch, rank, world),
        num_workers=tconf["num_workers"], pin_memory=device.type == "cuda", worker_init_fn=single_thread_worker)


class Run:
    """One training run's state: model, optimiser, schedule, step, validation, checkpoints."""

    def __init__(self, conf: dict, output: Path, resume, device: torch.device, rank: int, world: int):
        self.conf, self.tconf, self.output, self.device = conf, conf["train"], output, device
        self.main_process, self.world = rank == 0, world
        self.log = TextLog(output / "train.log", self.main_process)
        self.log(f"train: relf-hloc {code_version}, {self.tconf['max_steps']} steps of batch "
                 f"{self.tconf['batch_size']}, {world} process(es) on {device.type}, "
                 f"{torch.get_num_threads()} thread(s), outputs {output}")
        self.generator, val_generator = pair_generators(conf)
        self.model = build_model(conf, device, world)
        self.optimizer, self.scheduler = build_optimizer(self.model, conf)
        self.step, best_score = restore(self.model, self.optimizer, self.scheduler, conf, resume, output, self.log)
        self.trunk = export_plain(self.model).requires_grad_(False) if self.tconf["freeze_backbone"] else None
        self.validation = Validation(conf, val_generator, output, best_score, self.log)

    def save(self, path: Path, metrics=None, with_state: bool = True) -> Path:
        """A checkpoint of the model (and, to resume, the optimiser, schedule and best score)."""
        extra = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "best_score": self.validation.best_score} if with_state else None
        return save_checkpoint(path, self.model, model_meta(self.conf, self.step, metrics), extra=extra)

    def export(self, key: str, metrics, extra=None) -> None:
        """``train.export_best`` / ``export_last``: float16 weights, to commit."""
        if self.tconf[key]:
            save_checkpoint(self.tconf[key], self.model, model_meta(self.conf, self.step, metrics),
                            half=True, extra=extra)

    def validate(self, epoch: int) -> None:
        """Validate; a new best score writes best.pth (and export_best); export_last follows."""
        def save_best(metrics):
            self.save(self.output / "best.pth", metrics, with_state=False)
            self.export("export_best", metrics)

        metrics = self.validation(self.model, self.device, self.step, epoch, save_best)
        if metrics:
            self.export("export_last", metrics, {"best_score": self.validation.best_score})
        if self.main_process:  # best_score may have changed: keep last.pth consistent with it
            self.save(self.output / "last.pth")

    def out_of_time(self, seconds: float) -> bool:
        """``train.time_budget_s`` spent (agreed by every rank, so that all stop at one step)."""
        out = 0 < self.tconf["time_budget_s"] <= seconds
        if self.world > 1:
            flag = torch.tensor([float(out)], device=self.device)
            dist.all_reduce(flag)
            out = bool(flag.item())
        return out


def train(conf: dict, output, resume=None, stop_step: Optional[int] = None) -> Path:
    """Train with the resolved config ``conf``; returns the path of the last checkpoint.

    The schedule (learning rate, data) always spans ``train.max_steps``; ``stop_step``
    only ends this run early (a later --resume continues the same schedule).
    """
    output, tconf = Path(output), conf["train"]
    max_steps, spe = tconf["max_steps"], tconf["steps_per_epoch"]
    stop_step = min(stop_step or max_steps, max_steps)
    device, rank, world, local_rank = select_device(tconf)
    if rank == 0:
        output.mkdir(parents=True, exist_ok=True)
        write_text(output / "config.yaml", yaml.safe_dump(conf, sort_keys=False))
    run = Run(conf, output, resume, device, rank, world)
    ddp_model = run.model if world == 1 else torch.nn.parallel.DistributedDataParallel(
        run.model, device_ids=[local_rank] if device.type == "cuda" else None)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(tconf["amp"]) and device.type == "cuda")
    train_log = CsvLog(output / "train.csv", run.main_process)
    if (conf["val"]["at_start"] and run.step == 0) or (run.step == max_steps and not (output / "best.pth").exists()):
        run.validate((run.step - 1) // spe + 1 if run.step else 0)  # also: a run stopped in its last validation
    bar = tqdm(total=stop_step, initial=run.step, desc="train", unit="step", disable=not run.main_process,
               dynamic_ncols=True)
    t_start = t_last = time.time()
    start_step = run.step
    for batch_data in build_loader(conf, run.generator, run.step, stop_step, rank, world, device):
        lr = run.scheduler.get_last_lr()[0]
        losses = optimize_step(ddp_model, run.optimizer, run.scheduler, batch_data, conf, device, autocast, run.trunk)
        run.step += 1
        now = time.time()
        row = {"step": run.step, "epoch": (run.step - 1) // spe + 1, "lr": lr, **losses,
               "seconds": now - t_last, "pairs_per_s": tconf["batch_size"] * world / (now - t_last)}
        t_last = now
        train_log.write(row)
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in SHOWN_LOSSES})
        if run.main_process and (run.step % tconf["checkpoint_every"] == 0 or run.step == stop_step):
            run.save(output / "last.pth")
        out_of_time = run.out_of_time(now - t_start)
        if run.step % spe == 0 or run.step == max_steps or out_of_time:
            run.validate((run.step - 1) // spe + 1)
        if out_of_time:
            run.log(f"train: time budget of {tconf['time_budget_s']} s reached at step {run.step}")
            break
    bar.close()
    run.log(f"train: {run.step - start_step} steps ({start_step} -> {run.step}) in {time.time() - t_start:.0f} s"
            f"; best score {run.validation.best_score:.2f}; checkpoints in {output}")
    if world > 1:
        dist.barrier()
    return output / "last.pth"
