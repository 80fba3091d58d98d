"""The README's "Your own images" commands, run literally on rendered photos (6 database
views and 2 new ones), so the manual cannot drift from the code."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from relf_hloc import io

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(heading: str) -> str:
    """The first ```bash block after a heading of the README."""
    text = README.read_text()
    section = text[text.index(f"## {heading}\n"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_your_own_images_commands_run_as_written(tmp_path):
    from relf_hloc.datasets import render
    scene = render.read_scene(render.main(tmp_path / "scene", num_cameras=8, width=480, height=360))
    photos = tmp_path / "photos"
    (photos / "query").mkdir(parents=True)
    queries = scene.names[3:5]  # two views become the new photos, with their true cameras
    lines = []
    for v in scene.views:
        target = photos / "query" / v.name if v.name in queries else photos / v.name
        shutil.copy(scene.image_dir / v.name, target)
        if v.name in queries:
            fx, fy, cx, cy = v.K[0, 0], v.K[1, 1], v.K[0, 2] + 0.5, v.K[1, 2] + 0.5
            lines.append(f"query/{v.name} PINHOLE {v.size[0]} {v.size[1]} {fx} {fy} {cx} {cy}\n")
    (tmp_path / "queries.txt").write_text("".join(lines))
    script = readme_block("Your own images")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "localized 2 / 2 queries" in done.stdout
    poses = {line.split()[0]: np.array(line.split()[1:], float) for line in (tmp_path / "out/poses.txt").read_text().splitlines()}
    assert sorted(poses) == [f"query/{q}" for q in queries]
    report = io.read_json(tmp_path / "out" / "report.json")
    assert report["registered"] >= 5
