"""Can a deep network solve anything? (a) One hidden layer of ReLUs approximates 1-D functions
better and better as it widens (universal approximation); (b) the MNIST MLP fits randomly shuffled
labels -- it memorises a training set that holds nothing to learn, and its test accuracy stays at
chance: fitting is not generalising.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from firstnet.config import MEMORISE_RECIPE, TrainConfig
from firstnet.evaluate import evaluate
from firstnet.experiments import cells, fit1d
from firstnet.experiments.results import markdown_table, pct, seed_mean, write_results
from firstnet.figures.style import PALETTE, save, styled, subplots
from firstnet.stats import percent
from firstnet.trainer import Trainer

TITLE = "Universal approximation, and memorising random labels"

SHOWN_WIDTHS = (2, 8, 32, 256)  # fitted curves drawn per target (those present in the budget)
# The memorisation figure's two curves per run: (history key, line style, legend).
MEMORISATION_CURVES = (
    ("train_acc", "o-", "train (running mean of the epoch)"),
    ("test_acc", "s--", "test"),
)


@dataclass(frozen=True)
class Budget:
    steps: int  # full-batch Adam steps of each 1-D fit
    widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    lr: float = 0.01
    points: int = 100  # training points of the clean targets
    noisy_points: int = 40
    noise: float = 0.3
    memorise_images: int = 5000  # training images whose labels are shuffled
    memorise_test: int | None = 2000  # test images (None: all 10,000)
    memorise_hidden: int = 512
    memorise_epochs: int = 20
    # with config.MEMORISE_RECIPE: Adam, cosine, batch 64, no regularisation
    memorise_lr: float = 1e-3


QUICK = Budget(steps=1000, memorise_images=3000)
DEFAULT = Budget(steps=3000, memorise_images=10_000, memorise_test=None, memorise_epochs=30)


def memorise_config(budget: Budget, seed: int) -> TrainConfig:
    return TrainConfig(
        **MEMORISE_RECIPE,
        hidden=budget.memorise_hidden,
        lr=budget.memorise_lr,
        seed=seed,
        epochs=budget.memorise_epochs,
        train_limit=budget.memorise_images,
        test_limit=budget.memorise_test,
    )


def plan(budget: Budget, seeds: int) -> list[cells.Cell]:
    fit = {
        key: getattr(budget, key)
        for key in ("steps", "widths", "lr", "points", "noisy_points", "noise")
    }
    result = [
        cells.Cell(
            f"fit-{name.replace(' ', '-')}-seed{seed}",
            {"target": name, "seed": seed, **fit},
            f"1-D fit of {name}, widths {budget.widths[0]}..{budget.widths[-1]}, seed {seed}",
        )
        for name in fit1d.TARGETS
        for seed in range(seeds)
    ]
    for labels in ("random", "true"):
        for seed in range(seeds):
            result.append(
                cells.Cell(
                    f"memorise-{labels}-seed{seed}",
                    {"labels": labels, "train": memorise_config(budget, seed).to_dict()},
                    f"MLP on {budget.memorise_images} images with {labels} labels, seed {seed}",
                )
            )
    return result


def fit_cell(config: dict) -> dict:
    name = config["target"]
    points = config["noisy_points"] if name == "noisy sine" else config["points"]
    x, y = fit1d.training_set(name, points, config["noise"], config["seed"])
    model = fit1d.fit(tuple(config["widths"]), x, y, config["steps"], config["lr"], config["seed"])
    return {
        "fits": fit1d.measure(name, model, x, y),
        "x": x.squeeze(1).tolist(),
        "y": y.squeeze(1).tolist(),
    }


def memorise_cell(config: dict, ctx: cells.Context) -> dict:
    """Train on the first images with their labels shuffled (random) or as they are (true)."""
    cfg = TrainConfig.from_dict(config["train"])
    data = ctx.data.subset(cfg.train_limit, cfg.test_limit)
    # a permutation keeps the class counts; each image gets another's label
    if config["labels"] == "random":
        order = np.random.default_rng(cfg.seed).permutation(len(data.train_labels))
        data = dataclasses.replace(
            data, train_labels=data.train_labels[order], source=f"{data.source}, shuffled"
        )
    trainer = Trainer(cfg, data)
    facts = cells.train_to_result(trainer, ctx)
    if not facts[
        "diverged"
    ]:  # the final model on its own training set, not the running mean of the last epoch
        facts["train_acc"] = evaluate(trainer.model, trainer.train_images, trainer.train_labels)[1]
    return facts


def run(ctx: cells.Context, budget: Budget) -> dict:
    def compute(cell: cells.Cell) -> dict:
        return fit_cell(cell.config) if "target" in cell.config else memorise_cell(cell.config, ctx)

    results = cells.run_cells(ctx, plan(budget, ctx.seeds), compute)
    approximation = {
        name: [results[f"fit-{name.replace(' ', '-')}-seed{seed}"] for seed in range(ctx.seeds)]
        for name in fit1d.TARGETS
    }
    errors = {
        name: {
            key: np.mean([[fit[key] for fit in run["fits"]] for run in runs], 0).tolist()
            for key in ("rmse", "train_rmse", "kinks")
        }
        for name, runs in approximation.items()
    }
    memorise = {
        labels: [results[f"memorise-{labels}-seed{seed}"] for seed in range(ctx.seeds)]
        for labels in ("random", "true")
    }
    figures = [
        plot_errors(errors, budget.widths, ctx.out_dir / "universal-error.png"),
        plot_fits(
            {name: runs[0] for name, runs in approximation.items()},
            budget.widths,
            ctx.out_dir / "universal-fits.png",
        ),
        plot_memorisation(
            {k: v[0].get("history", []) for k, v in memorise.items()},
            ctx.out_dir / "universal-memorise.png",
        ),
    ]
    sections = [
        "## (a) One hidden layer of ReLUs fitting 1-D functions on [-1, 1]\n",
        approximation_table(errors, budget.widths),
        "RMSE against the clean function on 1,001 grid points, mean over seeds. Targets: "
        + "; ".join(f"{name}: {text}" for name, text in fit1d.TARGETS.items())
        + ".\n",
        "## (b) The MNIST MLP on randomly shuffled labels\n",
        memorise_table(memorise, budget),
    ]
    payload = {
        "approximation": errors,
        "memorisation": {
            labels: {
                key: [run[key] for run in runs] for key in ("train_acc", "test_acc", "seconds")
            }
            for labels, runs in memorise.items()
        },
        "cells": results,
    }
    return write_results(ctx, TITLE, dataclasses.asdict(budget), sections, payload, figures)


def approximation_table(errors: dict, widths: tuple[int, ...]) -> str:
    rows = [[name] + [f"{value:.4f}" for value in error["rmse"]] for name, error in errors.items()]
    rows.append(
        ["noisy sine, on its training points"]
        + [f"{v:.4f}" for v in errors["noisy sine"]["train_rmse"]]
    )
    return markdown_table(
        ["target \\ width", *map(str, widths)], rows, right=range(1, len(widths) + 1)
    )


def memorise_table(memorise: dict, budget: Budget) -> str:
    test = "all 10,000" if budget.memorise_test is None else f"the first {budget.memorise_test:,}"
    rows = [
        [
            f"{labels} labels",
            percent([r["train_acc"] for r in runs]),
            percent([r["test_acc"] for r in runs]),
            f"{np.mean([r['seconds'] for r in runs]):.1f}",
        ]
        for labels, runs in memorise.items()
    ]
    return (
        markdown_table(
            ["training labels", "train accuracy (final model)", "test accuracy", "seconds"],
            rows,
            right=(1, 2, 3),
        )
        + f"\nMLP 784-{budget.memorise_hidden}-{budget.memorise_hidden}-10 on the first "
        f"{budget.memorise_images:,} training images, {budget.memorise_epochs} epochs of Adam; "
        f"test on {test} "
        "test images (true labels). Chance is 10%.\n"
    )


@styled
def plot_errors(errors_by_target: dict, widths: tuple[int, ...], path: Path) -> Path:
    """RMSE against width, log-log, one line per target; the noisy target also on its own training
    points."""
    fig, ax = subplots(figsize=(7.5, 4.8))
    for (name, error), color in zip(errors_by_target.items(), PALETTE, strict=False):
        ax.plot(
            widths,
            np.maximum(error["rmse"], 1e-6),
            "o-",
            color=color,
            label=f"{name}: {fit1d.TARGETS[name]}"
            if name != "noisy sine"
            else "noisy sine: error against the clean sine",
        )
    noisy = errors_by_target.get("noisy sine")
    if noisy:
        ax.plot(
            widths,
            noisy["train_rmse"],
            "o--",
            color=PALETTE[3],
            label="noisy sine: error on its noisy points",
        )
    ax.set(xscale="log", yscale="log", xlabel="hidden units (width)", ylabel="RMSE")
    ax.set_title("One hidden layer of ReLUs: error against width")
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.legend(fontsize=8)
    return save(fig, path)


@styled
def plot_fits(first_seed: dict, widths: tuple[int, ...], path: Path) -> Path:
    """Per target: the function (and its training points when noisy) with the networks' fitted
    curves."""
    shown = [w for w in SHOWN_WIDTHS if w in widths] or list(widths[-1:])
    plot_x = torch.linspace(-1, 1, fit1d.PLOT_POINTS)
    fig, axes = subplots(
        1, len(first_seed), figsize=(4 * len(first_seed), 3.8), sharex=True, squeeze=False
    )
    for ax, (name, run) in zip(axes[0], first_seed.items(), strict=True):
        ax.plot(plot_x, fit1d.target(name, plot_x), color="0.6", lw=4, alpha=0.5, label="target")
        if name == "noisy sine":
            ax.plot(run["x"], run["y"], ".", color="0.3", ms=5, label="noisy training points")
        for width, color in zip(shown, PALETTE, strict=False):
            fit = next(f for f in run["fits"] if f["width"] == width)
            ax.plot(
                plot_x,
                fit["curve"],
                color=color,
                lw=1.4,
                label=f"width {width} (RMSE {fit['rmse']:.3f})",
            )
        ax.set(title=name, xlabel="x")
        ax.legend(fontsize=7, loc="lower right" if name == "abs" else "best")
    axes[0, 0].set_ylabel("f(x)")
    fig.suptitle("Fitted curves are piecewise linear: one kink per hidden unit", y=1.03)
    return save(fig, path)


@styled
def plot_memorisation(histories: dict[str, list[dict]], path: Path) -> Path:
    """Running train accuracy and test accuracy per epoch, with true and with shuffled labels."""
    fig, ax = subplots(figsize=(7.5, 4.5))
    for (labels, history), color in zip(histories.items(), (PALETTE[3], PALETTE[0]), strict=False):
        epochs = [r["epoch"] for r in history]
        for key, style, what in MEMORISATION_CURVES:
            accuracy = [100 * r[key] for r in history]
            ax.plot(epochs, accuracy, style, color=color, ms=3, label=f"{labels} labels: {what}")
    ax.axhline(10, color="0.5", lw=1, ls=":", label="chance (10%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        xlabel="epoch",
        ylabel="accuracy (%)",
        ylim=(0, 101),
        title="Memorising shuffled labels: train accuracy climbs, test stays at chance",
    )
    ax.legend(fontsize=8)
    return save(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The report's sentence for these results, and its number."""
    value = seed_mean(results["memorisation"]["random"]["train_acc"])
    return f"an MLP memorises random labels: {pct(value)} of its training images", value
