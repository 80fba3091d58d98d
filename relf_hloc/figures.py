"""Matplotlib for files only (the Agg backend, never a window), and atomic figure writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_write  # noqa: E402


def save_figure(fig, path, dpi: int = 110, **kwargs) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix) and close it."""
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, metadata={"Software": None}, **kwargs)
    plt.close(fig)
    return Path(path)
