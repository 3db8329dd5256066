"""Figures of the universal experiment: error against width, the fitted piecewise-linear curves, and the
memorisation curves. They take numbers, never train, and use the project's style."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from firstnet.experiments import fit1d
from firstnet.viz.style import PALETTE, plt, save

SHOWN_WIDTHS = (2, 8, 32, 256)  # fitted curves drawn per target (those present in the budget)


def errors(errors_by_target: dict, widths: tuple[int, ...], path: Path) -> Path:
    """RMSE against width, log-log, one line per target; the noisy target also on its own training points."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for (name, error), color in zip(errors_by_target.items(), PALETTE, strict=False):
        ax.plot(widths, np.maximum(error["rmse"], 1e-6), "o-", color=color, label=f"{name}: {fit1d.TARGETS[name]}"
                if name != "noisy sine" else "noisy sine: error against the clean sine")
    noisy = errors_by_target.get("noisy sine")
    if noisy:
        ax.plot(widths, noisy["train_rmse"], "o--", color=PALETTE[3], label="noisy sine: error on its noisy points")
    ax.set(xscale="log", yscale="log", xlabel="hidden units (width)", ylabel="RMSE",
           title="One hidden layer of ReLUs: error against width")
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.legend(fontsize=8)
    return save(fig, path)


def fits(first_seed: dict, widths: tuple[int, ...], path: Path) -> Path:
    """Per target: the function (and its training points when noisy) with the networks' fitted curves."""
    shown = [w for w in SHOWN_WIDTHS if w in widths] or list(widths[-1:])
    plot_x = torch.linspace(-1, 1, fit1d.PLOT_POINTS)
    fig, axes = plt.subplots(1, len(first_seed), figsize=(4 * len(first_seed), 3.8), sharex=True, squeeze=False)
    for ax, (name, run) in zip(axes[0], first_seed.items(), strict=True):
        ax.plot(plot_x, fit1d.target(name, plot_x), color="0.6", lw=4, alpha=0.5, label="target")
        if name == "noisy sine":
            ax.plot(run["x"], run["y"], ".", color="0.3", ms=5, label="noisy training points")
        for width, color in zip(shown, PALETTE, strict=False):
            fit = next(f for f in run["fits"] if f["width"] == width)
            ax.plot(plot_x, fit["curve"], color=color, lw=1.4, label=f"width {width} (RMSE {fit['rmse']:.3f})")
        ax.set(title=name, xlabel="x")
        ax.legend(fontsize=7, loc="lower right" if name == "abs" else "best")
    axes[0, 0].set_ylabel("f(x)")
    fig.suptitle("Fitted curves are piecewise linear: one kink per hidden unit", y=1.03)
    return save(fig, path)


def memorisation(histories: dict[str, list[dict]], path: Path) -> Path:
    """Running train accuracy and test accuracy per epoch, with true and with shuffled labels."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for (labels, history), color in zip(histories.items(), (PALETTE[3], PALETTE[0]), strict=False):
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [100 * r["train_acc"] for r in history], "o-", color=color, ms=3,
                label=f"{labels} labels: train (running mean of the epoch)")
        ax.plot(epochs, [100 * r["test_acc"] for r in history], "s--", color=color, ms=3,
                label=f"{labels} labels: test")
    ax.axhline(10, color="0.5", lw=1, ls=":", label="chance (10%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 101),
           title="Memorising shuffled labels: train accuracy climbs, test stays at chance")
    ax.legend(fontsize=8)
    return save(fig, path)
