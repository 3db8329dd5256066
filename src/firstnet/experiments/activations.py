"""Why ReLU, and what else? The same MLP trained with every activation of the registry, then a 10-layer MLP
with a few of them, with PyTorch's default initialisation and with Kaiming's, to make vanishing gradients
visible.

Per cell (activation, depth, init, seed): test accuracy, seconds per epoch, the gradient norm of every weight
matrix at initialisation and after the first epoch (on a fixed batch), and the dead and saturated units of the
trained network (see `measure.unit_statistics`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from firstnet.activations import ACTIVATIONS
from firstnet.config import TrainConfig
from firstnet.experiments import common, plots
from firstnet.experiments.common import Cell, Context
from firstnet.experiments.measure import fixed_batch, gradient_norms, unit_statistics
from firstnet.train import Trainer

NAME = "activations"
TITLE = "Activations: the same MLP with every activation of the registry, then 10 layers deep"


@dataclass(frozen=True)
class Budget:
    hidden: int  # units per hidden layer of the 2-hidden-layer MLP
    epochs: int
    train_limit: int | None  # training images (None: all 60,000)
    deep_hidden: int = 128  # units per hidden layer of the deep MLP
    deep_depth: int = 10
    deep_activations: tuple[str, ...] = ("sigmoid", "tanh", "relu", "gelu", "silu")
    inits: tuple[str, ...] = ("default", "kaiming")  # of the deep MLP; the shallow one uses the project's kaiming
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    measure_batch: int = 1000  # training images of the fixed batch for gradient norms and unit statistics
    lr: float = 0.05  # the MLP recipe's 0.2 diverges with the identity, PReLU and SELU (and deep GELU, SiLU)


QUICK = Budget(hidden=128, epochs=2, train_limit=5000)
DEFAULT = Budget(hidden=128, epochs=2, train_limit=None)


def cells(budget: Budget, seeds: int, device: str) -> list[Cell]:
    """Every (activation, seed) at depth 2, then every (deep activation, init, seed) at the deep depth."""
    plan = [(name, 2, budget.hidden, "kaiming") for name in budget.activations]
    plan += [(name, budget.deep_depth, budget.deep_hidden, init)
             for init in budget.inits for name in budget.deep_activations]
    result = []
    for name, depth, hidden, init in plan:
        for seed in range(seeds):
            cfg = TrainConfig(model="mlp", hidden=hidden, depth=depth, activation=name, init=init, seed=seed,
                              epochs=budget.epochs, lr=budget.lr, train_limit=budget.train_limit, device=device)
            result.append(Cell(f"{name}-depth{depth}-{init}-seed{seed}",
                               {"train": cfg.to_dict(), "measure_batch": budget.measure_batch},
                               f"{name}, depth {depth}, {init} init, seed {seed}"))
    return result


def train_and_measure(cell: Cell, ctx: Context) -> dict:
    """Train one cell; gradient norms at init and after epoch 1, unit statistics at the end."""
    trainer = Trainer(TrainConfig.from_dict(cell.config["train"]), ctx.data)
    images, labels = fixed_batch(ctx.data, cell.config["measure_batch"])
    measured = {"grad_init": gradient_norms(trainer.model, images, labels)}

    def after_epoch(trainer: Trainer, record: dict) -> None:
        if record["epoch"] == 1:
            measured["grad_epoch1"] = gradient_norms(trainer.model, images, labels)

    facts = common.train(trainer, ctx, after_epoch)
    if facts["diverged"]:  # the weights are no longer finite: nothing left to measure
        return facts | measured
    return facts | measured | unit_statistics(trainer.model, images)


def run(ctx: Context, budget: Budget) -> dict:
    """Train every cell (or load it), write results.md, results.json and the figures; the results."""
    results = common.run_cells(ctx, cells(budget, ctx.seeds, ctx.device), lambda cell: train_and_measure(cell, ctx))
    shallow = summarize(results, budget.activations, 2, "kaiming", ctx.seeds)
    deep = [summarize(results, budget.deep_activations, budget.deep_depth, init, ctx.seeds)
            for init in budget.inits]
    deep = [row for rows in deep for row in rows]
    figures = [plots.activation_accuracy(shallow, ctx.out_dir / "activations-accuracy.png"),
               plots.depth_gradients(deep, budget.deep_depth, ctx.out_dir / "activations-deep-gradients.png")]
    size = f"784-{budget.hidden}-{budget.hidden}-10"
    sections = [f"## Two hidden layers ({size}), Kaiming initialisation\n", shallow_table(shallow), NOTE,
                f"## {budget.deep_depth} hidden layers of {budget.deep_hidden} units, default vs Kaiming "
                "initialisation\n", deep_table(deep, budget.deep_depth)]
    payload = {"shallow": shallow, "deep": deep, "cells": results}
    shown = dataclasses.asdict(budget)
    if budget.activations == tuple(ACTIVATIONS):
        shown["activations"] = f"all {len(ACTIVATIONS)} of the registry"
    return common.write_results(ctx, TITLE, shown, sections, payload, figures)


NOTE = ("s / epoch: wall time of training plus the test evaluation, mean over seeds. ‖∇W1‖: gradient norm of the "
        "first weight matrix on a fixed batch of training images. Dead: units with |f'(z)| < 0.01 on every image of "
        "that batch; saturated: share of (image, unit) pairs with |f'(z)| < 0.01 -- both of the trained network.\n")


def summarize(results: dict, names: tuple[str, ...], depth: int, init: str, seeds: int) -> list[dict]:
    """One row per activation: accuracies over seeds, and the means over seeds of the measurements."""
    rows = []
    for name in names:
        runs = [results[f"{name}-depth{depth}-{init}-seed{seed}"] for seed in range(seeds)]
        rows.append({"activation": name, "family": ACTIVATIONS[name].family, "depth": depth, "init": init,
                     "test_acc": [r["test_acc"] for r in runs], "seconds_per_epoch": mean_of(runs, "seconds_per_epoch"),
                     "grad_init": layer_means(runs, "grad_init"), "grad_epoch1": layer_means(runs, "grad_epoch1"),
                     "dead": mean_of(runs, "dead"), "saturated": mean_of(runs, "saturated"),
                     "diverged": sum(bool(r["diverged"]) for r in runs)})
    return rows


def mean_of(runs: list[dict], key: str) -> float:
    """Mean over the runs that have `key` (a diverged run has no unit statistics)."""
    return common.mean_std([r[key] for r in runs if key in r])[0]


def layer_means(runs: list[dict], key: str) -> list[float]:
    """Per-layer mean of a per-layer list over the runs that have it."""
    lists = [r[key] for r in runs if r.get(key)]
    return [common.mean_std(layer)[0] for layer in zip(*lists, strict=True)]


def first(norms: list[float]) -> float:
    return norms[0] if norms else float("nan")


def shallow_table(rows: list[dict]) -> str:
    headers = ["activation", "family", "test accuracy", "s / epoch", "‖∇W1‖ at init", "‖∇W1‖ after epoch 1",
               "dead units", "saturated"]
    body = [[row["activation"], row["family"], common.percent(row["test_acc"]), f"{row['seconds_per_epoch']:.2f}",
             common.scientific(first(row["grad_init"])), common.scientific(first(row["grad_epoch1"])),
             f"{100 * row['dead']:.1f}%", f"{100 * row['saturated']:.1f}%"] for row in rows]
    return common.markdown_table(headers, body, right=range(2, 8))


def deep_table(rows: list[dict], depth: int) -> str:
    headers = ["activation", "init", "test accuracy", "‖∇W1‖ at init", f"‖∇W{depth}‖ at init",
               "‖∇W1‖ / ‖∇W_out‖ at init", "‖∇W1‖ after epoch 1", "dead units", "saturated"]
    body = []
    for row in rows:
        grads = row["grad_init"]
        ratio = grads[0] / grads[-1] if grads and grads[-1] else float("nan")
        body.append([row["activation"], row["init"], common.percent(row["test_acc"]),
                     common.scientific(first(grads)), common.scientific(grads[depth - 1] if grads else float("nan")),
                     common.scientific(ratio), common.scientific(first(row["grad_epoch1"])),
                     f"{100 * row['dead']:.1f}%", f"{100 * row['saturated']:.1f}%"])
    return common.markdown_table(headers, body, right=range(2, 9))
