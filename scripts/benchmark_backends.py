"""Extraction time of RELF's backends side by side with OpenCV SIFT, in one run.

    python scripts/benchmark_backends.py [--confs relf,relf-fast] [--images 6] [--threads 2]
        [--backends torch,onnxruntime,onnxruntime-int8]

For each conf and backend (torch, onnxruntime, onnxruntime-int8): seconds per 640x480 image
(2000 SIFT keypoints) of the whole ``relf-hloc extract`` step over a folder of rendered
images (median of the per-image times after a warm-up image), and of the network alone (RELF's
``describe`` on the same keypoints), so that the pipelined step can be compared with the
network it waits on. Ratios are against torch in the same run. The network's work per image
(GFLOP: 2 x the multiply-adds of its convolutions over the pyramid's levels) and the rate it ran
at (GFLOP/s of the describe time, an underestimate: that time includes sampling and aligning) say
how far a backend is from the CPU's peak.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from relf_hloc.confs import BACKENDS, extractor_conf, with_options
from relf_hloc.features.detectors import detect_sift
from relf_hloc.features.relf import RELF
from relf_hloc.images import list_images, read_image
from relf_hloc.steps import extract

def step_seconds(conf, images: Path, out: Path) -> float:
    """Seconds per image of the extract step (first image excluded: warm-up)."""
    names = list_images(images)
    extract.main(conf, images, out, names=names[:1], progress=False)
    start = time.perf_counter()
    extract.main(conf, images, out, names=names, progress=False)
    return (time.perf_counter() - start) / (len(names) - 1)


def network_seconds(conf, images: Path) -> float:
    """Seconds to describe every image of ``images`` with the PyTorch network (SIFT keypoints)."""
    relf = RELF(conf["model"])
    times = []
    for name in list_images(images):
        image = read_image(images / name)
        kpts = torch.from_numpy(detect_sift(image, conf["model"]["max_keypoints"])[0])
        tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
        start = time.perf_counter()
        relf.describe({"image": tensor[None], "keypoints": kpts[None]})
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def network_gflop(conf, height: int = 480, width: int = 640) -> float:
    """GFLOP of the network over the conf's pyramid of a ``height`` x ``width`` image (2 x the
    multiply-adds of every convolution, counted on the torch network)."""
    relf = RELF(with_options(conf, backend="torch")["model"])
    macs = []
    hooks = [m.register_forward_hook(lambda m, i, o: macs.append(o.numel() * m.weight[0].numel()))
             for m in relf.net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        for h, w in relf.pyramid_levels(height, width):
            relf.net(torch.zeros(1, 3, h, w))
    for hook in hooks:
        hook.remove()
    return 2 * sum(macs) / 1e9


def main() -> int:
    """Time each conf's backends on rendered images; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confs", default="relf,relf-fast")
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma list of RELF backends")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from relf_hloc.datasets import render
    tmp = Path(tempfile.mkdtemp())
    try:
        images = render.main(tmp / "scene", num_cameras=args.images, width=640, height=480) / "images"
        sift = step_seconds(extractor_conf("sift"), images, tmp / "sift.h5")
        print(f"{args.images} images 640x480, {args.threads} threads, torch {torch.__version__}")
        print("| conf | backend | extract step s/img | network s/img | step / network | vs torch | vs SIFT "
              "| network GFLOP/img | GFLOP/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| sift (OpenCV) | - | {sift:.3f} | - | - | - | 1.0x | - | - |")
        for name in args.confs.split(","):
            base, gflop = None, network_gflop(extractor_conf(name))
            for backend in args.backends.split(","):
                conf = with_options(extractor_conf(name), backend=backend)
                step = step_seconds(conf, images, tmp / f"{name}-{backend}.h5")
                net = network_seconds(conf, images)
                base = base or step
                print(f"| {name} | {backend} | {step:.3f} | {net:.3f} | {step / net:.2f} | "
                      f"{base / step:.2f}x faster | {step / sift:.0f}x slower | {gflop:.0f} | {gflop / net:.0f} |",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
