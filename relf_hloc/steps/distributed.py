"""The Ray engine of ``extract/match/sfm --ray [ADDRESS]``: the same hloc files as one process,
from many workers, with nothing lost when a worker dies (``extract_ray``, ``match_ray``; the
workers ``ExtractWorker``, ``MatchWorker`` run the steps' own functions).

The driver checks everything first (as ``extract``/``match`` do), cuts the sorted work list
into shards, and hands them to Ray actors; each actor loads the model once and writes each
shard into its own file, renamed into place only when complete, so a dead worker never leaves
a partial shard. The driver merges every finished shard into the output as it arrives (the
output then equals the single-process file) and deletes it. Ray restarts a dead actor and
retries its task (``max_restarts`` / ``max_task_retries``); a rerun skips what the output
already holds. Ray is an optional extra: ``pip install 'relf-hloc[ray]'``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Optional, Sequence

import h5py
from tqdm import tqdm

from ..log import logger
from .. import io
from ..matchers import PairReader, load_matcher
from . import extract, match

RETRIES = 3


def absolute(conf: dict) -> dict:
    """The extractor or matcher conf with its file paths (RELF's weights, a keypoints file)
    made absolute: the workers of a cluster do not run in the driver's folder."""
    model = dict(conf["model"])
    if model.get("weights"):
        model["weights"] = str(Path(model["weights"]).resolve())
    if isinstance(model.get("detector"), dict) and model["detector"].get("path"):
        model["detector"] = {**model["detector"], "path": str(Path(model["detector"]["path"]).resolve())}
    return {**conf, "model": model}


def require_ray():
    """The ray module, or an error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray, an optional extra: pip install 'relf-hloc[ray]' "
                           "(or pip install ray)") from None
    return ray


def start(address: Optional[str], workers: int, cpus_per_worker: float):
    """Connect to a cluster ('auto', 'ray://...') or start a local Ray instance."""
    ray = require_ray()
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, int(workers * cpus_per_worker)), include_dashboard=False,
                     log_to_driver=False)
    return ray


def shard_dir(output: Path) -> Path:
    """The folder of an output's shard files while a Ray job runs."""
    return output.with_name(f".{output.name}.shards")


def count_attempt(shard_file: Path) -> None:
    """One line per attempt at a shard: more than one means Ray retried it."""
    with open(shard_file.with_suffix(".attempts"), "a") as f:
        f.write("attempt\n")


def merge_into(output: Path, shard_file: Path, leaf: str) -> int:
    """Copy a finished shard's groups into the output (signals deferred); returns how many."""
    with io.deferred_signals(), h5py.File(output, "a") as dst, h5py.File(shard_file, "r") as src:
        names = list(io.groups(src, leaf))
        for n in names:
            if n in dst:
                del dst[n]
            parent, _, base = n.rpartition("/")
            src.copy(src[n], dst.require_group(parent) if parent else dst, base)
    shard_file.unlink()
    return len(names)


def run_shards(ray, actor_cls, actor_args, jobs: Sequence, output: Path, leaf: str, workers: int,
               gpus_per_worker: float, cpus_per_worker: float, unit: str) -> dict:
    """Run ``jobs`` [(k, items, shard file)] on ``workers`` actors, merging as they finish."""
    folder = shard_dir(output)
    folder.mkdir(parents=True, exist_ok=True)
    actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)(actor_cls)
    pool = [actor.options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker).remote(*actor_args)
            for _ in range(min(workers, len(jobs)))]
    pending = {pool[i % len(pool)].run.remote(k, items, str(path)): (k, items, path)
               for i, (k, items, path) in enumerate(jobs)}
    bar = tqdm(total=sum(len(items) for _, items, _ in jobs), desc="ray", unit=unit)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        k, items, path = pending.pop(ready[0])
        ray.get(ready[0])  # raises when Ray gave up on the shard (after RETRIES)
        merge_into(output, path, leaf)
        bar.update(len(items))
    bar.close()
    retried = sum(len(p.read_text().splitlines()) - 1 for p in folder.glob("*.attempts"))
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    return {"shards": len(jobs), "workers": len(pool), "retried": retried}


