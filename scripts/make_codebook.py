"""Learn what ships beside RELF's weights from its descriptors of the training images: the retrieval
codebook (PCA + k-means centroids, relf_hloc/weights/retrieval_codebook.npz) and the descriptor PCA
of compact matching (the conf option ``pca``: relf_hloc/weights/relf_c16.pca.npz).

    nice python scripts/make_codebook.py --images ../shared/data/train_images \
        --output relf_hloc/weights/retrieval_codebook.npz \
        --unaligned-output outputs/retrieval/codebook_unaligned.npz
    nice python scripts/make_codebook.py --make pca --count 200 --keypoints 1000 --pca-dim 256

One network pass per image gives both the group-aligned descriptors (the shipped codebook)
and, with --unaligned-output, the unaligned equivariant vectors (a codebook for the
benchmark's no-aligning baseline only; not shipped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from relf_hloc.confs import DEFAULT_WEIGHTS, get_conf
from relf_hloc.features import load_extractor, weights_tag
from relf_hloc.features.relf import pca_file
from relf_hloc.images import list_images, read_image
from relf_hloc.retrieval import learn_codebook


def sample(images: Path, count: int, keypoints: int, seed: int, weights=None):
    """(aligned [M, D], unaligned [M, D]) descriptors of ``count`` seeded images."""
    conf = get_conf("relf-fast")["model"]
    relf = load_extractor({**conf, "max_keypoints": keypoints, "weights": weights and str(weights)})
    names = list_images(images)
    names = [names[i] for i in np.random.default_rng(seed).choice(len(names), count, replace=False)]
    aligned, unaligned = [], []
    for i, name in enumerate(names):
        rgb = read_image(images / name)
        kpts = relf.detector({"image": rgb, "name": name})["keypoints"]
        if len(kpts) == 0:
            continue
        tensor = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        vectors = relf.pool(relf.pyramid(tensor), torch.from_numpy(kpts).float(), tensor.shape[-2:])
        aligned.append(relf.align(vectors)[0].numpy())
        unaligned.append(F.normalize(vectors, dim=1).numpy())
        print(f"{i + 1}/{count} {name}: {len(kpts)} keypoints", flush=True)
    return np.concatenate(aligned), np.concatenate(unaligned)


def save(path: Path, book: dict, command: str) -> None:
    """Write the codebook (float16) and the command that made it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: v.astype(np.float16) for k, v in book.items()}, command=np.array(command))
    print(f"{path}: PCA {book['components'].shape}, centroids {book['centroids'].shape}")


def save_pca(path: Path, desc: np.ndarray, dim: int, weights: str, command: str) -> None:
    """Write the first ``dim`` principal directions of descriptors [M, D] about the origin (float16; the
    mean stored is zero): uncentred, so that projected unit descriptors keep their dot products, and the
    RELF part its share of the similarity beside RootSIFT's. Also the tag of the weights they describe
    and the share of the second moment each direction holds."""
    _, s, vt = np.linalg.svd(desc, full_matrices=False)
    explained = s ** 2 / (s ** 2).sum()
    np.savez_compressed(path, mean=np.zeros(desc.shape[1], np.float32), components=vt[:dim].T.astype(np.float16),
                        explained=explained[:dim].astype(np.float32), weights=np.array(weights_tag(weights)),
                        command=np.array(command))
    print(f"{path}: {dim} components of {desc.shape[1]}-d descriptors from {len(desc)}, "
          f"{explained[:dim].sum():.1%} of the second moment")


def main(argv=None) -> int:
    """Fit PCA and VLAD centroids on aligned descriptors of training images; write the codebook."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, default=Path("../shared/data/train_images"))
    p.add_argument("--make", default="codebook", help="comma list: codebook (retrieval), pca (matching)")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="RELF checkpoint (the PCA is written "
                                                                          "beside it)")
    p.add_argument("--output", type=Path, default=Path("relf_hloc/weights/retrieval_codebook.npz"))
    p.add_argument("--unaligned-output", type=Path, help="also a codebook of unaligned vectors (benchmark only)")
    p.add_argument("--count", type=int, default=80, help="training images (seeded sample)")
    p.add_argument("--keypoints", type=int, default=400, help="keypoints per image")
    p.add_argument("--dim", type=int, default=64, help="PCA dimensions")
    p.add_argument("--k", type=int, default=32, help="k-means centroids")
    p.add_argument("--pca-dim", type=int, default=256, help="descriptor PCA: components kept")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    make = {m.strip() for m in args.make.split(",")}
    if not make or make - {"codebook", "pca"}:
        p.error(f"--make {args.make}: choose from codebook, pca")
    aligned, unaligned = sample(args.images, args.count, args.keypoints, args.seed, args.weights)
    command = "python " + " ".join(sys.argv)
    if "pca" in make:
        save_pca(pca_file(str(args.weights)), aligned, args.pca_dim, str(args.weights), command)
    if "codebook" not in make:
        return 0
    save(args.output, learn_codebook(aligned, args.dim, args.k, args.seed), command)
    if args.unaligned_output:
        save(args.unaligned_output, learn_codebook(unaligned, args.dim, args.k, args.seed), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
