"""Average RELF checkpoints of one run (a uniform "model soup" of its weights).

    python scripts/average_weights.py OUTPUT.pth IN1.pth IN2.pth [...]

Every floating tensor (parameters and batch-norm statistics) is the mean of the inputs,
integer buffers are taken from the first. e2cnn's weights are coefficients of a fixed
equivariant basis, so any average of them is as equivariant as its parts. The inputs must
share G, widths and the detector head; the metadata is the last input's, with the sources
and their steps under ``averaged``, and the metrics of the last input dropped.
"""

import argparse
from pathlib import Path

from relf_hloc.features.checkpoint import CheckpointError, load_checkpoint, save_weights


def average(paths):
    """(mean state dict, meta) of the checkpoints ``paths``."""
    states, metas = zip(*(load_checkpoint(p)[:2] for p in paths))
    for path, meta in zip(paths[1:], metas[1:]):
        for key in ("G", "widths", "detector"):
            if meta.get(key) != metas[0].get(key):
                raise CheckpointError(f"{path}: {key} {meta.get(key)} differs from "
                                      f"{metas[0].get(key)} in {paths[0]}")
    mean = {k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[0].items()}
    meta = {k: v for k, v in metas[-1].items() if k != "metrics"}
    meta["averaged"] = [{"source": str(p), "step": m.get("step")} for p, m in zip(paths, metas)]
    return mean, meta


def main():
    """Average the input checkpoints into the output checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+")
    args = parser.parse_args()
    if len(args.inputs) < 2:
        parser.error("give at least two checkpoints to average")
    state, meta = average(args.inputs)
    out = save_weights(args.output, state, meta)
    print(f"{out}: mean of steps {[a['step'] for a in meta['averaged']]}")


if __name__ == "__main__":
    main()
