"""The one interface of extractors and keypoint detectors (LightGlue's and kornia's shapes).

An **extractor** holds ``default_conf`` (every option; the given conf is merged into it once,
here, and an unknown key is an error) and offers two forms of one operation:

    forward({"image": [1, 3, H, W] float in [0, 1], "name": optional str})
        -> {"keypoints": [1, N, 2], "keypoint_scores": [1, N], "descriptors": [1, N, D],
            "orientations": [1, N] (degrees), optional "scales" / "keypoint_index": [1, N]}
    extract(image uint8 [H, W, 3] RGB, keypoints=None, scores=None, name=None)
        -> the same for one image as numpy arrays, ``keypoint_scores`` stored as ``scores``
           (hloc's file keys; the extract step writes them as they are)

Keypoints are in pixels with the pixel centre at integer coordinates. ``extract`` with
``keypoints`` describes those points (an extractor that cannot says so). An extractor
implements the form natural to it and gets the other from this class: a torch network
implements ``forward`` (and ``describe`` for given keypoints), an OpenCV method ``extract``.

A **keypoint detector** holds ``default_conf`` and is called on one image, always the same way:

    detector({"image": uint8 [H, W, 3] RGB, optional "name": str,
              optional "levels": () -> the extractor's pyramid maps, computed on first call})
        -> {"keypoints": [N, 2], "keypoint_scores": [N], optional "scales": [N]} (numpy or tensors)

strongest first (``scales``: the keypoint's size in pixels, OpenCV's ``KeyPoint.size``). A
detector that scores the maps of the extractor's own network pass (RELF's learned head) calls
``levels`` and says so with ``uses_maps = True``: it cannot run ahead of the network (the extract
step detects the others' keypoints of the next images while the network works).
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..confs import Configurable

FILE_KEYS = {"keypoint_scores": "scores"}  # forward's output key -> hloc's features-file key


class Detector(Configurable):
    """Keypoints of one image (see the module doc)."""

    uses_maps = False  # scores the extractor's maps (data["levels"]): cannot run ahead of the network

    def __call__(self, data: dict) -> Dict[str, np.ndarray]:
        """{keypoints [N, 2], keypoint_scores [N], optional scales [N]} of ``data["image"]`` (uint8
        RGB), strongest first."""
        raise NotImplementedError


class Extractor(Configurable):
    """Local features of one image (see the module doc)."""

    required_data_keys = ("image",)
    # What the extractor offers, asked by the steps, the drivers and the CLI (never its name):
    weights = False  # a network with weights: its features are named by the weights' content
    describes_keypoints = False  # describes any detector's keypoints (``describe``, a ``detector`` option)
    global_aggregations = ("gem",)  # ``extract --global`` aggregations it supports, the first the default

    @classmethod
    def content_tags(cls, model: dict) -> dict:
        """Conf entries that name files, replaced in ``features.identity`` by a tag of their content (a
        network's weights: features made with other weights are never taken for these); ``model`` is
        the resolved conf."""
        return {}

    def forward(self, data: dict) -> dict:
        """Batched tensors in and out: by default ``extract`` on the image as uint8 numpy."""
        import torch  # only here: the OpenCV extractors run without torch
        image = data["image"]
        rgb = (image[0].float().expand(3, -1, -1).clamp(0, 1) * 255).round().byte().permute(1, 2, 0)
        pred = self.extract(rgb.cpu().numpy(), name=data.get("name"))
        inverse = {v: k for k, v in FILE_KEYS.items()}
        return {inverse.get(k, k): torch.from_numpy(v)[None].to(image.device) for k, v in pred.items()}

    def describe(self, data: dict) -> dict:
        """``forward`` for the keypoints of ``data["keypoints"]`` [1, N, 2] (and optional
        ``keypoint_scores`` [1, N]): only extractors that describe any point have it."""
        raise ValueError(f"{self.conf.get('name', type(self).__name__)} describes its own keypoints only")

    def extract(self, image, keypoints: Optional[np.ndarray] = None,
                scores: Optional[np.ndarray] = None, name: Optional[str] = None,
                scales: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """One image (uint8 [H, W, 3] RGB, or a float tensor [3, H, W] in [0, 1]) as numpy arrays:
        by default ``forward`` (or ``describe`` for given keypoints, and their ``scales``) on it
        as a batched tensor."""
        import torch
        if isinstance(image, torch.Tensor):  # float [3, H, W] in [0, 1]
            tensor = image.float()
        elif image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image [H, W, 3], got {image.shape}")
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        data = {"image": tensor[None], "name": name}
        if keypoints is not None:
            data["keypoints"] = torch.from_numpy(np.asarray(keypoints, np.float32).reshape(1, -1, 2))
            for key, value in (("keypoint_scores", scores), ("scales", scales)):
                if value is not None:
                    data[key] = torch.from_numpy(np.asarray(value, np.float32))[None]
        pred = self.describe(data) if keypoints is not None else self.forward(data)
        return {FILE_KEYS.get(k, k): v[0].cpu().numpy() for k, v in pred.items()}
