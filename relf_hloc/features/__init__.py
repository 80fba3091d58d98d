"""Local features by name: ``load_extractor(conf["model"])`` (hloc's and LightGlue's shape).

Every extractor takes its conf (``default_conf`` updated by the given one) and has
``extract(image, keypoints=None, scores=None, name=None) -> dict`` of numpy arrays for a
uint8 RGB [H, W, 3] image: ``keypoints`` [N, 2] (pixel centre at integer coordinates),
``descriptors`` [N, D] (unit L2 norm), ``scores`` [N], ``orientations`` [N] (degrees,
counter-clockwise as displayed) and optional per-keypoint arrays. RELF is also a
``torch.nn.Module`` (``.to(device)``, batched ``forward``).

A new extractor is a module with such a class, named in ``EXTRACTORS``; a new keypoint
detector goes into ``detectors.DETECTORS``. Modules are imported when first used, so the
OpenCV methods run without importing torch.
"""

from __future__ import annotations

import hashlib
import json

from ..confs import DEFAULT_WEIGHTS, OPENCV_METHODS, load_registered, registered_class, resolve_conf
from ..io import file_digest

EXTRACTORS = {
    "relf": "relf_hloc.features.relf:RELF",
    **{m: "relf_hloc.features.opencv:OpenCVFeatures" for m in OPENCV_METHODS},
}


def load_extractor(conf: dict):
    """The extractor named by ``conf["name"]`` (a conf's ``model`` entry)."""
    return load_registered(EXTRACTORS, conf, "extractor")


def extractor_class(model: dict) -> type:
    """The extractor class registered for ``model["name"]`` (a conf's ``model`` entry), whose class
    attributes say what it offers (``Extractor``: ``weights``, ``describes_keypoints``,
    ``global_aggregations``): the steps, drivers and the CLI ask it instead of testing names."""
    return registered_class(EXTRACTORS, model.get("name"), "extractor")


def weights_tag(weights=None, random_weights: bool = False) -> str:
    """'untrained', or 'w' and the first 8 hex digits of the checkpoint's SHA-256 (the
    shipped weights by default)."""
    if random_weights:
        return "untrained"
    try:
        return "w" + file_digest(weights or DEFAULT_WEIGHTS)[:8]
    except FileNotFoundError:
        raise FileNotFoundError(f"{weights or DEFAULT_WEIGHTS}: RELF weights not found") from None


def identity(conf: dict) -> dict:
    """What determines an extractor's output: its model conf as it runs (the class's
    ``default_conf`` merged with ``conf``: spelling out a default changes nothing, a changed
    default changes the provenance), with the files it reads (a network's weights) named by their
    content (``Extractor.content_tags``)."""
    cls = extractor_class(conf)
    model = resolve_conf(cls.default_conf, conf, cls.__name__)
    model.update(cls.content_tags(model))
    return model


def features_tag(conf: dict) -> str:
    """File-name tag of a full extractor conf: its output name (without 'feats-') and a
    short hash of ``identity``, so different settings never share a features file."""
    digest = hashlib.sha256(json.dumps(identity(conf["model"]), sort_keys=True, default=str)
                            .encode()).hexdigest()[:8]
    return f"{conf.get('output', conf['model']['name']).removeprefix('feats-')}-{digest}"
