"""Every script of scripts/ and pipelines/ runs: a tiny real run of each Python script, and a dry run of
each shell script (the commands it would run, checked against the parsers of the commands they call).

A new script fails ``test_every_script_has_a_smoke_run`` until it gets an entry in RUNS or SHELL_RUNS.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from relf_hloc.confs import DEFAULT_WEIGHTS
from relf_hloc.datasets.homography import write_homography
from relf_hloc.io import write_features, write_matches

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("scripts", "pipelines")
SCRIPTS = sorted(p.relative_to(REPO).as_posix() for f in FOLDERS for p in (REPO / f).iterdir()
                 if p.suffix in (".py", ".sh"))
slow = pytest.mark.slow


def texture(width: int, height: int, angle: float = 0.0) -> np.ndarray:
    """The astronaut at ``width`` x ``height``, turned by ``angle`` degrees about the centre (RGB uint8)."""
    image = cv2.resize(skimage.data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    R = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
    return cv2.warpAffine(image, R, (width, height))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A tiny copy of the shared data's layouts: one HPatches sequence (two views and their homography)
    and a Sacre-Coeur-like folder of three photos."""
    root = tmp_path_factory.mktemp("data")
    seq = root / "hpatches" / "v_tiny"
    seq.mkdir(parents=True)
    H = np.array([[0.95, 0.1, 4.0], [-0.08, 1.0, 2.0], [0.0, 0.0, 1.0]])
    one = texture(128, 96)
    cv2.imwrite(str(seq / "1.ppm"), one[:, :, ::-1])
    cv2.imwrite(str(seq / "2.ppm"), cv2.warpPerspective(one, H, (128, 96))[:, :, ::-1])
    write_homography(seq / "H_1_2", H)
    (root / "sacre_coeur").mkdir()
    for i, angle in enumerate((0, 20, 45)):
        cv2.imwrite(str(root / "sacre_coeur" / f"{i}.jpg"), texture(160, 120, angle)[:, :, ::-1])
    return root


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """The demo scene rendered small: 4 images of 320x240 (``images/``, ground truth ``gt/``)."""
    from relf_hloc.datasets import render
    return render.main(tmp_path_factory.mktemp("scene"), num_cameras=4, width=320, height=240)


