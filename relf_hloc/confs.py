"""Named configurations and every default of the project, in one place.

Extractor confs have hloc's shape ``{output, model: {name, ...}, preprocessing}``:
``model["name"]`` picks the extractor (``relf_hloc.features.EXTRACTORS``: ``relf`` and
the OpenCV baselines ``sift``, ``rootsift``, ``orb``, ``akaze``), the rest configures it.
The RELF confs can be passed to hloc's ``extract_features.main`` once
``relf_hloc.register()`` has run. Matcher confs have ``{output, model: {name, ...}}``
(``relf_hloc.matchers.MATCHERS``), with hloc's option names.

Importing this module is cheap (no torch): the command line reads it for ``--help``.
"""

import copy
import importlib
import importlib.util
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import yaml

# keypoints per image, per use (docs/benchmarks.md "SfM on real photos" measures the SfM budgets)
MAX_KEYPOINTS = 2000        # the two-view pose benchmark and the demo
BENCHMARK_KEYPOINTS = 1500  # the RELF paper's homography protocol (compare, Roto-360, HPatches)
SFM_KEYPOINTS = {"relf": 4096, "opencv": 8192}  # extraction for SfM and localization (the confs' default;
# hloc keeps 4096 SuperPoint and 5000 DISK keypoints, COLMAP up to 8192 SIFT)
# the SfM confs' compact RELF part: its first 256 principal components (matching 8192 keypoints 2.6x
# faster, as many verified inliers: docs/benchmarks.md "Speed of the main job")
SFM_PCA = 256
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "relf_c16.pth"
# the same network with the learned detector head (trained on the frozen DEFAULT_WEIGHTS)
DETECTOR_WEIGHTS = Path(__file__).resolve().parent / "weights" / "relf_c16_det.pth"
# the Re-WideResNet-16-8 backbone (descriptors of 896; docs/benchmarks.md "Backbones": undertrained)
WRN_WEIGHTS = Path(__file__).resolve().parent / "weights" / "relf_wrn16_8.pth"

# snap: level sides moved to 16k + 1, exactly equivariant to 90-degree turns;
# None gives the paper's exact sizes (see relf_hloc.features.relf.pyramid_sizes)
PAPER_PYRAMID = {"max_size": 1024, "min_size": 256, "step": 2 ** 0.25, "snap": 16}  # 9 levels
FAST_PYRAMID = {"max_size": 640, "min_size": 320, "step": 2 ** 0.5, "snap": 16}     # 3 levels
MID_PYRAMID = {"max_size": 640, "min_size": 256, "step": 2 ** 0.25, "snap": 16}     # 6: the paper's steps, from 640
# RELF's network runtimes; "auto" is ONNX Runtime int8 on the CPU where the onnx extra is installed,
# else torch (resolve_backend)
BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
AUTO_BACKEND = "auto"
MULTI_CANDIDATE = {"ratio": 0.6}  # every orientation bin >= 0.6 x the peak
# OpenCV SIFT's DoG contrast threshold, for the SIFT extractor and RELF's SIFT detector alike:
# OpenCV rejects |DoG| < threshold / 3 (its 0.04 default), COLMAP (VLFeat) |DoG| < 0.02 / 3,
# so 0.02 finds COLMAP's keypoints (the top-N by response are unchanged where 0.04 finds N)
SIFT_CONTRAST = 0.02
MAX_PIXELS = 64e6  # the largest image extracted (after resize_max): SIFT peaks at ~230 B/px, 15 GB here
# (python scripts/benchmark_memory.py)
OPENCV_METHODS = ("sift", "rootsift", "orb", "akaze")  # the classical baselines (features.opencv)


def _relf(output, **model):
    return {"output": output,
            "model": {"name": "relf", "max_keypoints": SFM_KEYPOINTS["relf"], "pyramid": PAPER_PYRAMID, **model},
            "preprocessing": {"grayscale": False, "resize_max": None}}


