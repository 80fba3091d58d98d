"""Extraction and matching on a local Ray instance (2 CPUs): the output equals the
single-process file, also when a worker dies hard in the middle of a shard (the fault is
injected here, by worker classes that die once, sent to the actors by value)."""

import os
import sys

import pytest

from relf_hloc.cli import main
from relf_hloc.steps import distributed

from test_shards import SIFT, assert_same_file, folder  # noqa: F401  (fixture: 5 images in two folders)

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'relf-hloc[ray]' to run these")


def die_once(tmp, k: int) -> None:
    """The first attempt at shard 1 exits hard, as a killed machine would."""
    marker = tmp.with_name(f"failed-once-{k}")
    if k == 1 and not marker.exists():
        marker.touch()
        os._exit(1)


class ExtractDiesOnce(distributed.ExtractWorker):
    def extract(self, k, names, tmp):
        super().extract(k, names[:1], tmp)  # part of the shard written, then the worker dies
        die_once(tmp, k)
        super().extract(k, names[1:], tmp)


class MatchDiesOnce(distributed.MatchWorker):
    def match(self, k, pairs, tmp):
        super().match(k, pairs[:1], tmp)
        die_once(tmp, k)
        super().match(k, pairs[1:], tmp)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors import no test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def dying_workers(monkeypatch):
    monkeypatch.setattr(distributed, "ExtractWorker", ExtractDiesOnce)
    monkeypatch.setattr(distributed, "MatchWorker", MatchDiesOnce)


def test_ray_equals_one_process_after_a_worker_dies(folder, tmp_path, capsys):  # noqa: F811
    whole, pairs = tmp_path / "whole.h5", tmp_path / "pairs.txt"
    assert main(["extract", "--images", str(folder), "--output", str(whole), *SIFT]) == 0
    out = tmp_path / "ray.h5"
    assert main(["extract", "--images", str(folder), "--output", str(out), *SIFT, "--ray", "--workers", "2"]) == 0
    assert "1 retried after a worker died" in capsys.readouterr().out
    assert_same_file(whole, out)
    assert not distributed.shard_dir(out).exists()  # no shard left behind
    assert main(["pairs", "--images", str(folder), "--output", str(pairs)]) == 0
    m_whole, m_ray = tmp_path / "m.h5", tmp_path / "m-ray.h5"
    assert main(["match", "--pairs", str(pairs), "--features", str(whole), "--output", str(m_whole)]) == 0
    capsys.readouterr()
    assert main(["match", "--pairs", str(pairs), "--features", str(out), "--output", str(m_ray), "--ray"]) == 0
    assert "1 retried after a worker died" in capsys.readouterr().out
    assert_same_file(m_whole, m_ray)
    # a rerun has nothing left to do
    assert main(["extract", "--images", str(folder), "--output", str(out), *SIFT, "--ray"]) == 0
    assert "0 image(s) done, 5 already in" in capsys.readouterr().out


def test_query_on_ray_equals_one_process(tmp_path, capsys):
    """``relf-hloc query --ray``: the queries' extraction and matching split across actors (one
    dies once), the same poses as in one process, and queries per second in the report."""
    import json
    import shutil

    from relf_hloc.datasets import render
    root = render.main(tmp_path / "scene", num_cameras=6, width=320, height=240)
    for i, name in enumerate(sorted(p.name for p in (root / "images").iterdir())):
        (root / ("db" if i % 2 == 0 else "queries")).mkdir(exist_ok=True)
        shutil.copy(root / "images" / name, root / ("db" if i % 2 == 0 else "queries") / name)
    assert main(["sfm", "--images", str(root / "db"), "--outputs", str(tmp_path / "sfm"), "--conf", "sift",
                 "--max-keypoints", "1000", "--matcher", "relf-nn"]) == 0
    runs = {}
    for label, extra in (("one", []), ("ray", ["--ray", "--workers", "2"])):
        if label == "ray":  # the features of the queries again, on the actors
            shutil.copytree(tmp_path / "sfm", tmp_path / "sfm-ray")
        sfm = tmp_path / ("sfm" if label == "one" else "sfm-ray")
        assert main(["query", "--sfm", str(sfm), "--images", str(root / "queries"), "--outputs",
                     str(tmp_path / label)] + extra) == 0, capsys.readouterr().err
        runs[label] = (tmp_path / label / "poses.txt").read_text()
        report = json.loads((tmp_path / label / "report.json").read_text())
        assert report["localized"] >= 2 and report["queries_per_second"] > 0
    assert runs["one"] == runs["ray"] and runs["one"].count("\n") >= 2
