"""relf-hloc: RELF rotation-equivariant local features for hloc and COLMAP.

    import relf_hloc
    relf_hloc.register()          # makes `relf` an hloc extractor (when hloc is installed)
    relf_hloc.confs["relf-fast"]  # hloc-style extractor / matcher confs
    relf_hloc.RELF(conf).extract(image)
"""

__version__ = "0.1.0"

# OpenCV before pycolmap, always: with pycolmap 4.2.1 loaded first, OpenCV's PNG writer aborts the
# process (a libpng clash: "free(): invalid pointer"). Importing the package imports cv2 first.
import cv2  # noqa: E402,F401

# the dict, not the submodule of the same name (cheap: no torch)
from .confs import confs  # noqa: E402,F401  (re-exported)


def __getattr__(name):  # lazy: `relf-hloc --help` must not import torch
    if name == "RELF":
        from .features.relf import RELF
        return RELF
    if name == "register":
        from .hloc_plugin import register
        return register
    raise AttributeError(f"module 'relf_hloc' has no attribute {name!r}")
