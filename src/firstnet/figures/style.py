"""One look for every figure: headless backend, colour-blind-safe palette, readable sizes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt  # noqa: E402

from firstnet.atomic import atomic_write  # noqa: E402

# Okabe & Ito (2008), the colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
DPI = 120

plt.rcParams.update(
    {
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 9,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
    }
)


def save(fig, path: Path | None, keep_open: bool = False, **savefig_kwargs):
    """Write `fig` to `path` atomically and close it (unless `keep_open`); the path. With `path`
    None the figure itself, open: what the Python API's figure functions return (`firstnet.api`).

    `savefig_kwargs` go to `fig.savefig`, e.g. bbox_inches=fig.bbox_inches for an image of exactly
    figsize * DPI pixels.
    """
    if path is None:
        return fig
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, **savefig_kwargs))
    finally:
        if not keep_open:
            plt.close(fig)
