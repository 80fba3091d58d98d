"""ONNX Runtime backends of RELF's network: ``backend: onnxruntime`` (fp32) and
``onnxruntime-int8`` (static QDQ quantization, per-channel weights).

The ONNX model is exported from the (exported, batch-norm-folded) torch network of the given
weights with dynamic height and width, and cached in the user's cache folder
(``$XDG_CACHE_HOME/relf-hloc``, else ``~/.cache/relf-hloc``) under a name holding the weights'
content hash and the runtime version; writes are atomic and a cache file that does not load
is rebuilt. The int8 model is calibrated on images that ship with scikit-image (no download).
``relf-hloc export`` (``relf_hloc.cli.export``) writes either file explicitly, for shipping.
ONNX Runtime is an optional
extra: ``pip install 'relf-hloc[onnx]'``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ..io import atomic_write
from .reresnet import normalize_image

CALIBRATION_SIZE = (321, 417)  # 16k + 1 sides, like the pyramid levels


def require_ort():
    """The onnxruntime module, or an error saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError("backend onnxruntime needs ONNX Runtime, an optional extra: "
                           "pip install 'relf-hloc[onnx]' (or pip install onnxruntime onnx)") from None
    return onnxruntime


def cache_dir() -> Path:
    """Where exported ONNX files are kept ($XDG_CACHE_HOME/relf-hloc)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "relf-hloc"


def export_onnx(net: torch.nn.Module, path: Path) -> Path:
    """The plain network as ONNX (input 'image' [1, 3, H, W], outputs f0, f1...: one per map
    of the backbone), atomically."""
    x = torch.zeros(1, 3, *CALIBRATION_SIZE)
    with atomic_write(path) as tmp, torch.no_grad():
        names = [f"f{i}" for i in range(len(net(x[..., :33, :33])))]
        torch.onnx.export(net, (x,), str(tmp), input_names=["image"], output_names=names,
                          dynamic_axes={"image": {2: "h", 3: "w"}}, opset_version=17, dynamo=False)
    return path


def calibration_images(n: int = 8) -> List[np.ndarray]:
    """Network inputs (ImageNet-normalised [1, 3, H, W]) from images shipped with scikit-image."""
    import cv2
    import skimage.data

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
             "retina", "colorwheel", "motorcycle_left", "cat"]
    out = []
    for name in names[:n]:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # noqa: BLE001  (a dataset scikit-image would have to download)
            continue
        img = img if img.ndim == 3 else np.stack([img] * 3, -1)
        img = cv2.resize(img[..., :3], CALIBRATION_SIZE[::-1], interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255
        out.append(normalize_image(x).numpy())
    return out


def quantize(fp32: Path, path: Path) -> Path:
    """Static int8 QDQ quantization (per-channel weights, uint8 activations), atomically."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter(calibration_images())

        def get_next(self):
            x = next(self.data, None)
            return None if x is None else {"image": x}

    with atomic_write(path) as tmp:
        quantize_static(str(fp32), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return path


def check_cache(folder: Path) -> None:
    """Rule 10: a cache folder that cannot be written is an error naming it and how to move it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise PermissionError(f"{folder}: the ONNX model cache cannot be written here ({e.strerror or e}); "
                              "set XDG_CACHE_HOME to a writable folder (the cache is $XDG_CACHE_HOME/relf-hloc), "
                              "or export the model with relf-hloc export --outputs DIR") from None


def model_file(weights: Optional[str], tag: str, backend: str, build_net, folder: Optional[Path] = None) -> Path:
    """The cached ONNX file of these weights for ``backend`` (built when missing or broken)."""
    ort = require_ort()
    folder = folder or cache_dir()
    stem = f"relf-{tag}-ort{ort.__version__}"
    fp32, int8 = folder / f"{stem}.onnx", folder / f"{stem}-int8.onnx"
    path = int8 if backend == "onnxruntime-int8" else fp32
    if path.is_file() and loads(path):
        return path
    check_cache(folder)
    if not (fp32.is_file() and loads(fp32)):
        export_onnx(build_net(), fp32)
    return quantize(fp32, int8) if path == int8 else fp32


def loads(path: Path) -> bool:
    """Whether ONNX Runtime can open ``path`` (a broken cache file is rebuilt)."""
    try:
        session(path)
        return True
    except Exception:  # noqa: BLE001  (a corrupt cache file is rebuilt, not trusted)
        return False


def session(path: Path):
    """An ONNX Runtime CPU session of ``path``."""
    ort = require_ort()
    options = ort.SessionOptions()
    threads = torch.get_num_threads()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OrtNetwork(torch.nn.Module):
    """RELF's network run by ONNX Runtime: tensors in and out, like the torch network."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.session = session(self.path)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The network's maps of normalised images ``x``, as torch tensors on ``x``'s device."""
        outs = self.session.run(None, {"image": x.detach().cpu().float().numpy()})
        return [torch.from_numpy(o).to(x.device) for o in outs]
