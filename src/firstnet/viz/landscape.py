"""The lecture's gradient intuition: the loss surface in 3-D, and the gradient field on its contour plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstnet.viz.style import PALETTE, plt, save

PATH_COLOURS = {"too small": PALETTE[5], "good": PALETTE[2], "too large": PALETTE[3]}
ARROW_STRIDE = 5  # one arrow every 5 grid points keeps the field readable
LOSS_CEILING = 3.0  # MNIST slices: far from the minimum the loss explodes and would flatten everything else


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


def plot_mnist_slices(slices: list, path: Path, title: str) -> Path:
    """Top row: each slice's loss surface in 3-D. Bottom row: its contours with the projected trajectory
    (start, path, trained weights at the centre)."""
    fig = plt.figure(figsize=(12, 10))
    for column, piece in enumerate(slices):
        a, b = np.meshgrid(piece.alphas.numpy(), piece.betas.numpy())
        loss, route = np.minimum(piece.loss.numpy(), LOSS_CEILING), piece.path.numpy()
        caption = ("filter-normalised random directions" if piece.name == "random"
                   else "the training path's two principal directions")
        surface = fig.add_subplot(2, len(slices), column + 1, projection="3d")
        surface.plot_surface(a, b, loss, cmap="viridis", alpha=0.85, linewidth=0)
        surface.set(xlabel="a (direction 1)", ylabel="b (direction 2)", zlabel="cross-entropy",
                    title=f"Loss along {caption}")
        contour = fig.add_subplot(2, len(slices), len(slices) + column + 1)
        levels = np.geomspace(loss.min(), loss.max() * 1.0001, 20)  # even steps in log(loss)
        filled = contour.contourf(a, b, loss, levels=levels, cmap="viridis")
        fig.colorbar(filled, ax=contour, label="cross-entropy", format="%.2f", ticks=levels[::3])
        contour.plot(route[:, 0], route[:, 1], ".-", color=PALETTE[3], markersize=4,
                     label=f"training path (the plane holds {100 * piece.captured:.2g}%)")
        contour.plot(*route[0], "s", color=PALETTE[1], markersize=8,
                     label=f"initial weights, projected (their loss: {piece.path_loss[0]:.2f})")
        contour.plot(0, 0, "*", color="white", markeredgecolor="black", markersize=14,
                     label=f"trained weights (loss {piece.path_loss[-1]:.2f})")
        contour.set(xlabel="a", ylabel="b", aspect="equal",
                    title=f"Contours, {'random' if piece.name == 'random' else 'principal'} directions")
        contour.legend(loc="lower left", framealpha=0.9, fontsize=8)
    fig.suptitle(f"{title}\n(loss drawn clipped at {LOSS_CEILING:g}; a uniform guess scores ln 10 = 2.30)")
    return save(fig, path)
