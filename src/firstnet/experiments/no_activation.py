"""Why do we need a ReLU? Without it the MLP is one linear map.

The 784-H-H-10 MLP with the identity as activation computes W3 (W2 (W1 x + b1) + b2) + b3 = A x + c
with A = W3 W2 W1 (10 x 784): a linear model with 34x more parameters. This experiment trains it,
composes its trained weights into that single map, compares the map's outputs with the network's on
the whole test set, and compares its accuracy with the linear model's (and with the same MLP with
ReLU).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from firstnet.config import INPUT_DIM, MNIST_MEAN, MNIST_STD, NO_ACTIVATION_RECIPE, TrainConfig
from firstnet.errors import ConfigError
from firstnet.experiments import cells
from firstnet.experiments.results import (
    markdown_table,
    scientific,
    table_of,
    write_results,
)
from firstnet.figures.style import save, styled, subplots
from firstnet.models import MLP, count_parameters
from firstnet.stats import mean_std, percent

TITLE = "No activation: the identity MLP is one linear map"
MODELS = {
    "linear": "linear model (softmax regression)",
    "identity": "MLP 784-H-H-10, identity activation",
    "relu": "MLP 784-H-H-10, ReLU",
}


@dataclass(frozen=True)
class Budget:
    hidden: int
    epochs: int
    train_limit: int | None


QUICK = Budget(hidden=256, epochs=2, train_limit=10_000)
DEFAULT = Budget(hidden=256, epochs=5, train_limit=None)


def compose(model: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, c) in float64 with model(p) = A p + c for raw pixels p in [0, 1] (784,): the
    normalisation, every hidden layer and the output layer multiplied into one 10 x 784 map. Only
    valid with identity activations."""
    if not all(isinstance(act, torch.nn.Identity) for act in model.acts):
        raise ConfigError("compose needs an MLP whose activations are all the identity")
    weight = torch.eye(INPUT_DIM, dtype=torch.float64) / MNIST_STD  # x = (p - mean) / std
    bias = torch.full((INPUT_DIM,), -MNIST_MEAN / MNIST_STD, dtype=torch.float64)
    for layer in [*model.hidden, model.out]:
        layer_weight, layer_bias = (
            layer.weight.detach().cpu().double(),
            layer.bias.detach().cpu().double(),
        )
        weight, bias = layer_weight @ weight, layer_weight @ bias + layer_bias  # (out, 784), (out,)
    return weight, bias


def composition_check(model: MLP, images: torch.Tensor) -> dict:
    """How far the composed map's outputs are from the network's, on uint8 images (N, 1, 28, 28).

    In float64 the two differ only by rounding (~1e-13); the float32 network differs from the exact
    map by float32 rounding (~1e-5 of logits of size ~10).
    """
    weight, bias = compose(model)
    pixels = images.cpu().flatten(1).double() / 255  # (N, 784)
    composed = pixels @ weight.T + bias  # (N, 10)
    model64 = copy.deepcopy(model).cpu().double()
    with torch.no_grad():
        network64 = model64(pixels)
        network32 = model(pixels.float().to(next(model.parameters()).device)).cpu().double()
    return {
        "max_abs_diff_float64": (composed - network64).abs().max().item(),
        "max_abs_diff_float32": (composed - network32).abs().max().item(),
        "max_abs_logit": composed.abs().max().item(),
        "same_predictions": (composed.argmax(1) == network32.argmax(1)).double().mean().item(),
    }


def plan(budget: Budget, seeds: int) -> list[cells.Cell]:
    result = []
    shared = {"hidden": budget.hidden, "depth": 2, "epochs": budget.epochs, **NO_ACTIVATION_RECIPE}
    shared["train_limit"] = budget.train_limit
    for kind in MODELS:
        model, activation = ("linear", "relu") if kind == "linear" else ("mlp", kind)
        for seed in range(seeds):
            cfg = TrainConfig(model=model, activation=activation, seed=seed, **shared)
            result.append(
                cells.training_cell(f"{kind}-seed{seed}", cfg, f"{MODELS[kind]}, seed {seed}")
            )
    return result


def train_cell(cell: cells.Cell, ctx: cells.Context) -> dict:
    trainer = cells.cell_trainer(cell, ctx.data)
    model = trainer.model
    facts = cells.train_to_result(trainer, ctx) | {"parameters": count_parameters(model)}
    if facts["diverged"]:
        return facts
    if isinstance(model, MLP) and isinstance(model.acts[0], torch.nn.Identity):
        facts |= composition_check(model, trainer.test_images)
        if cell.key.endswith("seed0"):  # the composed templates, for the figure
            facts["templates"] = compose(model)[0].float().tolist()
    elif cell.key == "linear-seed0":  # its own templates, on raw pixels like the composed map
        facts["templates"] = (model.out.weight.detach().cpu().double() / MNIST_STD).float().tolist()
    return facts


