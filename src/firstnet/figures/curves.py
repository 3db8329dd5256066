"""Training curves: loss and accuracy per epoch, train and test (`firstnet plot curves`, every
run)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from firstnet.figures.style import PALETTE, save, styled, subplots


@styled
def plot_curves(history: list[dict], path: Path | None, title: str = "Training progress"):
    """Loss and accuracy per epoch, train and test, side by side; the best test epoch starred."""
    epochs = [r["epoch"] for r in history]
    fig, (loss_ax, acc_ax) = subplots(1, 2, figsize=(10, 4))
    for split, color in (("train", PALETTE[0]), ("test", PALETTE[1])):
        loss_ax.plot(epochs, [r[f"{split}_loss"] for r in history], "o-", color=color, label=split)
        acc_ax.plot(
            epochs, [100 * r[f"{split}_acc"] for r in history], "o-", color=color, label=split
        )
    losses = [r[f"{split}_loss"] for r in history for split in ("train", "test")]
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    if losses and min(losses) > 0 and max(losses) / min(losses) > 3:  # several factors: log scale
        loss_ax.set_yscale("log")
        loss_ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        loss_ax.yaxis.set_minor_formatter(NullFormatter())
    accuracy = "Accuracy"
    if history:
        best = max(history, key=lambda r: r["test_acc"])
        acc_ax.plot(best["epoch"], 100 * best["test_acc"], "*", color=PALETTE[1], markersize=14,
                    label="best test epoch")  # fmt: skip
        accuracy += f" (best test {100 * best['test_acc']:.2f}% after epoch {best['epoch']})"
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title=accuracy)
    for ax in (loss_ax, acc_ax):
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs
        ax.set_xlim(0.5, max(epochs, default=1) + 0.5)
    fig.suptitle(title)
    return save(fig, path)