def run_folder(tmp: Path) -> Path:
    """A run folder as pipelines/sfm_real_data.py leaves it: features, exhaustive pairs and mutual-NN
    matches of three images, the first pair related by a shift (its matches fit a fundamental matrix)."""
    rng = np.random.default_rng(0)
    kpts = rng.uniform(0, 200, (40, 2)).astype(np.float32)
    desc = rng.normal(size=(16, 40)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=0)
    for name, shift in (("a.jpg", 0), ("b.jpg", 5), ("c.jpg", 9)):
        write_features(tmp / "feats-relf.h5", name, {"keypoints": kpts + shift, "descriptors": desc})
    pairs = [("a.jpg", "b.jpg"), ("a.jpg", "c.jpg"), ("b.jpg", "c.jpg")]
    (tmp / "pairs-exhaustive.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs))
    for a, b in pairs:
        write_matches(tmp / "matches-relf-nn-x.h5", a, b, np.arange(40), np.ones(40, np.float32))
    return tmp


def h5_pair(tmp: Path) -> Path:
    """Two folders holding the same features file."""
    for side in ("before", "after"):
        write_features(tmp / side / "f.h5", "a.jpg", {"keypoints": np.ones((3, 2), np.float32),
                                                          "descriptors": np.ones((4, 3), np.float32)})
    return tmp


# script: (arguments given (tmp, data, scene), text its output must hold, slow or not).
# {tmp}, {data}, {scene} and {repo} are filled in; the run's working directory is the repository.
RUNS = {
    "scripts/average_weights.py": ("{tmp}/avg.pth training/cpu_long/best.pth training/cpu_long/best.pth", "", False),
    "scripts/benchmark_backends.py": ("--confs relf-fast --images 2 --threads 1 --backends torch",
                                      "| relf-fast | torch |", True),
    "scripts/benchmark_detector.py": ("--data {data} --cache {tmp} --max-keypoints 50", "| relf-det-fast |", True),
    "scripts/benchmark_extract.py": ("--confs relf-fast --keypoints 50 --sizes 160x120 --threads 1",
                                     "| relf-fast | 160x120 |", False),
    "scripts/benchmark_matching.py": ("--sizes 64 --dims 8 --repeats 1", "64", False),
    "scripts/benchmark_memory.py": ("200", "bytes", False),
    "scripts/benchmark_retrieval.py": ("--parts report --outputs {tmp} --report {tmp}/retrieval.md", "", False),
    "scripts/benchmark_scaling.py": ("--images 3 --size 160x120 --threads 1", "workers", True),
    "scripts/compare_features.py": ("{h5}/before {h5}/after", "f.h5", False),
    "scripts/detector_borders.py": ("{data}/sacre_coeur/2.jpg --max-keypoints 50", "relf-det-fast:", False),
    "scripts/export_weights.py": ("training/cpu_long --outputs {tmp} --logs {tmp}/logs --name x", "x.pth", False),
    "scripts/invariance_report.py": ("--confs relf-single --keypoints 50", "relf-single", False),
    "scripts/loss_trend.py": ("training/cpu_long --steps 5", "| cpu_long | total |", False),
    "scripts/make_codebook.py": ("--images {data}/sacre_coeur --count 3 --keypoints 30 --dim 8 --k 4 "
                                 "--make codebook,pca --pca-dim 8 --weights {weights} --output {tmp}/book.npz",
                                 "8 components of 1024-d descriptors", False),
    "scripts/match_separation.py": ("{run}", "| similarity >= 0.7 |", False),
    "scripts/plot_training.py": ("training/cpu_long --output {tmp}/curve.png", "", False),
    "scripts/precision_study.py": ("--data {data} --step 90 --keypoints 50 --cache {tmp}", "| HPatches |", True),
    "scripts/score_weights.py": ("--data {data} --cache {tmp} --no-pose --sacre-images 3", "| SIFT |", True),
    "pipelines/hloc_sfm.py": ("--images {scene}/images --confs relf-fast --seeds 0 --outputs {tmp}", "relf-fast",
                              True),
    "pipelines/sfm_real_data.py": ("--data {data} --scenes sacre_coeur --methods sift --rotations none "
                                   "--max-keypoints 300 --outputs {tmp}", "sift", True),
    "pipelines/localization.py": ("--data {scene} --scenes tiny=gt:colmap --methods sift --every 2 --max-size 160 "
                                  "--retrieval-method sift --outputs {tmp}/o --results {tmp}/r",
                                  "localization: 1 scene(s)", False),
    "pipelines/sfm_vs_colmap.py": ("--images {scene}/images --outputs {tmp}", "COLMAP", True),
}
# what each run must leave behind (beyond its output text)
LEAVES = {"scripts/average_weights.py": "avg.pth", "scripts/benchmark_retrieval.py": "retrieval.md",
          "scripts/export_weights.py": "x.pth", "scripts/make_codebook.py": "w.pca.npz",
          "scripts/plot_training.py": "curve.png", "pipelines/localization.py": "r/README.md"}
NEEDS = {"scripts/benchmark_scaling.py": "ray", "pipelines/hloc_sfm.py": "hloc"}


def test_every_script_has_a_smoke_run():
    assert sorted(set(RUNS) | set(SHELL_RUNS)) == SCRIPTS, "give each new script a smoke run here"


@pytest.mark.parametrize("script", [pytest.param(s, marks=[slow] * RUNS[s][2]) for s in SCRIPTS if s in RUNS])
def test_script_runs(script, tmp_path, request):
    if script in NEEDS:
        pytest.importorskip(NEEDS[script])
    args, expected, _ = RUNS[script]
    fill = {"tmp": tmp_path, "repo": REPO}
    for name, make in (("data", lambda: request.getfixturevalue("data")),
                       ("scene", lambda: request.getfixturevalue("scene")),
                       ("run", lambda: run_folder(tmp_path)), ("h5", lambda: h5_pair(tmp_path)),
                       ("weights", lambda: shutil.copy(DEFAULT_WEIGHTS, tmp_path / "w.pth"))):
        if "{" + name + "}" in args:
            fill[name] = make()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, script, *args.format(**fill).split()], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert expected in done.stdout
    if script in LEAVES:
        assert (tmp_path / LEAVES[script]).stat().st_size > 0


