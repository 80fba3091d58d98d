"""Per-image extraction time, split into detection, network, aligning and writing.

    python scripts/benchmark_extract.py [--confs relf,relf-fast,relf-single] [--device cpu] [--threads 1]
        [--backbones reresnet18,wrn16_8] [--backends torch,onnxruntime] [--sizes 640x480]

For 640x480 and 1024x768 images (skimage's astronaut, resized) with 2000 SIFT
keypoints, for every conf, backbone (the conf's own by default) and network backend.
Aligning is timed against the naive per-keypoint ``torch.roll`` loop of the original code,
in the same run, and the ratio is printed.
"""

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import skimage.data
import torch
import torch.nn.functional as F

from relf_hloc import io
from relf_hloc.confs import WRN_WEIGHTS, get_conf
from relf_hloc.features.detectors import detect_sift
from relf_hloc.features.relf import RELF, group_align
from relf_hloc.features.reresnet import ReResNet18, fuse_dense, normalize_image


def naive_align(vectors: torch.Tensor, G: int) -> torch.Tensor:
    """The original code's per-keypoint loop (reference only)."""
    out = [torch.roll(v.view(-1, G), -int(v[:G].argmax()), 1).flatten() for v in vectors]
    return F.normalize(torch.stack(out), dim=1)


@torch.inference_mode()
def reference_describe(model, image, kpts, levels):
    """The straightforward path, as reference: equivariant e2cnn modules (eval mode,
    batch norm not folded) and the dense 1024-channel fused map, then grid_sample."""
    H, W = image.shape[-2:]
    out = None
    for h, w in levels:
        level = F.interpolate(image[None], size=(h, w), mode="bilinear", align_corners=False,
                              antialias=h < H)
        dense = fuse_dense(model(normalize_image(level)))
        k = (kpts + 0.5) * kpts.new_tensor([w / W, h / H]) - 0.5
        grid = (k / k.new_tensor([w - 1, h - 1]) * 2 - 1)[None, None]
        v = F.grid_sample(dense, grid, align_corners=True)[0, :, 0].T
        out = v if out is None else torch.maximum(out, v)
    return out


def timed(fn, repeats=1):
    """(best seconds over ``repeats`` calls of ``fn``, its last result)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, result


def extractors(args):
    """(row label, RELF) of every conf x backbone x backend; a WRN row of a conf that names
    the shipped ReResNet-18 weights takes the shipped WRN weights."""
    for conf_name in args.confs.split(","):
        conf = {k: v for k, v in get_conf(conf_name)["model"].items() if k != "name"}
        for backbone in (args.backbones or conf.get("backbone", "reresnet18")).split(","):
            weights = conf.get("weights") if backbone == conf.get("backbone", "reresnet18") else None
            if backbone == "wrn16_8" and weights is None:
                weights = str(WRN_WEIGHTS)
            for backend in args.backends.split(","):
                relf = RELF({**conf, "backbone": backbone, "weights": weights, "backend": backend,
                             "random_weights": args.random_weights}).to(args.device)
                label = " ".join([conf_name] + [x for x in (backbone, backend) if x not in ("reresnet18", "torch")])
                yield label, relf


def main():
    """Time extraction per conf and stage; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confs", default="relf,relf-fast,relf-single")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--keypoints", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--reference", action="store_true",
                        help="also time the unoptimised network path (e2cnn modules + dense fusion)")
    parser.add_argument("--random-weights", action="store_true",
                        help="time an untrained network (same cost as trained weights)")
    parser.add_argument("--backbones", default=None, help="e.g. reresnet18,wrn16_8 (default: each conf's)")
    parser.add_argument("--backends", default="torch", help="e.g. torch,onnxruntime,onnxruntime-int8")
    parser.add_argument("--sizes", default="640x480,1024x768")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    header = ("| conf | image | keypoints | levels | detect s | network s | align s | "
              "naive align s | align speed-up | write s | total s |")
    print(header + "\n" + "|---" * 11 + "|")
    base = skimage.data.astronaut()
    if args.reference:
        if not args.random_weights:
            raise SystemExit("--reference compares outputs: use it with --random-weights")
        torch.manual_seed(0)  # the seeded initialisation of RELF's random weights
        equivariant = ReResNet18().eval().to(args.device)
    tmp = Path(tempfile.mkdtemp())
    for conf_name, relf in extractors(args):
        G = relf.conf["G"]
        for w, h in [tuple(map(int, size.split("x"))) for size in args.sizes.split(",")]:
            image = cv2.resize(base, (w, h), interpolation=cv2.INTER_AREA)
            t_det, (kpts, scores, _) = timed(lambda: detect_sift(image, args.keypoints, 0.005))
            tensor = torch.from_numpy(image).permute(2, 0, 1).float().div(255).to(args.device)
            k = torch.from_numpy(kpts).to(args.device)
            def vectors_at(points):  # the unaligned vectors, pooled over the pyramid's levels
                return relf.pool(relf.pyramid(tensor), points, tensor.shape[-2:])
            vectors_at(k[:10])  # warm-up
            t_net, vectors = timed(lambda: vectors_at(k), args.repeats)
            t_align, (desc, ori) = timed(lambda: group_align(vectors, G), max(args.repeats, 3))
            t_naive, ref = timed(lambda: naive_align(vectors, G))
            assert torch.allclose(desc, ref, atol=1e-6)
            feats = {"keypoints": kpts, "descriptors": desc.cpu().numpy().T, "scores": scores,
                     "orientations": ori.cpu().numpy() * 360.0 / G, "image_size": [w, h]}
            t_write, _ = timed(lambda: io.write_features(tmp / "f.h5", "img", feats))
            levels = len(relf.pyramid_levels(h, w))
            total = t_det + t_net + t_align + t_write
            if args.reference and relf.conf["backbone"] == "reresnet18":
                t_ref, ref_vectors = timed(lambda: reference_describe(
                    equivariant, tensor, k, relf.pyramid_levels(h, w)))
                assert torch.allclose(ref_vectors, vectors, atol=1e-3)
                print(f"| {conf_name} reference (e2cnn modules, dense fusion) | {w}x{h} | {len(kpts)} | "
                      f"{levels} | | {t_ref:.2f} ({t_ref / t_net:.1f}x slower) | | | | | |")
            print(f"| {conf_name} | {w}x{h} | {len(kpts)} | {levels} | {t_det:.3f} | {t_net:.2f} | "
                  f"{t_align * 1e3:.1f} ms | {t_naive * 1e3:.0f} ms | {t_naive / t_align:.0f}x | "
                  f"{t_write:.3f} | {total:.2f} |", flush=True)


if __name__ == "__main__":
    main()
