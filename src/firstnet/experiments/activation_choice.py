"""Why ReLU, and what else? The same MLP trained with every activation of the registry, then a
10-layer MLP with a few of them, with PyTorch's default initialisation and with Kaiming's, to make
vanishing gradients visible.

Per cell (activation, depth, init, seed): test accuracy, seconds per epoch, the gradient norm of
every weight matrix at initialisation and after the first epoch (on a fixed batch), and the dead and
saturated units of the trained network (see `measure.unit_statistics`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from firstnet.activations import ACTIVATIONS, LINEAR, RELU_FAMILY, SIGMOID_LIKE, SMOOTH_MODERN
from firstnet.config import EXPERIMENT_MLP, TrainConfig
from firstnet.experiments import cells
from firstnet.experiments.measure import fixed_batch, gradient_norms, unit_statistics
from firstnet.experiments.results import markdown_table, pct, scientific, seed_mean, write_results
from firstnet.figures.style import PALETTE, accuracy_axis, save, styled, subplots
from firstnet.stats import diverged_count, mean_std, percent, percent_mean_std
from firstnet.trainer import Trainer

TITLE = "Activations: the same MLP with every activation of the registry, then 10 layers deep"

FAMILY_COLORS = {
    SIGMOID_LIKE: PALETTE[1],
    RELU_FAMILY: PALETTE[0],
    SMOOTH_MODERN: PALETTE[2],
    LINEAR: PALETTE[7],
}


@dataclass(frozen=True)
class Budget:
    hidden: int  # units per hidden layer of the 2-hidden-layer MLP
    epochs: int
    train_limit: int | None  # training images (None: all 60,000)
    deep_hidden: int = 128  # units per hidden layer of the deep MLP
    deep_depth: int = 10
    deep_activations: tuple[str, ...] = ("sigmoid", "tanh", "relu", "gelu", "silu")
    # of the deep MLP; the shallow one uses the project's kaiming
    inits: tuple[str, ...] = (
        "default",
        "kaiming",
    )
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    # training images of the fixed batch for gradient norms and unit statistics
    measure_batch: int = 1000
    # the MLP recipe's 0.2 diverges with the identity, PReLU and SELU (and deep GELU, SiLU)
    lr: float = 0.05


QUICK = Budget(hidden=128, epochs=2, train_limit=5000)
DEFAULT = Budget(hidden=128, epochs=2, train_limit=None)


def plan(budget: Budget, seeds: int) -> list[cells.Cell]:
    """Every (activation, seed) at depth 2, then every (deep activation, init, seed) at the deep
    depth."""
    plan = [(name, 2, budget.hidden, "kaiming") for name in budget.activations]
    plan += [
        (name, budget.deep_depth, budget.deep_hidden, init)
        for init in budget.inits
        for name in budget.deep_activations
    ]
    result = []
    shared = {"model": "mlp", "epochs": budget.epochs, "train_limit": budget.train_limit}
    shared |= EXPERIMENT_MLP | {"lr": budget.lr}
    for name, depth, hidden, init in plan:
        for seed in range(seeds):
            cfg = TrainConfig(
                hidden=hidden, depth=depth, activation=name, init=init, seed=seed, **shared
            )
            key, label = (
                f"{name}-depth{depth}-{init}-seed{seed}",
                f"{name}, depth {depth}, {init} init",
            )
            cell = cells.training_cell(
                key, cfg, f"{label}, seed {seed}", measure_batch=budget.measure_batch
            )
            result.append(cell)
    return result


def train_and_measure(cell: cells.Cell, ctx: cells.Context) -> dict:
    """Train one cell; gradient norms at init and after epoch 1, unit statistics at the end."""
    trainer = cells.cell_trainer(cell, ctx.data)
    images, labels = fixed_batch(ctx.data, cell.config["measure_batch"])
    measured = {"grad_init": gradient_norms(trainer.model, images, labels)}

    def after_epoch(trainer: Trainer, record: dict) -> None:
        if record["epoch"] == 1:
            measured["grad_epoch1"] = gradient_norms(trainer.model, images, labels)

    facts = cells.train_to_result(trainer, ctx, after_epoch)
    if facts["diverged"]:  # the weights are no longer finite: nothing left to measure
        return facts | measured
    return facts | measured | unit_statistics(trainer.model, images)


def run(ctx: cells.Context, budget: Budget) -> dict:
    """Train every cell (or load it), write results.md, results.json and the figures; the
    results."""
    results = cells.run_cells(
        ctx, plan(budget, ctx.seeds), lambda cell: train_and_measure(cell, ctx)
    )
    shallow = summarize(results, budget.activations, 2, "kaiming", ctx.seeds)
    deep = [
        summarize(results, budget.deep_activations, budget.deep_depth, init, ctx.seeds)
        for init in budget.inits
    ]
    deep = [row for rows in deep for row in rows]
    figures = [
        plot_activation_accuracy(shallow, ctx.out_dir / "activations-accuracy.png"),
        plot_depth_gradients(
            deep, budget.deep_depth, ctx.out_dir / "activations-deep-gradients.png"
        ),
    ]
    size = f"784-{budget.hidden}-{budget.hidden}-10"
    sections = [
        f"## Two hidden layers ({size}), Kaiming initialisation\n",
        shallow_table(shallow),
        NOTE,
        f"## {budget.deep_depth} hidden layers of {budget.deep_hidden} units, default vs Kaiming "
        "initialisation\n",
        deep_table(deep, budget.deep_depth),
    ]
    payload = {"shallow": shallow, "deep": deep, "cells": results}
    shown = dataclasses.asdict(budget)
    if budget.activations == tuple(ACTIVATIONS):
        shown["activations"] = f"all {len(ACTIVATIONS)} of the registry"
    return write_results(ctx, TITLE, shown, sections, payload, figures)


NOTE = (
    "s / epoch: wall time of training plus the test evaluation, mean over seeds. ‖∇W1‖: "
    "gradient norm of the "
    "first weight matrix on a fixed batch of training images. Dead: units with |f'(z)| < 0.01 on "
    "every image of "
    "that batch; |f'| < 0.01: share of (image, unit) pairs where the gradient is all but blocked "
    "(a ReLU's off side, where f' = 0, and a sigmoid's saturated tails alike) -- both of the "
    "trained network.\n"
)


def summarize(
    results: dict, names: tuple[str, ...], depth: int, init: str, seeds: int
) -> list[dict]:
    """One row per activation: accuracies over seeds, and the means over seeds of the
    measurements."""
    rows = []
    for name in names:
        runs = [results[f"{name}-depth{depth}-{init}-seed{seed}"] for seed in range(seeds)]
        rows.append(
            {
                "activation": name,
                "family": ACTIVATIONS[name].family,
                "depth": depth,
                "init": init,
                "test_acc": [r["test_acc"] for r in runs],
                "seconds_per_epoch": mean_of(runs, "seconds_per_epoch"),
                "grad_init": layer_means(runs, "grad_init"),
                "grad_epoch1": layer_means(runs, "grad_epoch1"),
                "dead": mean_of(runs, "dead"),
                "saturated": mean_of(runs, "saturated"),
                "diverged": sum(bool(r["diverged"]) for r in runs),
            }
        )
    return rows


def mean_of(runs: list[dict], key: str) -> float:
    """Mean over the runs that have `key` (a diverged run has no unit statistics)."""
    return mean_std([r[key] for r in runs if key in r])[0]


def layer_means(runs: list[dict], key: str) -> list[float]:
    """Per-layer mean of a per-layer list over the runs that have it."""
    lists = [r[key] for r in runs if r.get(key)]
    return [mean_std(layer)[0] for layer in zip(*lists, strict=True)]


def first(norms: list[float]) -> float:
    return norms[0] if norms else float("nan")


def shallow_table(rows: list[dict]) -> str:
    headers = [
        "activation",
        "family",
        "test accuracy",
        "s / epoch",
        "‖∇W1‖ at init",
        "‖∇W1‖ after epoch 1",
        "dead units",
        "|f'| < 0.01",
    ]
    body = [
        [
            row["activation"],
            row["family"],
            percent(row["test_acc"]),
            f"{row['seconds_per_epoch']:.2f}",
            scientific(first(row["grad_init"])),
            scientific(first(row["grad_epoch1"])),
            f"{100 * row['dead']:.1f}%",
            f"{100 * row['saturated']:.1f}%",
        ]
        for row in rows
    ]
    return markdown_table(headers, body, right=range(2, 8))


def deep_table(rows: list[dict], depth: int) -> str:
    headers = [
        "activation",
        "init",
        "test accuracy",
        "‖∇W1‖ at init",
        f"‖∇W{depth}‖ at init",
        "‖∇W1‖ / ‖∇W_out‖ at init",
        "‖∇W1‖ after epoch 1",
        "dead units",
        "|f'| < 0.01",
    ]
    body = []
    for row in rows:
        grads = row["grad_init"]
        ratio = grads[0] / grads[-1] if grads and grads[-1] else float("nan")
        body.append(
            [
                row["activation"],
                row["init"],
                percent(row["test_acc"]),
                scientific(first(grads)),
                scientific(grads[depth - 1] if grads else float("nan")),
                scientific(ratio),
                scientific(first(row["grad_epoch1"])),
                f"{100 * row['dead']:.1f}%",
                f"{100 * row['saturated']:.1f}%",
            ]
        )
    return markdown_table(headers, body, right=range(2, 9))


@styled
def plot_activation_accuracy(rows: list[dict], path: Path) -> Path:
    """Test accuracy per activation (bars coloured by family, ± std over seeds) beside dead and
    saturated units."""
    names = [row["activation"] for row in rows]
    y = np.arange(len(rows))[::-1]
    stats = [percent_mean_std(row["test_acc"]) for row in rows]
    means, stds = np.array([s[0] for s in stats]), np.array([s[1] for s in stats])
    colors = [FAMILY_COLORS[row["family"]] for row in rows]
    fig, (acc_ax, unit_ax) = subplots(
        1,
        2,
        figsize=(11, 0.38 * len(rows) + 1.6),
        sharey=True,
        gridspec_kw={"width_ratios": [3, 2]},
    )
    acc_ax.barh(y, means, xerr=stds, color=colors, capsize=2)
    low = np.nanmin(means - stds) if np.isfinite(means).any() else 0
    start = max(0.0, math.floor(low) - 1)
    acc_ax.set_xlim(start, 100)
    for yi, mean, std, row in zip(y, means, stds, rows, strict=True):
        failed = diverged_count(row["test_acc"])  # the table's rule: left out of the mean, counted
        label = f" {mean:.2f}" + (
            f" ({failed} of {len(row['test_acc'])} diverged)" if failed else ""
        )
        acc_ax.text(
            mean + std if math.isfinite(mean) else acc_ax.get_xlim()[0],
            yi,
            label if math.isfinite(mean) else " diverged",
            va="center",
            fontsize=8,
        )
    acc_ax.set(
        yticks=y,
        yticklabels=names,
        xlabel=accuracy_axis(start),
        title="Accuracy (mean ± std over seeds)",
    )
    acc_ax.legend(
        handles=[Rectangle((0, 0), 1, 1, color=c) for c in FAMILY_COLORS.values()],
        labels=list(FAMILY_COLORS),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=4,
        fontsize=8,
    )
    bars = {  # key: (offset, colour, legend)
        "saturated": (
            0.2,
            PALETTE[5],
            "|f'(z)| < 0.01: a ReLU's off side,\na sigmoid's tails (unit × example)",
        ),
        "dead": (-0.2, PALETTE[3], "dead: |f'(z)| < 0.01 on every\nexample (share of units)"),
    }
    for key, (offset, colour, label) in bars.items():
        share = [100 * row[key] for row in rows]
        unit_ax.barh(y + offset, share, height=0.4, color=colour, label=label)
    for yi, row in zip(y, rows, strict=True):
        if row["dead"] > 0:
            unit_ax.text(
                100 * row["dead"], yi - 0.2, f" {100 * row['dead']:.1f}", va="center", fontsize=7
            )
    unit_ax.set(
        xlabel="% of the trained network's hidden units",
        xlim=(0, 100),
        title="Dead units, and gradients all but blocked",
    )
    unit_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
    fig.suptitle("Two hidden layers, every activation of the registry")
    return save(fig, path)


@styled
def plot_depth_gradients(rows: list[dict], depth: int, path: Path) -> Path:
    """Gradient norm of each weight matrix, input layer to output layer, at initialisation and after
    epoch 1; one column per initialisation, one line per activation (log scale: vanishing gradients
    are straight lines)."""
    inits = list(dict.fromkeys(row["init"] for row in rows))
    names = list(dict.fromkeys(row["activation"] for row in rows))
    colors = dict(zip(names, PALETTE, strict=False))
    fig, axes = subplots(
        2, len(inits), figsize=(5.5 * len(inits), 7.5), sharex=True, sharey=True, squeeze=False
    )
    for column, init in enumerate(inits):
        for line, (key, moment) in enumerate(
            (("grad_init", "at initialisation"), ("grad_epoch1", "after epoch 1"))
        ):
            ax = axes[line, column]
            for row in (r for r in rows if r["init"] == init and r[key]):
                layers = np.arange(1, len(row[key]) + 1)
                ax.plot(
                    layers,
                    row[key],
                    "o-",
                    color=colors[row["activation"]],
                    label=row["activation"],
                    ms=4,
                )
            ax.set(yscale="log", title=f"{init} init, {moment}")
            ax.set_xticks(range(1, depth + 2), [str(i) for i in range(1, depth + 1)] + ["out"])
    for ax in axes[-1]:
        ax.set_xlabel("weight matrix (1 = input layer)")
    for ax in axes[:, 0]:
        ax.set_ylabel("‖∂loss/∂W‖ on a fixed batch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{depth} hidden layers: gradient norm per layer")
    return save(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The report's sentence for these results, and its number."""
    best = max(results["shallow"], key=lambda row: seed_mean(row["test_acc"]))
    value = seed_mean(best["test_acc"])
    return f"the best at depth 2: {best['activation']}, {pct(value)} test", value
