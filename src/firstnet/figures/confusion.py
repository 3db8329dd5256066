"""How a trained run errs on the test set: the confusion matrix and its most confident mistakes
(`firstnet eval`, `firstnet plot confusion`). Numbers from `Run.evaluate`
(`firstnet.evaluate.test_report`), then drawings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstnet.data import LabelledData
from firstnet.figures.digits import image_grid
from firstnet.figures.style import PALETTE, save, styled, subplots


def confusion_figures(report: dict, model: str, data: LabelledData, out_dir: Path) -> list[str]:
    """confusion.png and errors.png of a run's test report (`Run.evaluate`) drawn into `out_dir`;
    their paths."""
    worst = np.array(report["worst"], dtype=np.int64)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    title = f"{model}: confusion on the test set"
    confusion = plot_confusion(report["confusion_matrix"], Path(out_dir) / "confusion.png", title)
    errors = plot_errors(
        data.test_images[worst],
        data.test_labels[worst],
        np.array(report["worst_predictions"]),
        np.array(report["worst_confidence"]),
        Path(out_dir) / "errors.png",
    )
    return [str(confusion), str(errors)]


@styled
def plot_confusion(matrix: np.ndarray, path: Path | None, title: str = "Confusion matrix"):
    """Counts with true class on rows and predicted class on columns; log colour scale shows rare
    errors."""
    matrix = np.asarray(matrix)
    fig, ax = subplots(figsize=(6.5, 5.5))
    shown = ax.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            color = "white" if np.log1p(count) > 0.6 * np.log1p(matrix.max()) else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    classes = range(matrix.shape[0])
    ax.set(
        xticks=classes, yticks=classes, xlabel="predicted class", ylabel="true class", title=title
    )
    ax.grid(False)
    fig.colorbar(shown, ax=ax, label="log(1 + count)")
    return save(fig, path)


def plot_errors(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    confidence: np.ndarray,
    path: Path | None,
    columns: int = 8,
):
    """The most confident mistakes: each digit titled 'true -> predicted (confidence)'."""
    shown = zip(labels, predictions, confidence, strict=True)
    titles = [f"{t}→{p} ({100 * c:.0f}%)" for t, p, c in shown]
    return image_grid(
        images, titles, path, columns, "Most confident errors (true → predicted)", PALETTE[3]
    )