# ---- shell scripts: a dry run in a copy of the repository's scripts, with `relf-hloc`, `python` and
# `python3` replaced by a recorder; every command recorded must parse under the real parser.

SHIM = """#!/usr/bin/env bash
{python} -c 'import json, os, sys; print(json.dumps([os.getcwd()] + sys.argv[1:]))' "$(basename "$0")" "$@" >> {log}
prev=; for a in "$@"; do [ "$prev" != --outputs ] || mkdir -p "$a"; prev=$a; done  # as the commands do
echo "dry run: $(basename "$0") $*"
"""

# script: (arguments, environment)
SHELL_RUNS = {
    "scripts/benchmarks.sh": ("", {}),
    "scripts/compare_versions.sh": ("HEAD images out", {}),
    "scripts/long_run.sh": ("--max-steps 2", {}),
    "scripts/recipe_study.sh": ("", {}),
    "scripts/refresh_results.sh": ("", {}),
    "scripts/train_gpu.sh": ("device", {"DEVICE": "cpu", "EXTRA": "--max-steps 2"}),
    "pipelines/real_data.sh": ("", {}),
}


def shadow_repository(tmp: Path) -> Path:
    """A git repository holding copies of scripts/, pipelines/ and configs/ (the shell scripts change
    to the repository root and write there), with the files some scripts copy from."""
    repo = tmp / "repo"
    for folder in ("scripts", "pipelines", "configs"):
        shutil.copytree(REPO / folder, repo / folder)
    (repo / "images").mkdir()
    for name in ("outputs/sacre_coeur/results.md", "outputs/sacre_coeur/results.json"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("{}")
    (repo / "results/sfm").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "copy"], check=True)
    return repo


class Parsed(Exception):
    """Raised once a parser accepted its arguments (the command itself does not run)."""


def parses(command: list, cwd: Path, monkeypatch) -> None:
    """Check that ``command`` (as a shell script ran it) is accepted by the parser of what it calls:
    a ``relf-hloc`` subcommand or a Python script of the repository."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise Parsed

    if command[0] in ("python", "python3") and command[1:3] == ["-m", "relf_hloc.cli"]:
        command = ["relf-hloc"] + command[3:]
    if command[0] in ("python", "python3") and command[1] in ("-", "-c", "-m"):
        return  # inline code or a tool (pip): nothing of ours to check
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    if command[0] == "relf-hloc":
        from relf_hloc import cli
        main, argv = cli.main, command[1:]
    else:
        import importlib.util
        path = REPO / (cwd / command[1]).resolve().relative_to(cwd.resolve())
        assert path.is_file(), f"{command[1]}: no such script"
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        main, argv = module.main, command[2:]
    monkeypatch.setattr(sys, "argv", [command[0]] + argv)
    try:
        main(argv) if main.__code__.co_argcount else main()
    except Parsed:
        pass
    except SystemExit as e:  # argparse's error
        pytest.fail(f"{' '.join(command)}: rejected (exit {e.code})")
    finally:
        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", original)


@pytest.mark.parametrize("script", sorted(SHELL_RUNS))
def test_shell_script_dry_run(script, tmp_path, monkeypatch, capsys):
    repo = shadow_repository(tmp_path)
    shims, log = tmp_path / "bin", tmp_path / "commands.jsonl"
    shims.mkdir()
    for name in ("relf-hloc", "python", "python3"):
        (shims / name).write_text(SHIM.format(python=sys.executable, log=log))
        (shims / name).chmod(0o755)
    args, extra = SHELL_RUNS[script]
    env = {**os.environ, **extra, "PATH": f"{shims}:{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
           "RUNS": str(tmp_path / "runs"), "RELF_SHARED_DATA": str(tmp_path / "data")}
    env.pop("PYTHON", None)
    done = subprocess.run(["bash", str(repo / script), *args.split()], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    commands = [json.loads(line) for line in log.read_text().splitlines()]
    assert commands, f"{script} ran no command"
    for cwd, *command in commands:
        parses(command, Path(cwd), monkeypatch)
    capsys.readouterr()
