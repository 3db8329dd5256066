"""Why do we need a ReLU? Without it the MLP is one linear map.

The 784-H-H-10 MLP with the identity as activation computes W3 (W2 (W1 x + b1) + b2) + b3 = A x + c with
A = W3 W2 W1 (10 x 784): a linear model with 34x more parameters. This experiment trains it, composes its
trained weights into that single map, compares the map's outputs with the network's on the whole test set, and
compares its accuracy with the linear model's (and with the same MLP with ReLU).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch

from firstnet.config import MODEL_DEFAULTS, TrainConfig
from firstnet.constants import INPUT_DIM, MNIST_MEAN, MNIST_STD
from firstnet.errors import ConfigError
from firstnet.experiments import common, plots
from firstnet.experiments.common import Cell, Context
from firstnet.models import MLP
from firstnet.train import Trainer

NAME = "no-activation"
TITLE = "No activation: the identity MLP is one linear map"
MODELS = {"linear": "linear model (softmax regression)", "identity": "MLP 784-H-H-10, identity activation",
          "relu": "MLP 784-H-H-10, ReLU"}


@dataclass(frozen=True)
class Budget:
    hidden: int
    epochs: int
    train_limit: int | None


# One recipe for all three models: the linear model's (SGD with Nesterov momentum, lr 0.05, cosine schedule, no
# weight decay, no label smoothing). The MLP's own recipe (lr 0.2, weight decay, label smoothing) diverges with
# the identity, and its weight decay on three matrices would regularise the identity MLP unlike the linear model.
RECIPE = {key: MODEL_DEFAULTS["linear"][key] for key in ("batch_size", "lr", "schedule", "weight_decay",
                                                         "label_smoothing")}


QUICK = Budget(hidden=256, epochs=2, train_limit=10_000)
DEFAULT = Budget(hidden=256, epochs=5, train_limit=None)


def compose(model: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, c) in float64 with model(p) = A p + c for raw pixels p in [0, 1] (784,): the normalisation, every
    hidden layer and the output layer multiplied into one 10 x 784 map. Only valid with identity activations."""
    if not all(isinstance(act, torch.nn.Identity) for act in model.acts):
        raise ConfigError("compose needs an MLP whose activations are all the identity")
    weight = torch.eye(INPUT_DIM, dtype=torch.float64) / MNIST_STD  # x = (p - mean) / std
    bias = torch.full((INPUT_DIM,), -MNIST_MEAN / MNIST_STD, dtype=torch.float64)
    for layer in [*model.hidden, model.out]:
        layer_weight, layer_bias = layer.weight.detach().cpu().double(), layer.bias.detach().cpu().double()
        weight, bias = layer_weight @ weight, layer_weight @ bias + layer_bias  # (out, 784), (out,)
    return weight, bias


def composition_check(model: MLP, images: torch.Tensor) -> dict:
    """How far the composed map's outputs are from the network's, on uint8 images (N, 1, 28, 28).

    In float64 the two differ only by rounding (~1e-13); the float32 network differs from the exact map by
    float32 rounding (~1e-5 of logits of size ~10).
    """
    weight, bias = compose(model)
    pixels = images.cpu().flatten(1).double() / 255  # (N, 784)
    composed = pixels @ weight.T + bias  # (N, 10)
    model64 = copy.deepcopy(model).cpu().double()
    with torch.no_grad():
        network64 = model64(pixels)
        network32 = model(pixels.float().to(next(model.parameters()).device)).cpu().double()
    return {"max_abs_diff_float64": (composed - network64).abs().max().item(),
            "max_abs_diff_float32": (composed - network32).abs().max().item(),
            "max_abs_logit": composed.abs().max().item(),
            "same_predictions": (composed.argmax(1) == network32.argmax(1)).double().mean().item()}


def cells(budget: Budget, seeds: int, device: str) -> list[Cell]:
    result = []
    for kind in MODELS:
        for seed in range(seeds):
            cfg = TrainConfig(model="linear" if kind == "linear" else "mlp", hidden=budget.hidden, depth=2,
                              activation=kind if kind != "linear" else "relu", seed=seed, epochs=budget.epochs,
                              train_limit=budget.train_limit, device=device, **RECIPE)
            result.append(Cell(f"{kind}-seed{seed}", {"train": cfg.to_dict()}, f"{MODELS[kind]}, seed {seed}"))
    return result


