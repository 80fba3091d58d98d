"""How rotation-invariant are RELF descriptors in practice?

    python scripts/invariance_report.py [--confs relf,relf-fast,relf-single] [--random-weights]

Describes the same physical keypoints (SIFT on the upright image) in an image and
in its exact 90-degree rotation (np.rot90), and prints the cosine between the
aligned descriptors and how often the orientation moved by exactly 90 degrees.
At a single grid-aligned scale (relf-single, (H-1) and (W-1) multiples of 16)
the cosine is 1 by construction; the pyramid's resampling breaks exactness and
this script measures by how much.
"""

import argparse

import cv2
import numpy as np
import skimage.data

from relf_hloc.confs import get_conf
from relf_hloc.features.detectors import detect_sift
from relf_hloc.features.relf import RELF


def main():
    """Print, per conf, the cosine of aligned descriptors of an image and its 90-degree rotation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confs", default="relf,relf-fast,relf-single")
    parser.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--keypoints", type=int, default=1000)
    parser.add_argument("--no-snap", action="store_true",
                        help="the paper's exact pyramid sizes (not snapped to 16k + 1)")
    args = parser.parse_args()
    image = cv2.resize(skimage.data.astronaut(), (641, 481), interpolation=cv2.INTER_AREA)
    rotated = np.ascontiguousarray(np.rot90(image))
    W = image.shape[1]
    kpts, _, _ = detect_sift(image, args.keypoints)
    kpts_rot = np.stack([kpts[:, 1], W - 1 - kpts[:, 0]], 1)
    weights = "random (untrained)" if args.random_weights else (args.weights or "shipped")
    snap = "paper's sizes" if args.no_snap else "levels snapped to 16k + 1"
    print(f"weights: {weights}; image 641x481 and its rot90; {len(kpts)} SIFT keypoints; {snap}")
    print("| conf | mean cosine | median cosine | 5th percentile | orientation +90 deg |")
    print("|---|---|---|---|---|")
    for name in args.confs.split(","):
        conf = {k: v for k, v in get_conf(name)["model"].items() if k != "name"}
        if args.no_snap and conf["pyramid"]:
            conf["pyramid"] = {**conf["pyramid"], "snap": None}
        relf = RELF({**conf, "random_weights": args.random_weights,
                     **({"weights": args.weights} if args.weights else {})})
        a, b = relf.extract(image, kpts), relf.extract(rotated, kpts_rot)
        cos = (a["descriptors"] * b["descriptors"]).sum(1)
        turned = np.isclose((b["orientations"] - a["orientations"]) % 360, 90).mean()
        print(f"| {name} | {cos.mean():.4f} | {np.median(cos):.4f} | "
              f"{np.percentile(cos, 5):.4f} | {100 * turned:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
