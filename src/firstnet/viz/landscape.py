"""The lecture's gradient intuition: the loss surface in 3-D, and the gradient field on its contour plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstnet.viz.style import PALETTE, plt, save

PATH_COLOURS = {"too small": PALETTE[5], "good": PALETTE[2], "too large": PALETTE[3]}
ARROW_STRIDE = 5  # one arrow every 5 grid points keeps the field readable


def plot_two_weight_landscape(intuition: dict, path: Path) -> Path:
    """Left: the loss surface over (w1, w2) with the descent paths on it. Right: contours, the negative
    gradient as arrows (the direction gradient descent moves), and the same paths."""
    w1, w2, loss = (intuition[k].numpy() for k in ("w1", "w2", "loss"))
    fig = plt.figure(figsize=(13, 5.5))
    surface = fig.add_subplot(1, 2, 1, projection="3d")
    surface.plot_surface(w1, w2, loss, cmap="viridis", alpha=0.75, linewidth=0)
    contour = fig.add_subplot(1, 2, 2)
    levels = np.quantile(loss, np.linspace(0, 1, 25) ** 2)
    filled = contour.contourf(w1, w2, loss, levels=levels, cmap="viridis")
    fig.colorbar(filled, ax=contour, label="cross-entropy loss", format="%.2f")
    arrows = -intuition["gradient"].numpy()[::ARROW_STRIDE, ::ARROW_STRIDE]  # downhill
    contour.quiver(w1[::ARROW_STRIDE, ::ARROW_STRIDE], w2[::ARROW_STRIDE, ::ARROW_STRIDE], arrows[..., 0],
                   arrows[..., 1], color="white", alpha=0.8, angles="xy")
    for name, run in intuition["paths"].items():
        steps, values = run["path"].numpy(), run["loss"].numpy()
        label = f"lr {run['lr']:.2g} ({name}): loss {values[0]:.2f} → {values[-1]:.3f}"
        surface.plot(steps[:, 0], steps[:, 1], values, "o-", color=PATH_COLOURS[name], markersize=2.5, zorder=10)
        contour.plot(steps[:, 0], steps[:, 1], "o-", color=PATH_COLOURS[name], markersize=3, label=label)
    surface.set(xlabel="w1", ylabel="w2", zlabel="loss", title="3-D loss surface")
    contour.set(xlabel="w1", ylabel="w2", xlim=(w1.min(), w1.max()), ylim=(w2.min(), w2.max()),
                title="Gradient field (arrows point downhill) on the contour plot")
    contour.legend(loc="lower left", framealpha=0.9)
    fig.suptitle(f"Logistic regression with two weights on {len(intuition['problem'].labels)} points: "
                 f"gradient descent, {len(steps) - 1} steps")
    return save(fig, path)
