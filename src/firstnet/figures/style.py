"""One look for every figure: colour-blind-safe palette, readable sizes, headless.

Nothing global is set on import: a figure is a `matplotlib.figure.Figure` made by `subplots` or
`figure` (no pyplot, so no backend is chosen and no figure is kept anywhere), and every function
that draws one is decorated with `styled`, which applies matplotlib's defaults plus the house
rcParams for that call only. A notebook or script that imports firstnet keeps its own matplotlib
settings, and firstnet's figures look the same whatever those are.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from firstnet.atomic import atomic_write

# Okabe & Ito (2008), the colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
DPI = 120
STYLE = {
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


def styled(draw):
    """Decorator: `draw` runs with the house style (its figures made, drawn and saved in it)."""

    @functools.wraps(draw)
    def in_style(*args, **kwargs):
        # from matplotlib's defaults: a style another library left behind (Optuna's plots set
        # "ggplot" globally) does not leak into firstnet's figures
        with matplotlib.style.context(STYLE, after_reset=True):
            return draw(*args, **kwargs)

    return in_style


def figure(**kwargs) -> Figure:
    """A new Figure (`figsize`, `dpi`, `layout`, ...) on a headless Agg canvas."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """`figure` with a grid of axes: (fig, axes), as pyplot's `subplots` returns them; `figsize`,
    `dpi` and `layout` go to the figure, the rest (`squeeze`, `gridspec_kw`, ...) to the grid."""
    fig = figure(**{key: kwargs.pop(key) for key in ("figsize", "dpi", "layout") if key in kwargs})
    return fig, fig.subplots(nrows, ncols, **kwargs)


@styled
def save(fig: Figure, path: Path | None, **savefig_kwargs):
    """Write `fig` to `path` atomically, in the house style; the path. With `path` None the figure
    itself: what the Python API's figure functions return (`firstnet.api`).

    `savefig_kwargs` go to `fig.savefig`, e.g. bbox_inches=fig.bbox_inches for an image of exactly
    figsize * DPI pixels.
    """
    if path is None:
        return fig
    return atomic_write(path, lambda tmp: fig.savefig(tmp, **savefig_kwargs))


def handed_out(fig: Figure, path: str | Path | None) -> Figure:
    """A figure as the Python API returns it: also written to `path` when one is given. In a
    Jupyter kernel it then displays as a PNG (these figures are not pyplot's, so nothing else shows
    them, and each shows once): IPython is told so here, when a figure is handed out, never at
    import."""
    if path is not None:
        save(fig, Path(path))
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return fig
    shell = get_ipython()
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", {})
    known = ("matplotlib.figure", "Figure")  # IPython keeps some printers by name until used
    chosen = [
        f for f in formatters.values() if Figure in f.type_printers or known in f.deferred_printers
    ]
    if formatters and not chosen:
        select_figure_formats(shell, {"png"})  # only where the user chose no format of their own
    return fig


def accuracy_axis(start: float) -> str:
    """The label of a test-accuracy axis that starts at `start` %, saying so when that is not 0
    (a bar's length then is not its value)."""
    if start <= 0:
        return "test accuracy (%)"
    return f"test accuracy (%); the axis starts at {start:g}%, not at 0"