def _opencv(name):
    sift = {"contrast_threshold": SIFT_CONTRAST} if name in ("sift", "rootsift") else {}
    return {"output": f"feats-{name}", "model": {"name": name, "max_keypoints": SFM_KEYPOINTS["opencv"], **sift},
            "preprocessing": {"grayscale": False, "resize_max": None}}


def _nn(output, **options):
    return {"output": output, "model": {"name": "nearest_neighbor", "do_mutual_check": True, **options}}


confs = {
    # the paper's adaptive pyramid (about 3 s per 640x480 image on 2 CPU cores)
    "relf": _relf("feats-relf"),
    # 3 levels, for CPU work (SfM demo, benchmarks on many images)
    "relf-fast": _relf("feats-relf-fast", pyramid=FAST_PYRAMID),
    # the paper's levels without upsampling a 640 px image (6 levels)
    "relf-mid": _relf("feats-relf-mid", pyramid=MID_PYRAMID),
    # one level at the original resolution
    "relf-single": _relf("feats-relf-single", pyramid=None),
    # RELF + RootSIFT (at each keypoint's scale, turned by RELF's orientation: half of the
    # similarity) at COLMAP's 8192 keypoints: relf-rs is the SfM default (docs/benchmarks.md "Precision"),
    # compact (pca) and on ONNX Runtime int8 where installed (docs/benchmarks.md "Speed of the main job")
    "relf-rs": _relf("feats-relf-rs", rootsift=0.5, max_keypoints=SFM_KEYPOINTS["opencv"], pca=SFM_PCA,
                     backend="auto"),
    "relf-fast-rs": _relf("feats-relf-fast-rs", pyramid=FAST_PYRAMID, rootsift=0.5,
                          max_keypoints=SFM_KEYPOINTS["opencv"], pca=SFM_PCA, backend="auto"),
    # multi-candidate extraction (one descriptor per strong orientation bin)
    "relf-multi": _relf("feats-relf-multi", multi_candidate=MULTI_CANDIDATE),
    "relf-fast-multi": _relf("feats-relf-fast-multi", pyramid=FAST_PYRAMID,
                             multi_candidate=MULTI_CANDIDATE),
    # the learned detector: keypoints, orientations and descriptors from one network pass
    "relf-det": _relf("feats-relf-det", detector={"name": "learned"}, weights=str(DETECTOR_WEIGHTS)),
    "relf-det-fast": _relf("feats-relf-det-fast", pyramid=FAST_PYRAMID, detector={"name": "learned"},
                           weights=str(DETECTOR_WEIGHTS)),
    # the Re-WideResNet-16-8 backbone, as relf and relf-fast
    "relf-wrn": _relf("feats-relf-wrn", backbone="wrn16_8", weights=str(WRN_WEIGHTS)),
    "relf-wrn-fast": _relf("feats-relf-wrn-fast", pyramid=FAST_PYRAMID, backbone="wrn16_8",
                           weights=str(WRN_WEIGHTS)),
    # classical baselines (OpenCV), each with its own detector
    **{name: _opencv(name) for name in OPENCV_METHODS},
    # matchers: mutual nearest neighbour (RELF's protocol), and with Lowe's ratio test
    "relf-nn": _nn("matches-relf-nn"),
    "nn-ratio": _nn("matches-nn-ratio", ratio_threshold=0.8),
    # RELF with a loose ratio test, or a similarity floor (compared in docs/benchmarks.md, "SfM on real photos")
    "relf-ratio": _nn("matches-relf-ratio", ratio_threshold=0.95),
    "relf-floor": _nn("matches-relf-floor", min_score=0.8),
    # Lowe's 0.8 against the best neighbour 4 px away from the first (keypoints a pixel apart
    # describe one place): strict, for symmetric scenes (docs/benchmarks.md "Precision")
    "nn-ratio-spaced": _nn("matches-nn-ratio-spaced", ratio_threshold=0.8, ratio_radius=4.0),
}
EXTRACTORS = [k for k, v in confs.items() if "preprocessing" in v]
MATCHERS = [k for k, v in confs.items() if "preprocessing" not in v]
# the matcher each extractor is used with unless told otherwise, per use: the benchmarks match
# RELF by plain mutual NN (its paper's protocol); SfM and localization add a loose ratio test
# (with thousands of keypoints, mutual NN alone lets too many outliers through verification:
# docs/benchmarks.md "SfM on real photos"); the classical methods use mutual NN + ratio 0.8 (hloc's NN-ratio)
DEFAULT_MATCHER = {"benchmark": {"relf": "relf-nn"}, "sfm": {"relf": "relf-ratio"}}
CLASSICAL_MATCHER = "nn-ratio"


