"""Share of keypoints on the black borders of a rotated image (canvas corners), per conf.

    python scripts/detector_borders.py IMAGE [--confs relf-fast,relf-det-fast] [--max-keypoints 1500]

A keypoint is on the border when it lies within 7 px of a canvas pixel (all channels <= 8).
"""

import argparse

import cv2
import numpy as np

from relf_hloc.confs import extractor_conf
from relf_hloc.features import load_extractor
from relf_hloc.images import read_image


def main() -> int:
    """Print, per conf, the share of keypoints within 7 px of the image's black canvas."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--confs", default="relf-fast,relf-det-fast")
    parser.add_argument("--max-keypoints", type=int, default=1500)
    args = parser.parse_args()
    image = read_image(args.image)
    canvas = (image.max(2) <= 8).astype(np.uint8)
    near = cv2.dilate(canvas, np.ones((15, 15), np.uint8)).astype(bool)
    for name in args.confs.split(","):
        kpts = load_extractor(extractor_conf(name, args.max_keypoints)["model"]).extract(image)["keypoints"]
        k = kpts.round().astype(int)
        share = near[k[:, 1].clip(0, image.shape[0] - 1), k[:, 0].clip(0, image.shape[1] - 1)].mean()
        print(f"{name}: {len(k)} keypoints, {100 * share:.1f}% within 7 px of the black canvas")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
