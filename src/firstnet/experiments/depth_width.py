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

from firstnet.config import TrainConfig
from firstnet.experiments.cells import (
    Cell,
    Context,
    run_cells,
    seed_values,
    seeded_keys,
    train_to_result,
)
from firstnet.experiments.results import markdown_table, write_results
from firstnet.figures.style import PALETTE, plt, save
from firstnet.stats import mean_std, percent, percent_mean_std
from firstnet.train import Trainer

TITLE = "Depth and width: accuracy against parameters and training time"


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


def cells(budget: Budget, seeds: int) -> list[Cell]:
    result = []
    for depth, width in architectures(budget):
        for seed in range(seeds):
            cfg = TrainConfig(
                model="linear" if depth == 0 else "mlp",
                depth=depth,
                hidden=max(width, 1),
                seed=seed,
                epochs=budget.epochs,
                train_limit=budget.train_limit,
            )
            result.append(
                Cell(
                    f"depth{depth}-width{width}-seed{seed}",
                    {"train": cfg.to_dict()},
                    f"depth {depth}, width {width}, seed {seed}",
                )
            )
    return result


def train_cell(cell: Cell, ctx: Context) -> dict:
    trainer = Trainer(TrainConfig.from_dict(cell.config["train"]), ctx.data)
    return train_to_result(trainer, ctx) | {
        "parameters": sum(p.numel() for p in trainer.model.parameters())
    }


def run(ctx: Context, budget: Budget) -> dict:
    results = run_cells(ctx, cells(budget, ctx.seeds), lambda cell: train_cell(cell, ctx))
    rows = []
    for depth, width in architectures(budget):
        keys = seeded_keys(f"depth{depth}-width{width}", ctx.seeds)
        rows.append(
            {
                "depth": depth,
                "width": width,
                "parameters": results[keys[0]]["parameters"],
                "test_acc": seed_values(results, keys, "test_acc"),
                "train_acc": seed_values(results, keys, "train_acc"),
                "seconds": mean_std(seed_values(results, keys, "seconds"))[0],
            }
        )
    figure = plot_depth_width(rows, ctx.out_dir / "depth-width.png")
    sections = [
        markdown_table(
            [
                "hidden layers",
                "width",
                "parameters",
                "test accuracy",
                "train accuracy (running, last epoch)",
                "training + evaluation (s)",
            ],
            [
                [
                    row["depth"],
                    row["width"] or "-",
                    f"{row['parameters']:,}",
                    percent(row["test_acc"]),
                    percent(row["train_acc"]),
                    f"{row['seconds']:.1f}",
                ]
                for row in rows
            ],
            right=range(6),
        ),
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


def plot_depth_width(rows: list[dict], path: Path) -> Path:
    """Test accuracy against parameters and against training time; one line per depth, width grows
    along it; two hidden layers drawn thicker."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
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
            for row in (
                mine
            ):  # every seed, faint: a failed seed shows as an outlier, not as a huge error bar
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