class ConfigError(KeyError, ValueError):
    """An option a conf does not have (a KeyError for lookups, a ValueError for callers
    checking values); its message names the dotted key and the keys known there."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def merge(base: dict, override: Optional[dict], where: str = "") -> dict:
    """The project's one conf merge: ``override`` deep-merged into a copy of ``base``.

    Keys not in ``base`` raise ``ConfigError`` naming the dotted key. A sub-conf that picks a
    component by ``name`` (a detector) is replaced whole: that component checks its own keys.
    A value whose default is None or not a dict is replaced.
    """
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise ConfigError(f"unknown option '{where}{key}' (known: {sorted(base)})")
        old = base[key]
        if isinstance(old, dict) and isinstance(value, dict) and "name" not in old:
            out[key] = merge(old, value, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_conf(default_conf: dict, conf: Optional[dict], who: str) -> dict:
    """A component's conf: its ``default_conf`` merged with ``conf`` (``merge``), the error
    naming the component."""
    try:
        return merge(default_conf, conf)
    except ConfigError as e:
        raise ConfigError(f"{who}: {e}") from None


def differences(old: dict, new: dict, where: str = "") -> List[str]:
    """'key: old -> new' for every dotted key whose value differs between two confs (tuples
    and lists compare equal, as YAML and JSON read them back)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{where}{k}.")
        elif (list(a) if isinstance(a, tuple) else a) != (list(b) if isinstance(b, tuple) else b):
            out.append(f"{where}{k}: {a!r} -> {b!r}")
    return out


class Configurable:
    """A component configured by name (extractor, detector, matcher): ``self.conf`` is its
    ``default_conf`` merged with the given conf, once, here (``resolve_conf``)."""

    default_conf: dict = {}

    def __init__(self, conf: Optional[dict] = None):
        self.conf = resolve_conf(self.default_conf, conf, type(self).__name__)


def load_registered(registry: dict, conf: dict, kind: str, **parts):
    """An instance of the class that ``registry`` names for ``conf["name"]``, configured by
    ``conf`` (and built on ``parts``, passed as keywords). Entries are classes or
    ``"module:Class"`` strings (imported when first used, so that, say, the OpenCV extractors
    never import torch)."""
    return registered_class(registry, conf.get("name"), kind)(conf, **parts)


def registered_class(registry: dict, name: str, kind: str) -> type:
    """The class that ``registry`` names for ``name`` (a ``"module:Class"`` entry is imported)."""
    if name not in registry:
        raise ValueError(f"unknown {kind} '{name}'; choose one of {sorted(registry)}")
    cls = registry[name]
    if isinstance(cls, str):
        module, _, attr = cls.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    return cls


