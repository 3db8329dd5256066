"""How a trained run errs on the test set: the confusion matrix and its most confident mistakes
(`firstnet eval`, `firstnet plot confusion`). Numbers from `firstnet.evaluate.test_report`, then
drawings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstnet import runs
from firstnet.data import MNIST
from firstnet.evaluate import test_report
from firstnet.figures.digits import image_grid
from firstnet.figures.style import PALETTE, save, styled, subplots


def confusion_figures(run_dir: Path, data: MNIST, out_dir: Path) -> dict:
    """The test report of a finished run (`test_report`, plus run, model and the figure paths), with
    confusion.png and errors.png drawn into `out_dir`."""
    cfg, model = runs.load_model(run_dir)
    report = test_report(cfg, model, data.test_images, data.test_labels)
    worst = np.array(report["worst"], dtype=np.int64)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{cfg.model}: confusion on the test set"
    confusion = plot_confusion(
        np.array(report["confusion_matrix"]), out_dir / "confusion.png", title
    )
    errors = plot_errors(
        data.test_images[worst],
        data.test_labels[worst],
        np.array(report["worst_predictions"]),
        np.array(report["worst_confidence"]),
        out_dir / "errors.png",
    )
    return {
        "run": str(run_dir),
        "model": cfg.model,
        **report,
        "figures": [str(confusion), str(errors)],
    }


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
