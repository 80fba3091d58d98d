"""Make RELF available inside hloc (github.com/cvg/Hierarchical-Localization), unmodified.

    import relf_hloc
    relf_hloc.register()
    from hloc import extract_features, match_features
    feats = extract_features.main(relf_hloc.confs["relf-fast"], images, outputs)
    matches = match_features.main(relf_hloc.confs["relf-nn"], pairs, feats, outputs)

hloc finds an extractor by importing ``hloc.extractors.<conf['model']['name']>``
and keeping the one BaseModel subclass whose ``__module__`` is that module.
``register()`` puts a module object ``hloc.extractors.relf`` in ``sys.modules``
(and on the ``hloc.extractors`` package) holding such a class, and adds this
project's confs to ``hloc.extract_features.confs`` / ``hloc.match_features.confs``.
The matcher conf uses hloc's own mutual nearest neighbour, RELF's protocol.

Importing this module never imports hloc or torch; ``register()`` needs hloc.
"""

from __future__ import annotations

import sys
import types

MODULE = "hloc.extractors.relf"


def build_extractor_class(BaseModel):
    """The hloc extractor wrapping relf_hloc.features.relf.RELF (built lazily so that
    this module imports without hloc). The RELF module is a submodule of the wrapper, so
    hloc's ``model.to(device)`` moves the network: on a CUDA machine RELF runs on CUDA."""

    class RELF(BaseModel):
        """hloc extractor: ``conf`` = RELF options (relf_hloc.features.relf.RELF.default_conf)."""

        default_conf = {"name": MODULE.rsplit(".", 1)[1]}  # hloc finds a model by its module's name
        required_inputs = ["image"]
        detection_noise = 1.0

        def _init(self, conf):
            import torch
            from .confs import resolve_backend
            from .features.relf import RELF as Extractor

            device = "cuda" if torch.cuda.is_available() else "cpu"  # where hloc's extraction runs
            self.relf = Extractor({**conf, "backend": resolve_backend(conf.get("backend", "torch"), device)})

        def _forward(self, data):
            # data["image"]: [1, C, H, W] in [0, 1], C = 1 if preprocessing is grayscale
            pred = self.relf({"image": data["image"]})
            out = {
                # float64 keypoints escape hloc's float16 cast (as_half): up to 0.5 px otherwise
                "keypoints": pred["keypoints"].double(),
                "descriptors": pred["descriptors"].transpose(1, 2),  # hloc: [B, D, N]
                "scores": pred["keypoint_scores"],
                "orientations": pred["orientations"],  # the key of every features file of ours
            }
            for key in ("keypoint_index", "scales"):  # multi-candidate; the learned detector
                if key in pred:
                    out[key] = pred[key]
            return out

    RELF.__module__ = MODULE
    RELF.__qualname__ = "RELF"
    return RELF


def register() -> types.ModuleType:
    """Register the ``relf`` extractor and this project's confs with hloc.

    Idempotent: a second call returns the same module. Raises ImportError with an
    install hint when hloc is not installed.
    """
    try:
        import hloc.extractors
        from hloc import extract_features, match_features
        from hloc.utils.base_model import BaseModel
    except ImportError as e:
        raise ImportError(
            "relf_hloc.register() needs hloc, which is not on PyPI: install it with "
            "`git clone https://github.com/cvg/Hierarchical-Localization && "
            f"pip install -e Hierarchical-Localization` ({e})") from e
    from .confs import confs
    from .features import EXTRACTORS, extractor_class
    from .features.relf import RELF

    module = sys.modules.get(MODULE)
    if module is None or not getattr(module, "__relf_hloc__", False):
        module = types.ModuleType(MODULE, "RELF rotation-equivariant features (relf_hloc plugin)")
        module.__relf_hloc__ = True
        module.RELF = build_extractor_class(BaseModel)
        sys.modules[MODULE] = module
    hloc.extractors.relf = module
    for name, conf in confs.items():  # the confs that the wrapper runs
        if conf["model"]["name"] in EXTRACTORS and extractor_class(conf["model"]) is RELF:
            extract_features.confs.setdefault(name, conf)
    match_features.confs.setdefault("relf-nn", confs["relf-nn"])
    return module