def read_yaml(path, what: str = "conf file") -> dict:
    """The mapping of a YAML file (UTF-8 or UTF-16, with or without a byte-order mark: PyYAML reads
    bytes so); a syntax error, an empty file or a document that is not a mapping is an error
    naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        data = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the {what} is empty" if data is None else
                         f"{path}: the {what} holds a {type(data).__name__}, not a mapping of settings (key: value)")
    return data


def get_conf(name_or_conf) -> dict:
    """A deep copy of a named conf; a dict is returned as a copy; a .yaml path is read."""
    if isinstance(name_or_conf, dict):
        return copy.deepcopy(name_or_conf)
    if str(name_or_conf).endswith((".yaml", ".yml")):
        return read_yaml(name_or_conf)
    if name_or_conf not in confs:
        raise ValueError(f"unknown conf '{name_or_conf}'; choose one of {sorted(confs)} "
                         "or a .yaml file")
    return copy.deepcopy(confs[name_or_conf])


def conf_names(text: Optional[str], kind: str = "extractor", extra: Sequence[str] = ()) -> List[str]:
    """'sift, relf-fast' -> conf names of ``kind`` ('extractor' or 'matcher'), checked before any
    work; names in ``extra`` (e.g. 'colmap') pass too. None or '' gives []."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    known = (EXTRACTORS if kind == "extractor" else MATCHERS) + list(extra)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {kind}(s) {unknown}: use {kind} confs ({', '.join(known)})")
    return names


def default_matcher(extractor_conf, use: str = "benchmark") -> str:
    """Name of the matcher conf used with an extractor conf (name or dict) for a use
    ('benchmark' or 'sfm', which covers localization too)."""
    name = get_conf(extractor_conf)["model"]["name"]
    return DEFAULT_MATCHER[use].get(name, CLASSICAL_MATCHER)


def extractor_conf(name_or_conf, max_keypoints=None, weights=None, random_weights: bool = False,
                   keypoints_from=None, backend=None) -> dict:
    """An extractor conf with the command line's common options: ``max_keypoints`` for any
    extractor; ``weights``, ``random_weights``, ``keypoints_from`` (an hloc features file
    whose keypoints RELF describes) and ``backend`` (torch, onnxruntime, onnxruntime-int8) for
    RELF only."""
    conf = with_options(name_or_conf, max_keypoints=max_keypoints)
    if conf["model"]["name"] == "relf":
        conf = with_options(conf, weights=weights and str(weights), random_weights=random_weights or None,
                            detector=keypoints_from and {"name": "file", "path": str(keypoints_from)},
                            backend=backend)
    return conf


def parse_variant(text: str) -> Tuple[str, dict]:
    """'int8:backend=onnxruntime-int8,pca=256' -> ('int8', {'backend': 'onnxruntime-int8', 'pca': 256}):
    a labelled set of model options (values read as YAML scalars), the scripts' ``--variant``."""
    label, _, sets = text.partition(":")
    pairs = [kv.split("=", 1) for kv in sets.split(",") if kv]
    if not label or not pairs or any(len(kv) != 2 or not kv[0] for kv in pairs):
        raise ValueError(f"variant '{text}': expected NAME:KEY=VALUE,... (e.g. int8:backend=onnxruntime-int8)")
    return label, {k: yaml.safe_load(v) for k, v in pairs}


def resolve_backend(backend: str, device: str = "cpu") -> str:
    """The runtime a RELF ``backend`` option names: 'auto' is ONNX Runtime int8 on the CPU where ONNX
    Runtime is installed, else torch (a GPU, or no onnx extra); the others name themselves."""
    if backend != AUTO_BACKEND:
        return backend
    return "onnxruntime-int8" if device == "cpu" and importlib.util.find_spec("onnxruntime") else "torch"


def runnable(conf: dict, device: str = "cpu") -> dict:
    """A copy of an extractor conf with the backend that runs on ``device`` in place of 'auto', so that
    the features' provenance names the runtime that made them."""
    conf = get_conf(conf)
    if conf["model"].get("backend") == AUTO_BACKEND:
        conf["model"]["backend"] = resolve_backend(AUTO_BACKEND, device)
    return conf


def with_variant(name_or_conf, options: dict) -> dict:
    """A conf with ``model`` entries replaced by a variant's options (``parse_variant``; None too)."""
    conf = get_conf(name_or_conf)
    conf["model"].update(options)
    return conf


def with_options(name_or_conf, **model_options) -> dict:
    """A conf with ``model`` entries replaced (options that are None are left as they are)."""
    conf = get_conf(name_or_conf)
    conf["model"].update({k: v for k, v in model_options.items() if v is not None})
    return conf
