"""Training curves: loss and accuracy per epoch, train and test (`firstnet plot curves`, every
run)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import MaxNLocator

from firstnet.figures.style import PALETTE, save, styled, subplots


@styled
def plot_curves(history: list[dict], path: Path | None, title: str = "Training progress"):
    """Loss and accuracy per epoch, train and test, side by side."""
    epochs = [r["epoch"] for r in history]
    fig, (loss_ax, acc_ax) = subplots(1, 2, figsize=(10, 4))
    for split, color in (("train", PALETTE[0]), ("test", PALETTE[1])):
        loss_ax.plot(epochs, [r[f"{split}_loss"] for r in history], "o-", color=color, label=split)
        acc_ax.plot(
            epochs, [100 * r[f"{split}_acc"] for r in history], "o-", color=color, label=split
        )
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    if history:
        best = max(history, key=lambda r: r["test_acc"])
        acc_ax.annotate(
            f"best test {100 * best['test_acc']:.2f}% (epoch {best['epoch']})",
            (best["epoch"], 100 * best["test_acc"]),
            textcoords="offset points",
            xytext=(-60, -20),
            arrowprops={"arrowstyle": "->"},
        )
    for ax in (loss_ax, acc_ax):
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs
        ax.set_xlim(0.5, max(epochs, default=1) + 0.5)
    fig.suptitle(title)
    return save(fig, path)