def train_cell(cell: Cell, ctx: Context) -> dict:
    trainer = Trainer(TrainConfig.from_dict(cell.config["train"]), ctx.data)
    facts = common.train(trainer, ctx) | {"parameters": sum(p.numel() for p in trainer.model.parameters())}
    model = trainer.model
    if facts["diverged"]:
        return facts
    if isinstance(model, MLP) and isinstance(model.acts[0], torch.nn.Identity):
        facts |= composition_check(model, trainer.test_images)
        if cell.key.endswith("seed0"):  # the composed templates, for the figure
            facts["templates"] = compose(model)[0].float().tolist()
    elif cell.key == "linear-seed0":  # the linear model's own templates, on raw pixels like the composed map
        facts["templates"] = (model.out.weight.detach().cpu().double() / MNIST_STD).float().tolist()
    return facts


def run(ctx: Context, budget: Budget) -> dict:
    results = common.run_cells(ctx, cells(budget, ctx.seeds, ctx.device), lambda cell: train_cell(cell, ctx))
    size = f"784-{budget.hidden}-{budget.hidden}-10"
    rows = [{"model": kind, "description": MODELS[kind].replace("784-H-H-10", size),
             "test_acc": common.values(results, common.seeded_keys(kind, ctx.seeds), "test_acc"),
             "train_acc": common.values(results, common.seeded_keys(kind, ctx.seeds), "train_acc"),
             "parameters": results[f"{kind}-seed0"]["parameters"],
             "seconds_per_epoch": common.mean_std(common.values(results, common.seeded_keys(kind, ctx.seeds),
                                                                "seconds_per_epoch"))[0]} for kind in MODELS]
    checks = [{"seed": seed} | {key: value for key, value in results[f"identity-seed{seed}"].items()
                                if key.startswith(("max_abs", "same_"))} for seed in range(ctx.seeds)]
    gap = 100 * (common.mean_std(rows[1]["test_acc"])[0] - common.mean_std(rows[0]["test_acc"])[0])
    figure = plots.templates(results["linear-seed0"].get("templates"), results["identity-seed0"].get("templates"),
                             [common.percent(row["test_acc"]) for row in rows[:2]],
                             ctx.out_dir / "no-activation-templates.png")
    sections = ["## Accuracy\n", accuracy_table(rows),
                f"Identity MLP minus linear model: {gap:+.2f} points of test accuracy.\n",
                "## W3 W2 W1 is one 10 x 784 map\n", composition_table(checks)]
    payload = {"rows": rows, "composition": checks, "identity_minus_linear_points": gap,
               "cells": {key: {k: v for k, v in result.items() if k != "templates"} for key, result in results.items()}}
    return common.write_results(ctx, TITLE, dataclasses.asdict(budget), sections, payload, [figure])


def accuracy_table(rows: list[dict]) -> str:
    body = [[row["description"], f"{row['parameters']:,}", common.percent(row["test_acc"]),
             common.percent(row["train_acc"]), f"{row['seconds_per_epoch']:.2f}"] for row in rows]
    return common.markdown_table(["model", "parameters", "test accuracy", "train accuracy (running, last epoch)",
                                  "s / epoch"], body, right=(1, 2, 3, 4))


def composition_table(checks: list[dict]) -> str:
    body = [[check["seed"], common.scientific(check["max_abs_diff_float64"]),
             common.scientific(check["max_abs_diff_float32"]), f"{check['max_abs_logit']:.1f}",
             f"{100 * check['same_predictions']:.2f}%"] for check in checks if "max_abs_diff_float64" in check]
    headers = ["seed", r"max \|A x + c − MLP(x)\|, float64", "same, MLP in float32", r"largest \|logit\|",
               "same prediction (test set)"]
    return common.markdown_table(headers, body, right=(0, 1, 2, 3, 4))
