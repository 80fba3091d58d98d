"""ONNX Runtime backends of RELF: the same features as torch (fp32), close ones (int8), a
cache that rebuilds a broken file, and a clear error without the optional extra."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime is an optional extra: pip install 'relf-hloc[onnx]'")

from relf_hloc.features import onnx  # noqa: E402
from relf_hloc.features.relf import RELF  # noqa: E402

CONF = {"random_weights": True, "pyramid": None, "max_keypoints": 150}


@pytest.fixture(scope="module")
def image():
    return cv2.resize(skimage.data.astronaut(), (193, 161))


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    import os
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = old


def test_fp32_backend_equals_torch_and_int8_is_close(image):
    ref = RELF(CONF).extract(image)
    fp32 = RELF({**CONF, "backend": "onnxruntime"}).extract(image)
    np.testing.assert_array_equal(fp32["keypoints"], ref["keypoints"])
    assert (fp32["descriptors"] * ref["descriptors"]).sum(1).min() > 0.9999
    np.testing.assert_allclose(fp32["orientations"], ref["orientations"], atol=1e-2)
    int8 = RELF({**CONF, "backend": "onnxruntime-int8"}).extract(image)
    assert np.median((int8["descriptors"] * ref["descriptors"]).sum(1)) > 0.98
    files = sorted(p.name for p in onnx.cache_dir().iterdir())
    assert files == [f"relf-untrained-ort{ort.__version__}-int8.onnx", f"relf-untrained-ort{ort.__version__}.onnx"]


def test_broken_cache_file_is_rebuilt(image):
    RELF({**CONF, "backend": "onnxruntime"})
    [path] = [p for p in onnx.cache_dir().iterdir() if not p.name.endswith("-int8.onnx")]
    path.write_bytes(b"broken")
    out = RELF({**CONF, "backend": "onnxruntime"}).extract(image)
    assert len(out["keypoints"]) > 0 and path.stat().st_size > 1_000_000


def test_unknown_backend_and_missing_runtime():
    with pytest.raises(ValueError, match="unknown RELF backend 'tensorrt'"):
        RELF({**CONF, "backend": "tensorrt"})
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from relf_hloc.features.relf import RELF\n"
            "try:\n    RELF({'random_weights': True, 'backend': 'onnxruntime'})\n"
            "except RuntimeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'relf-hloc[onnx]'" in out.stdout
