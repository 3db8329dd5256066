"""Could you think of features to extract by hand that would improve the linear model's accuracy?

Each feature set of `firstnet.experiments.features` feeds the same linear classifier (a softmax
regression fitted to convergence); the linear model on raw pixels and the 784-256-256-10 MLP, both
trained by the one training loop as `firstnet train` trains them, are the two ends of the
comparison.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from firstnet.config import EXPERIMENT_MLP, TrainConfig
from firstnet.evaluate import evaluate
from firstnet.experiments import cells
from firstnet.experiments import features as fe
from firstnet.experiments.results import pct, seed_mean, table_of, write_results
from firstnet.figures.style import PALETTE, accuracy_axis, save, styled, subplots
from firstnet.models import count_parameters
from firstnet.stats import mean_std, percent, percent_mean_std

TITLE = "Hand-made features: how far can they push a linear classifier?"


@dataclass(frozen=True)
class Budget:
    train_limit: int | None  # training images for every model
    iterations: int  # L-BFGS iterations of each softmax-regression fit
    # of the fits; chosen on held-out training images (see docs/experiments.md), never on the test
    # set
    l2: float
    random_features: int
    pca_components: int
    epochs: int  # of the two networks trained by the training loop


QUICK = Budget(
    train_limit=10_000, iterations=100, l2=1e-2, random_features=1000, pca_components=40, epochs=2
)
DEFAULT = Budget(
    train_limit=None, iterations=100, l2=3e-3, random_features=2000, pca_components=40, epochs=5
)


def feature_sets(budget: Budget) -> dict[str, tuple[str, bool]]:
    """key -> (description, whether it depends on the seed)."""
    k = budget.pca_components
    return {
        "pixels": ("raw pixels", False),
        "pca-quadratic": (f"PCA to {k}, then all {k * (k + 1) // 2} pairwise products", False),
        "random-relu": (f"{budget.random_features} random ReLU features ReLU(Rx + b)", True),
        "hog": ("HOG-like: gradient-orientation histograms", False),
        "pixels+hog": ("raw pixels and HOG-like", False),
    }


NETWORKS = {
    "linear": "linear model, trained by the training loop (firstnet train --model linear)",
    "mlp": "MLP 784-256-256-10, ReLU (firstnet train --model mlp)",
}


def plan(budget: Budget, seeds: int) -> list[cells.Cell]:
    fit = {"train_limit": budget.train_limit, "iterations": budget.iterations, "l2": budget.l2}
    result = []
    for kind, (description, seeded) in feature_sets(budget).items():
        extra = {
            "random-relu": {"count": budget.random_features},
            "pca-quadratic": {"k": budget.pca_components},
        }
        for seed in range(seeds if seeded else 1):
            config = {"features": kind, "seed": seed, **fit, **extra.get(kind, {})}
            result.append(cells.Cell(f"{kind}-seed{seed}", config, f"{description}, seed {seed}"))
    shared = {"epochs": budget.epochs, "train_limit": budget.train_limit}
    for kind, description in NETWORKS.items():
        for seed in range(seeds):
            recipe = EXPERIMENT_MLP if kind == "mlp" else {}
            cfg = TrainConfig(model=kind, seed=seed, **shared, **recipe)
            result.append(
                cells.training_cell(f"{kind}-seed{seed}", cfg, f"{description}, seed {seed}")
            )
    return result


def extractor(config: dict, train_images):
    kind = config["features"]
    if kind == "pca-quadratic":
        return fe.PCA.fit(train_images, config["k"]).quadratic
    if kind == "random-relu":
        return lambda images: fe.random_relu(images, config["count"], config["seed"])
    if kind == "pixels+hog":
        return lambda images: torch.cat([fe.pixels(images), fe.gradient_histograms(images)], 1)
    return {"pixels": fe.pixels, "hog": fe.gradient_histograms}[kind]


def fit_cell(cell: cells.Cell, ctx: cells.Context) -> dict:
    config = cell.config
    if "train" in config:  # a network, through the training loop
        trainer = cells.cell_trainer(cell, ctx.data)
        facts = cells.train_to_result(trainer, ctx)
        # the final model on its training images, not the running mean of the last epoch
        facts["train_acc"] = evaluate(trainer.model, trainer.train_images, trainer.train_labels)[1]
        return facts | {"dimension": 784, "parameters": count_parameters(trainer.model)}
    data = ctx.data.subset(config["train_limit"])
    start = time.perf_counter()
    extract = extractor(config, data.train_images)
    train_features, test_features = extract(data.train_images), extract(data.test_images)
    extract_seconds = time.perf_counter() - start
    model = fe.SoftmaxRegression.fit(
        train_features, data.train_labels, config["l2"], config["iterations"]
    )
    return {
        "dimension": train_features.shape[1],
        "parameters": train_features.shape[1] * 10 + 10,
        "train_acc": model.accuracy(train_features, data.train_labels),
        "test_acc": model.accuracy(test_features, data.test_labels),
        "extract_seconds": extract_seconds,
        "seconds": time.perf_counter() - start,
    }


def run(ctx: cells.Context, budget: Budget) -> dict:
    results = cells.run_cells(ctx, plan(budget, ctx.seeds), lambda cell: fit_cell(cell, ctx))
    described = {kind: (text, seeded) for kind, (text, seeded) in feature_sets(budget).items()}
    described |= {kind: (text, True) for kind, text in NETWORKS.items()}
    rows = []
    for kind, (description, seeded) in described.items():
        seeds = ctx.seeds if seeded else 1
        numbers = {
            key: cells.seed_values(results, kind, seeds, key) for key in ("test_acc", "train_acc")
        }
        seconds = mean_std(cells.seed_values(results, kind, seeds, "seconds"))[0]
        facts = {"kind": kind, "description": description, "network": kind in NETWORKS}
        dimension = results[f"{kind}-seed0"]["dimension"]
        rows.append(facts | {"dimension": dimension} | numbers | {"seconds": seconds})
    rows.sort(key=lambda row: mean_std(row["test_acc"])[0])
    figure = plot_handmade(rows, ctx.out_dir / "handmade-features.png")
    columns = {
        "features → classifier": lambda row: (
            row["description"] + ("" if row["network"] else " → softmax regression")
        ),
        "input dimension": lambda row: row["dimension"],
        "train accuracy": lambda row: percent(row["train_acc"]),
        "test accuracy": lambda row: percent(row["test_acc"]),
        "seconds": lambda row: f"{row['seconds']:.1f}",
    }
    table = table_of(rows, columns, right=(1, 2, 3, 4))
    note = (
        "Seconds: feature extraction (train and test) plus the fit; for the two networks, "
        "training plus per-epoch evaluation. Train accuracy: of the final model on its training "
        "images.\n"
    )
    payload = {"rows": rows, "cells": results}
    return write_results(ctx, TITLE, dataclasses.asdict(budget), [table, note], payload, [figure])


@styled
def plot_handmade(rows: list[dict], path: Path) -> Path:
    """Test accuracy of each feature set's linear classifier, with the two trained networks as
    references."""
    y = np.arange(len(rows))
    stats = [percent_mean_std(row["test_acc"]) for row in rows]
    means = np.array([s[0] for s in stats])
    colors = [PALETTE[7] if row["network"] else PALETTE[0] for row in rows]
    fig, ax = subplots(figsize=(10, 0.5 * len(rows) + 1.4))
    ax.barh(y, means, xerr=[s[1] for s in stats], color=colors, capsize=2)
    for yi, (mean, std), row in zip(y, stats, rows, strict=True):
        ax.text(mean + std, yi, f"  {mean:.2f}%  (D = {row['dimension']})", va="center", fontsize=8)
    labels = [
        row["description"].split(" (firstnet")[0]
        if row["network"]
        else f"{row['description']} → linear"
        for row in rows
    ]
    ax.set(
        yticks=y,
        yticklabels=labels,
        xlim=(start := max(0.0, math.floor(np.nanmin(means)) - 2), 101),
        xlabel=accuracy_axis(start),
        title="A linear classifier on hand-made features (blue) vs trained networks (black)",
    )
    return save(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The report's sentence for these results, and its number."""
    rows = results["rows"]
    hand = max((r for r in rows if not r["network"]), key=lambda r: seed_mean(r["test_acc"]))
    net = max((r for r in rows if r["network"]), key=lambda r: seed_mean(r["test_acc"]))
    value = seed_mean(hand["test_acc"])
    text = (f"the best hand-made features ({hand['kind']}): {pct(value)}; a learned "
            f"network ({net['kind']}): {pct(seed_mean(net['test_acc']))}")  # fmt: skip
    return text, value