def run(ctx: cells.Context, budget: Budget) -> dict:
    results = cells.run_cells(ctx, plan(budget, ctx.seeds), lambda cell: train_cell(cell, ctx))
    size = f"784-{budget.hidden}-{budget.hidden}-10"
    rows = []
    for kind in MODELS:
        numbers = {
            key: cells.seed_values(results, kind, ctx.seeds, key)
            for key in ("test_acc", "train_acc")
        }
        seconds = mean_std(cells.seed_values(results, kind, ctx.seeds, "seconds_per_epoch"))[0]
        described = {"model": kind, "description": MODELS[kind].replace("784-H-H-10", size)}
        parameters = results[f"{kind}-seed0"]["parameters"]
        rows.append(described | numbers | {"parameters": parameters, "seconds_per_epoch": seconds})
    checks = [
        {"seed": seed}
        | {
            key: value
            for key, value in results[f"identity-seed{seed}"].items()
            if key.startswith(("max_abs", "same_"))
        }
        for seed in range(ctx.seeds)
    ]
    gap = 100 * (mean_std(rows[1]["test_acc"])[0] - mean_std(rows[0]["test_acc"])[0])
    figure = plot_templates(
        results["linear-seed0"].get("templates"),
        results["identity-seed0"].get("templates"),
        [percent(row["test_acc"]) for row in rows[:2]],
        ctx.out_dir / "no-activation-templates.png",
    )
    sections = [
        "## Accuracy\n",
        accuracy_table(rows),
        f"Identity MLP minus linear model: {gap:+.2f} points of test accuracy.\n",
        "## W3 W2 W1 is one 10 x 784 map\n",
        composition_table(checks),
    ]
    payload = {
        "rows": rows,
        "composition": checks,
        "identity_minus_linear_points": gap,
        "cells": {
            key: {k: v for k, v in result.items() if k != "templates"}
            for key, result in results.items()
        },
    }
    return write_results(ctx, TITLE, dataclasses.asdict(budget), sections, payload, [figure])


def accuracy_table(rows: list[dict]) -> str:
    columns = {
        "model": lambda row: row["description"],
        "parameters": lambda row: f"{row['parameters']:,}",
        "test accuracy": lambda row: percent(row["test_acc"]),
        "train accuracy (running, last epoch)": lambda row: percent(row["train_acc"]),
        "s / epoch": lambda row: f"{row['seconds_per_epoch']:.2f}",
    }
    return table_of(rows, columns, right=(1, 2, 3, 4))


def composition_table(checks: list[dict]) -> str:
    body = [
        [
            check["seed"],
            scientific(check["max_abs_diff_float64"]),
            scientific(check["max_abs_diff_float32"]),
            f"{check['max_abs_logit']:.1f}",
            f"{100 * check['same_predictions']:.2f}%",
        ]
        for check in checks
        if "max_abs_diff_float64" in check
    ]
    headers = [
        "seed",
        r"max \|A x + c − MLP(x)\|, float64",
        "same, MLP in float32",
        r"largest \|logit\|",
        "same prediction (test set)",
    ]
    return markdown_table(headers, body, right=(0, 1, 2, 3, 4))


@styled
def plot_templates(
    linear: list | None, composed: list | None, accuracies: list[str], path: Path
) -> Path:
    """The 10 rows of the linear model's W and of the identity MLP's W3 W2 W1 as 28 x 28 images (red
    positive, blue negative, each digit on its own symmetric scale)."""
    maps = [
        (f"linear model W ({accuracies[0]})", linear),
        (f"identity MLP, W3 W2 W1 ({accuracies[1]})", composed),
    ]
    maps = [(title, np.asarray(weights)) for title, weights in maps if weights is not None]
    fig, axes = subplots(len(maps), 10, figsize=(12, 1.5 * len(maps) + 0.6), squeeze=False)
    for row, (title, weights) in enumerate(maps):
        for digit, ax in enumerate(axes[row]):
            image = weights[digit].reshape(28, 28)
            scale = np.abs(image).max() or 1.0
            ax.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(str(digit), fontsize=9)
        axes[row, 0].set_ylabel(title.replace(" (", "\n(").replace(", W3", "\nW3"), fontsize=8)
    fig.suptitle("One template per class: what the single linear map looks for (red +, blue −)")
    return save(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The report's sentence for these results, and its number."""
    gap = results["identity_minus_linear_points"]
    return f"without activations the MLP is a linear model: {gap:+.2f} points against it", gap
