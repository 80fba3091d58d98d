"""The code of the README and of its docs/ pages, run literally on rendered photos, so the manual
cannot drift from the code: the "Your own images" commands (6 database views and 2 new ones), the Python API
blocks (hloc's in the slow suite), and the shard and Ray commands (slow suite; Ray with 2
workers instead of 8 on this 2-core machine). The first block (install, demo) is what CI
runs; the development block is the test command itself."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relf_hloc import io

README = Path(__file__).resolve().parents[1] / "README.md"
PAGES = [README] + sorted((README.parent / "docs").glob("*.md"))  # the README and its docs/ pages


def readme_blocks(heading: str, language: str = "bash") -> list:
    """The code blocks of a language in the section under ``## heading`` of the README or of a docs/ page."""
    text = next((t for t in (p.read_text() for p in PAGES) if f"\n## {heading}\n" in t), None)
    assert text is not None, f"no section '## {heading}' in the README or docs/"
    section = text[text.index(f"## {heading}\n") + 1:]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def readme_block(heading: str) -> str:
    """The first ```bash block after a heading of the README."""
    return readme_blocks(heading)[0]


def rendered_photos(folder: Path, num: int = 6, first: str = None) -> list:
    """``num`` rendered views of a scene in ``folder`` (the first also as ``first``)."""
    from relf_hloc.datasets import render
    scene = render.read_scene(render.main(folder.parent / "scene", num_cameras=num, width=480, height=360))
    folder.mkdir(parents=True)
    for v in scene.views:
        shutil.copy(scene.image_dir / v.name, folder / v.name)
    if first:
        from relf_hloc.images import read_image, write_image
        write_image(folder / first, read_image(scene.image_dir / scene.views[0].name))
    return scene.names


def run_python_blocks(blocks, cwd: Path) -> dict:
    """Run README Python blocks one after the other in one namespace, in ``cwd``."""
    namespace, here = {}, os.getcwd()
    os.chdir(cwd)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    finally:
        os.chdir(here)
    return namespace


def test_python_api_blocks_run_as_written(tmp_path):
    rendered_photos(tmp_path / "photos", num=2, first="a.jpg")
    blocks = readme_blocks("Python API", "python")
    assert len(blocks) == 3 and "hloc" in blocks[2]
    ns = run_python_blocks(blocks[:2], tmp_path)
    out, pred = ns["out"], ns["pred"]
    assert out["descriptors"].shape == (len(out["keypoints"]), 1024) and len(out["keypoints"]) > 100
    assert np.allclose(ns["mine"]["keypoints"], out["keypoints"][:100])
    assert pred["descriptors"].shape[0] == 1 and pred["descriptors"].shape[2] == 1024
    assert ns["sift"].extract(ns["image"])["descriptors"].shape[1] == 128
    # the 100 keypoints described again find themselves among all of them
    assert ns["matches0"].shape == (100,) and (ns["matches0"] == np.arange(100)).mean() > 0.95
    assert np.all(ns["matched"]["matching_scores0"][ns["matches0"] == np.arange(100)] > 0.99)


@pytest.mark.slow
def test_hloc_block_runs_as_written(tmp_path):
    pytest.importorskip("hloc", reason="hloc is not installed (see the README's hloc section)")
    rendered_photos(tmp_path / "photos")
    ns = run_python_blocks(readme_blocks("Python API", "python")[2:], tmp_path)
    assert ns["model"] is not None and ns["model"].num_reg_images() >= 4


@pytest.mark.slow
def test_shard_commands_run_as_written(tmp_path):
    names = rendered_photos(tmp_path / "photos")
    block = readme_block("Many images, many machines")
    array = int(re.search(r"#SBATCH --array=0-(\d+)", block).group(1))
    merge = re.search(r"# then, once: (.*)", block).group(1)
    for task in range(array + 1):  # what the scheduler would run, one task after the other
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True,
                              text=True, env={**os.environ, "SLURM_ARRAY_TASK_ID": str(task)}, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run(["bash", "-c", merge], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(io.list_names(tmp_path / "feats.h5")) == sorted(names)


@pytest.mark.slow
def test_ray_command_runs_as_written(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'relf-hloc[ray]'")
    rendered_photos(tmp_path / "photos")
    block = readme_blocks("Many images, many machines")[1]
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    subprocess.run(ray + ["start", "--head", "--num-cpus", "2", "--include-dashboard", "false"],
                   check=True, capture_output=True, timeout=300)
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace("--workers 8", "--workers 2")],
                              cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    finally:
        subprocess.run(ray + ["stop"], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert io.read_json(tmp_path / "out" / "report.json")["registered"] >= 4


def test_your_own_images_commands_run_as_written(tmp_path):
    from relf_hloc.datasets import render
    scene = render.read_scene(render.main(tmp_path / "scene", num_cameras=8, width=480, height=360))
    (tmp_path / "photos").mkdir()
    (tmp_path / "new").mkdir()
    queries = scene.names[3:5]  # two views become the new photos, with their true cameras
    lines = []
    for v in scene.views:
        shutil.copy(scene.image_dir / v.name, tmp_path / ("new" if v.name in queries else "photos") / v.name)
        if v.name in queries:
            fx, fy, cx, cy = v.K[0, 0], v.K[1, 1], v.K[0, 2] + 0.5, v.K[1, 2] + 0.5
            lines.append(f"{v.name} PINHOLE {v.size[0]} {v.size[1]} {fx} {fy} {cx} {cy}\n")
    (tmp_path / "queries.txt").write_text("".join(lines))
    script = readme_block("Your own images")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "query: localized 2/2" in done.stdout
    lines = (tmp_path / "out/loc/poses.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(queries)
    assert io.read_json(tmp_path / "out" / "report.json")["registered"] >= 5


def documented_commands() -> list:
    """Every ``relf-hloc`` or ``python scripts|pipelines/...`` command of the README's and docs/ pages' code
    (fenced or indented blocks), continuation lines joined, as (page, argv); usage lines holding
    ``[options]`` left out."""
    found = []
    for page in PAGES:
        text = page.read_text()
        code = re.findall(r"```(?:bash)?\n(.*?)```", text, re.S) + re.findall(r"(?m)^((?:    .*\n)+)", text)
        for block in code:
            for line in re.sub(r"\\\n\s*", "", block).splitlines():
                line = re.split(r"\s#\s|\s{2,}#", line.strip())[0].strip()
                line = re.sub(r"^.*\$ |^(nice|exec) ", "", line)
                if re.match(r"(relf-hloc|python (scripts|pipelines)/\S+\.py)( |$)", line) and "[" not in line:
                    found.append((page.name, shlex.split(line)))
    return found


def test_documented_commands_parse(monkeypatch, capsys):
    from test_scripts import parses
    commands = documented_commands()
    assert len(commands) > 30
    for page, argv in commands:
        argv = ["python"] + argv[1:] if argv[0] == "python" else argv
        parses(argv, README.parent, monkeypatch)
    capsys.readouterr()


def test_readme_speed_table_is_the_committed_one():
    """The README's speed table is results/speed.md as pipelines/sfm_real_data.py writes it (its
    speed.md), row for row: regenerate both with the command above the table."""
    table = [line for line in (README.parent / "results" / "speed.md").read_text().splitlines() if line.startswith("|")]
    assert table[0].startswith("| scene | rotation | method | total (s) | vs COLMAP alone |")
    assert any("| colmap |" in line for line in table)  # COLMAP alone is a row
    readme = README.read_text().splitlines()
    start = readme.index(table[0])
    assert readme[start:start + len(table)] == table
