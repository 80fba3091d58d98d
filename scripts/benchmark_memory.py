"""Peak memory of OpenCV SIFT (the project's set-up) per image pixel, which sets
``confs.MAX_PIXELS`` (the largest image ``extract`` accepts without ``--resize-max``).

    python scripts/benchmark_memory.py [SIDE ...]     # default: 2000 4000 (square images)

Each size runs in its own process (peak resident memory is per process).
"""

import resource
import subprocess
import sys

import cv2
import numpy as np


def measure(side: int) -> float:
    """Peak resident bytes per pixel of SIFT on a ``side`` x ``side`` image."""
    from relf_hloc.features.opencv import create_sift
    image = cv2.GaussianBlur((np.random.default_rng(0).random((side, side)) * 255).astype(np.uint8), (5, 5), 2)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    create_sift(8192).detectAndCompute(image, None)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024 / side ** 2


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(f"{measure(int(sys.argv[2])):.0f}")
        sys.exit(0)
    for side in [int(a) for a in sys.argv[1:]] or [2000, 4000]:
        out = subprocess.run([sys.executable, __file__, "--one", str(side)], capture_output=True, text=True,
                             check=True).stdout.strip()
        print(f"SIFT {side}x{side} ({side * side / 1e6:.0f} MP): {out} bytes per pixel at peak")
