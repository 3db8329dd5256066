"""Grids of digits: MNIST samples, one column per class (`firstnet data`, `firstnet plot digits`),
and the image grid the confusion figure's worst errors use; the pictures of the proof that MNIST is
not linearly separable."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstnet.data import LabelledData
from firstnet.data.datasets import DATASETS
from firstnet.figures.style import save, styled, subplots
from firstnet.separable import averages


def sample_digits(data: LabelledData, path: Path | None, per_class: int = 4):
    """A PNG grid of the first `per_class` training images of each digit: one column per class."""
    labels = data.train_labels
    first = np.stack([np.flatnonzero(labels == c)[:per_class] for c in range(10)], axis=1).ravel()
    names = [data.classes[label] for label in labels[first]]  # digits, or "Ankle boot" and the like
    title = f"{DATASETS[data.dataset].title} samples"
    return image_grid(data.train_images[first], names, path, columns=10, title=title)


def plot_digit_grid(
    images: np.ndarray,
    labels: np.ndarray,
    path: Path | None,
    columns: int = 10,
    title: str = "MNIST samples",
):
    """A grid of digits (N, 28, 28) titled with their labels."""
    return image_grid(images, [str(label) for label in labels], path, columns, title)


@styled
def image_grid(
    images: np.ndarray,
    titles: list[str],
    path: Path | None,
    columns: int,
    title: str,
    title_color: str = "black",
):
    """Digits (N, 28, 28) uint8 in a grid, dark ink on white, each with a small title."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = subplots(rows, columns, figsize=(columns * 1.0, rows * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(text, fontsize=8, color=title_color)
    fig.suptitle(title)
    return save(fig, path)


def separation_proof(data: LabelledData, proof: dict, path: Path | None, shown: int = 8):
    """`firstnet.separable`'s proof as pictures: the `shown` (at least 4) heaviest images of each
    of its two classes with their weights, then the two weighted averages, the same picture."""
    blank = np.zeros_like(data.train_images[0])
    images, titles = [], []
    for indices, weights in zip(proof["indices"], proof["weights"], strict=True):
        heaviest = np.argsort(weights)[::-1][:shown]
        label = data.classes[int(data.train_labels[indices[0]])]
        images += [data.train_images[indices[k]] for k in heaviest]
        images += [blank] * (shown - len(heaviest))  # a row per class
        titles += [f"{label}: {100 * weights[k]:.1f}%" for k in heaviest]
        titles += [""] * (shown - len(heaviest))
    last = [blank] * shown, [""] * shown  # the averages, apart in the last row
    pairs = zip(averages(data.train_images, proof), proof["indices"], proof["classes"], strict=True)
    columns = (shown // 4, shown - 1 - shown // 4)
    for column, (average, indices, name) in zip(columns, pairs, strict=False):
        last[0][column] = np.round(255 * average).astype(np.uint8)
        last[1][column] = f"average of {len(indices)}\nimages of {data.classes[name]}"
    a, b = (data.classes[k] for k in proof["classes"])
    title = f"The same picture averaged from {a}s and from {b}s: no line separates {a} from {b}"
    return image_grid(np.stack(images + last[0]), titles + last[1], path, shown, title)
