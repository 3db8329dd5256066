"""The foundation's figures: training curves, sample digits, confusion matrix, worst errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstnet.viz.style import PALETTE, plt, save


def plot_curves(history: list[dict], path: Path, title: str = "Training progress") -> Path:
    """Loss and accuracy per epoch, train and test, side by side."""
    epochs = [r["epoch"] for r in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for split, color in (("train", PALETTE[0]), ("test", PALETTE[1])):
        loss_ax.plot(epochs, [r[f"{split}_loss"] for r in history], "o-", color=color, label=split)
        acc_ax.plot(epochs, [100 * r[f"{split}_acc"] for r in history], "o-", color=color, label=split)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    if history:
        best = max(history, key=lambda r: r["test_acc"])
        acc_ax.annotate(f"test {100 * best['test_acc']:.2f}%", (best["epoch"], 100 * best["test_acc"]),
                        textcoords="offset points", xytext=(-60, -20), arrowprops={"arrowstyle": "->"})
    for ax in (loss_ax, acc_ax):
        ax.legend()
    fig.suptitle(title)
    return save(fig, path)


def plot_digit_grid(images: np.ndarray, labels: np.ndarray, path: Path, columns: int = 10,
                    title: str = "MNIST samples") -> Path:
    """A grid of digits (N, 28, 28) titled with their labels."""
    return image_grid(images, [str(label) for label in labels], path, columns, title)


def image_grid(images: np.ndarray, titles: list[str], path: Path, columns: int, title: str,
               title_color: str = "black") -> Path:
    """Digits (N, 28, 28) uint8 in a grid, dark ink on white, each with a small title."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(text, fontsize=8, color=title_color)
    fig.suptitle(title)
    return save(fig, path)


def plot_confusion(matrix: np.ndarray, path: Path, title: str = "Confusion matrix") -> Path:
    """Counts with true class on rows and predicted class on columns; log colour scale shows rare errors."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    shown = ax.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            color = "white" if np.log1p(count) > 0.6 * np.log1p(matrix.max()) else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    classes = range(matrix.shape[0])
    ax.set(xticks=classes, yticks=classes, xlabel="predicted class", ylabel="true class", title=title)
    ax.grid(False)
    fig.colorbar(shown, ax=ax, label="log(1 + count)")
    return save(fig, path)


def plot_errors(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, confidence: np.ndarray,
                path: Path, columns: int = 8) -> Path:
    """The most confident mistakes: each digit titled 'true -> predicted (confidence)'."""
    titles = [f"{t}→{p} ({100 * c:.0f}%)" for t, p, c in zip(labels, predictions, confidence, strict=True)]
    return image_grid(images, titles, path, columns, "Most confident errors (true → predicted)", PALETTE[3])
