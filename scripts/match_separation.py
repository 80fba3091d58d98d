"""How well a similarity floor or a ratio test separates verified from unverified matches.

    python scripts/match_separation.py OUT/rot-none/relf   # a run folder of pipelines/sfm_real_data.py

Reads the run's features, exhaustive pairs and mutual-NN matches (``matches-relf-nn-*.h5``).
A match is "verified" when it fits its pair's fundamental matrix (USAC-MAGSAC, 1 px;
``relf_hloc.eval.matches``) in a pair with at least 15 such matches (COLMAP's minimum); every
match of the other pairs counts as unverified. Prints, for each floor on the descriptor
similarity and each ratio threshold, the fraction of each kind that the filter keeps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from relf_hloc.eval.matches import verified_inliers
from relf_hloc.io import read_features, read_matches, read_pairs

FLOORS = (0.7, 0.75, 0.8, 0.85)
RATIOS = (0.8, 0.85, 0.9, 0.95)


def match_statistics(features: Path, matches: Path, pairs):
    """(similarity, ratio, verified) of every match of ``pairs``."""
    sims, ratios, verified = [], [], []
    for a, b in pairs:
        m, _ = read_matches(matches, a, b)
        fa = read_features(features, a, ["keypoints", "descriptors"])
        fb = read_features(features, b, ["keypoints", "descriptors"])
        sim = fa["descriptors"].T @ fb["descriptors"]
        top2 = -np.sort(-sim, axis=1)[:, :2]
        dist = np.sqrt(np.clip(2 - 2 * top2, 0, None))  # L2 distances of unit vectors
        mask = verified_inliers(fa["keypoints"][m[:, 0]], fb["keypoints"][m[:, 1]])
        sims.append(sim[m[:, 0], m[:, 1]])
        ratios.append(dist[m[:, 0], 0] / np.maximum(dist[m[:, 0], 1], 1e-9))
        verified.append(mask & (mask.sum() >= 15))
    return np.concatenate(sims), np.concatenate(ratios), np.concatenate(verified)


def main(argv=None) -> int:
    """Print the share of verified and unverified matches each similarity floor and ratio keeps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder with feats-*.h5, pairs-exhaustive.txt, matches-relf-nn-*.h5")
    args = parser.parse_args(argv)
    try:
        features = next(args.run.glob("feats-*.h5"))
        matches = next(args.run.glob("matches-relf-nn-*.h5"))
    except StopIteration:
        parser.error(f"{args.run}: no feats-*.h5 or matches-relf-nn-*.h5 (run pipelines/sfm_real_data.py first)")
    sim, ratio, ok = match_statistics(features, matches, read_pairs(args.run / "pairs-exhaustive.txt"))
    print(f"{args.run}: {ok.sum()} verified and {(~ok).sum()} unverified mutual-NN matches\n")
    print("| filter | verified kept | unverified kept |\n|---|---|---|")
    for t in FLOORS:
        print(f"| similarity >= {t} | {np.mean(sim[ok] >= t):.2f} | {np.mean(sim[~ok] >= t):.2f} |")
    for t in RATIOS:
        print(f"| ratio <= {t} | {np.mean(ratio[ok] <= t):.2f} | {np.mean(ratio[~ok] <= t):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