def default_shard_size(items: int, workers: int) -> int:
    """About four shards per worker (so a slow or dead one delays little), at most 64 items."""
    return max(1, min(64, -(-items // (4 * workers))))


def plan(items: List, done: set, shard_size: int, folder: Path, tag: str):
    """Deterministic shards of ``items`` (fixed size over the whole list), less those done."""
    jobs = []
    for k in range(0, (len(items) + shard_size - 1) // shard_size):
        part = items[k * shard_size:(k + 1) * shard_size]
        todo = [x for x in part if x not in done]
        if todo:
            jobs.append((k, todo, folder / f"{tag}-{k}.h5"))
    return jobs


# ---------------------------------------------------------------- the steps on Ray actors
class ExtractWorker:
    """A Ray actor: the extractor loaded once, then one shard of images into its own file per call
    (a retried shard resumes its partial file)."""

    def __init__(self, conf: dict, images: str, device: str):
        self.conf, self.images = conf, Path(images)
        self.extractor = extract.load(conf, device)

    def run(self, k: int, names: List[str], path: str) -> None:
        """Shard ``k``: ``names`` into ``path``, renamed into place only when complete."""
        path = Path(path)
        count_attempt(path)
        tmp = path.with_suffix(".partial.h5")
        with io.writing(tmp):
            io.claim(tmp, extract.settings(self.conf))
            self.extract(k, [n for n in names if n not in io.complete_names(tmp)], tmp)
        os.replace(tmp, path)  # complete, or not there at all

    def extract(self, k: int, names: List[str], tmp: Path) -> None:
        """Extract ``names`` into the shard's partial file (tests inject faults here)."""
        extract.extract_into(self.extractor, self.images, names, tmp, False, self.conf.get("preprocessing"),
                             self.conf.get("global"))


class MatchWorker:
    """A Ray actor: the matcher loaded once, then one shard of pairs into its own file per call."""

    def __init__(self, conf: dict, features: str):
        self.matcher, self.features = load_matcher(conf["model"]), Path(features)

    def run(self, k: int, pairs: List, path: str) -> None:
        """Shard ``k``: ``pairs`` into ``path``, renamed into place only when complete."""
        path = Path(path)
        count_attempt(path)
        tmp = path.with_suffix(".partial.h5")
        self.match(k, pairs, tmp)
        os.replace(tmp, path)

    def match(self, k: int, pairs: List, tmp: Path) -> None:
        """Match ``pairs`` into the shard's partial file (tests inject faults here)."""
        read, digests = PairReader(self.features), {}
        for a, b in pairs:
            pred = self.matcher(read(a, b))
            for n in (a, b):
                digests[n] = digests.get(n) or io.features_digest(self.features, n)
            io.write_matches(tmp, a, b, pred["matches0"], pred["matching_scores0"], (digests[a], digests[b]))


def extract_ray(conf, images, output, address: Optional[str] = None, workers: int = 2,
                shard_size: Optional[int] = None, device: str = "cpu", overwrite: bool = False,
                skip_bad_images: bool = False, names: Optional[List[str]] = None) -> Path:
    """``relf-hloc extract --ray``: the same file as ``extract.main``, from Ray actors."""
    require_ray()  # before any work
    images, output = Path(images).resolve(), Path(output).resolve()  # workers run elsewhere
    with io.writing(output):
        conf, names, todo, skipped = extract.prepare(conf, images, output, names, device, overwrite,
                                                     skip_bad_images, None)
        conf = absolute(conf)
        start_time = time.time()
        if todo:
            ray = start(address, workers, 1)
            size = shard_size or default_shard_size(len(names), workers)
            jobs = plan(names, set(names) - set(todo), size, shard_dir(output), "extract")
            report = run_shards(ray, ExtractWorker, (conf, str(images), device), jobs, output, "keypoints",
                                workers, 1 if device == "cuda" else 0, 1, "img")
            logger.info(f"extract --ray: {report['shards']} shard(s) on {report['workers']} worker(s), "
                        f"{report['retried']} retried after a worker died")
        logger.info(extract.summary(output, names, todo, skipped, [], time.time() - start_time))
    return output


def match_ray(conf, pairs, features, output, address: Optional[str] = None, workers: int = 2,
              shard_size: Optional[int] = None, overwrite: bool = False) -> Path:
    """``relf-hloc match --ray``: the same file as ``match.main``, from Ray actors."""
    require_ray()
    features, output = Path(features).resolve(), Path(output).resolve()  # workers run elsewhere
    with io.writing(output):
        conf, pairs, todo, _ = match.prepare(conf, pairs, features, output, overwrite, None)
        if todo:
            ray = start(address, workers, 1)
            size = shard_size or default_shard_size(len(pairs), workers)
            jobs = plan(pairs, set(pairs) - set(todo), size, shard_dir(output), "match")
            report = run_shards(ray, MatchWorker, (conf, str(features)), jobs, output, "matches0",
                                workers, 0, 1, "pair")
            logger.info(f"match --ray: {report['shards']} shard(s) on {report['workers']} worker(s), "
                        f"{report['retried']} retried after a worker died")
        logger.info(f"match: {len(todo)} pair(s) matched, {len(pairs) - len(todo)} already in {output}")
    return output
