"""Why two hidden layers? MLPs of 0 (the linear model), 1, 2, 3 and 5 hidden layers times a few
widths, all trained with the same recipe for the same number of epochs: test accuracy against the
number of parameters and against training time, and where two hidden layers sit on those curves.

Depth 0 is the linear model with its own recipe (`firstnet train --model linear`): the MLP's recipe
(lr 0.2, one-cycle, label smoothing) suits it badly and would understate it by several points. Every
MLP shares the MLP recipe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from firstnet.config import EXPERIMENT_MLP, TrainConfig
from firstnet.experiments import cells
from firstnet.experiments.results import pct, seed_mean, table_of, write_results
from firstnet.figures.style import PALETTE, save, styled, subplots
from firstnet.models import count_parameters
from firstnet.stats import mean_std, percent, percent_mean_std

TITLE = "Depth and width: accuracy against parameters and training time"

RESULT_KEYS = ("test_acc", "train_acc", "seconds")  # per cell, kept for every seed


@dataclass(frozen=True)
class Budget:
    epochs: int
    train_limit: int | None
    depths: tuple[int, ...] = (0, 1, 2, 3, 5)
    widths: tuple[int, ...] = (32, 128, 512)


QUICK = Budget(epochs=2, train_limit=10_000, widths=(32, 128, 256))
DEFAULT = Budget(epochs=2, train_limit=None)


def architectures(budget: Budget) -> list[tuple[int, int]]:
    """(depth, width) pairs; depth 0 has no hidden layer, so it appears once (width 0)."""
    return [
        (depth, 0 if depth == 0 else width)
        for depth in budget.depths
        for width in (budget.widths[:1] if depth == 0 else budget.widths)
    ]


def plan(budget: Budget, seeds: int) -> list[cells.Cell]:
    result = []
    for depth, width in architectures(budget):
        model = "linear" if depth == 0 else "mlp"
        shared = {"epochs": budget.epochs, "train_limit": budget.train_limit}
        shared |= EXPERIMENT_MLP if model == "mlp" else {}
        for seed in range(seeds):
            cfg = TrainConfig(model=model, depth=depth, hidden=max(width, 1), seed=seed, **shared)
            label = f"depth {depth}, width {width}, seed {seed}"
            result.append(cells.training_cell(f"depth{depth}-width{width}-seed{seed}", cfg, label))
    return result


def train_cell(cell: cells.Cell, ctx: cells.Context) -> dict:
    trainer = cells.cell_trainer(cell, ctx.data)
    return cells.train_to_result(trainer, ctx) | {"parameters": count_parameters(trainer.model)}


def run(ctx: cells.Context, budget: Budget) -> dict:
    results = cells.run_cells(ctx, plan(budget, ctx.seeds), lambda cell: train_cell(cell, ctx))
    rows = []
    for depth, width in architectures(budget):
        prefix = f"depth{depth}-width{width}"
        numbers = {key: cells.seed_values(results, prefix, ctx.seeds, key) for key in RESULT_KEYS}
        seconds = mean_std(numbers.pop("seconds"))[0]
        shape = {
            "depth": depth,
            "width": width,
            "parameters": results[f"{prefix}-seed0"]["parameters"],
        }
        rows.append(shape | numbers | {"seconds": seconds})
    figure = plot_depth_width(rows, ctx.out_dir / "depth-width.png")
    columns = {
        "hidden layers": lambda row: row["depth"],
        "width": lambda row: row["width"] or "-",
        "parameters": lambda row: f"{row['parameters']:,}",
        "test accuracy": lambda row: percent(row["test_acc"]),
        "train accuracy (running, last epoch)": lambda row: percent(row["train_acc"]),
        "training + evaluation (s)": lambda row: f"{row['seconds']:.1f}",
    }
    sections = [
        table_of(rows, columns, right=range(6)),
        reading(rows),
    ]
    payload = {"rows": rows, "cells": results}
    return write_results(ctx, TITLE, dataclasses.asdict(budget), sections, payload, [figure])


def reading(rows: list[dict]) -> str:
    """One sentence per width: the best depth, and how depth 2 compares."""
    lines = []
    mean = {(row["depth"], row["width"]): mean_std(row["test_acc"])[0] for row in rows}
    linear = next((acc for (depth, _), acc in mean.items() if depth == 0), None)
    for width in sorted({w for d, w in mean if d > 0}):
        by_depth = {d: acc for (d, w), acc in mean.items() if w == width}
        best = max(by_depth, key=lambda d: by_depth[d])
        layers = "hidden layer" if best == 1 else "hidden layers"
        text = f"- width {width}: best at {best} {layers} ({100 * by_depth[best]:.2f}%)"
        if 2 in by_depth:
            text += f"; 2 hidden layers {100 * by_depth[2]:.2f}%"
        if 1 in by_depth and 2 in by_depth:
            text += f" ({100 * (by_depth[2] - by_depth[1]):+.2f} points vs 1 hidden layer)"
        lines.append(text)
    head = f"Depth 0 (linear): {100 * linear:.2f}%.\n" if linear is not None else ""
    return head + "\n".join(lines) + "\n"


@styled
def plot_depth_width(rows: list[dict], path: Path) -> Path:
    """Test accuracy against parameters and against training time; one line per depth, width grows
    along it; two hidden layers drawn thicker."""
    fig, axes = subplots(1, 2, figsize=(11, 4.5), sharey=True)
    depths = sorted({row["depth"] for row in rows})
    for depth, color in zip(depths, PALETTE, strict=False):
        mine = sorted(
            (row for row in rows if row["depth"] == depth), key=lambda row: row["parameters"]
        )
        accuracy = [percent_mean_std(row["test_acc"]) for row in mine]
        label = "0 (linear)" if depth == 0 else str(depth)
        style = {
            "lw": 3 if depth == 2 else 1.5,
            "ms": 8 if depth == 2 else 5,
            "zorder": 3 if depth == 2 else 2,
        }
        for ax, key in zip(axes, ("parameters", "seconds"), strict=True):
            ax.plot(
                [row[key] for row in mine],
                [a[0] for a in accuracy],
                "o-",
                color=color,
                label=label,
                **style,
            )
            # every seed, faint: a failed seed shows as an outlier, not as a huge error bar
            for row in mine:
                ax.plot(
                    [row[key]] * len(row["test_acc"]),
                    [100 * a for a in row["test_acc"]],
                    ".",
                    color=color,
                    alpha=0.4,
                    ms=4,
                )
            for row, (mean, _) in zip(mine, accuracy, strict=True):
                if depth == 2:
                    ax.annotate(
                        f"width {row['width']}",
                        (row[key], mean),
                        textcoords="offset points",
                        xytext=(-20, 8),
                        fontsize=7,
                        color=color,
                    )
    axes[0].set(
        xscale="log",
        xlabel="parameters (log scale; width grows along each line)",
        ylabel="test accuracy (%)",
        title="Accuracy vs parameters",
    )
    axes[1].set(
        xscale="log", xlabel="training + evaluation time (s, log scale)", title="Accuracy vs time"
    )
    axes[1].xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes[1].xaxis.set_minor_formatter(NullFormatter())
    axes[0].margins(y=0.12)
    axes[0].legend(title="hidden layers", fontsize=8)
    fig.suptitle(
        "Depth × width at a fixed budget of epochs (mean over seeds; dots: single seeds)", y=1.02
    )
    return save(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The report's sentence for these results, and its number."""
    best = max(results["rows"], key=lambda row: seed_mean(row["test_acc"]))
    value = seed_mean(best["test_acc"])
    return f"the best: depth {best['depth']}, width {best['width']}, {pct(value)} test", value
