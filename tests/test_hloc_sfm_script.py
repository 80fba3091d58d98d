"""pipelines/hloc_sfm.py: its inputs are checked before hloc or any model is loaded."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "pipelines" / "hloc_sfm.py"


@pytest.fixture(scope="module")
def hloc_sfm():
    spec = importlib.util.spec_from_file_location("hloc_sfm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bad_arguments_name_the_problem(hloc_sfm, tmp_path, capsys):
    import cv2
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit):
        hloc_sfm.main(["--images", str(tmp_path), "--confs", "relf,sift"])
    assert "--confs: not RELF extractor confs: sift" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        hloc_sfm.main(["--images", str(tmp_path / "missing")])
    assert f"--images {tmp_path / 'missing'}: not a folder of images" in capsys.readouterr().err
