"""How to search for the right architecture? Grid, random, TPE and CMA-ES search compared at equal
budget on one space (the MLP's depth, width, learning rate, weight decay and label smoothing), each
over several seeds: the best validation accuracy found against trials spent, the hand-picked default
MLP beside them, which knobs mattered (fANOVA importance over the random-search trials), and the
Pareto front of validation accuracy against training seconds of the best strategy.

Every trial goes through `firstnet search`'s own worker loop (firstnet.search.study) on the held-out
split of the training images, so no number here has seen the test set. No pruning: every strategy
spends exactly its trials.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import optuna

from firstnet.config import EXPERIMENT_MLP, TrainConfig
from firstnet.data import validation_split
from firstnet.experiments import cells
from firstnet.experiments.results import pct, seed_mean, table_of, write_results
from firstnet.figures.style import PALETTE, save, styled, subplots
from firstnet.search import study as studies
from firstnet.search.summary import pareto_front, plot_pareto
from firstnet.stats import mean_std, percent

TITLE = "Searching for the architecture: grid, random, TPE and CMA-ES at equal budget"
STRATEGIES = ("grid", "random", "tpe", "cmaes")
# The space every strategy searches: numeric only, so CMA-ES and a 3-point grid apply to all of it.
# The rest is the MLP recipe (SGD with Nesterov momentum, one-cycle, batch 128).
# fmt: off
SPACE_PARAMS = {
    "depth":           {"low": 1, "high": 3},
    "hidden":          {"low": 32, "high": 512, "log": True},
    "lr":              {"low": 0.01, "high": 1.0, "log": True},
    "weight_decay":    {"low": 1e-6, "high": 1e-2, "log": True},
    "label_smoothing": {"low": 0.0, "high": 0.2},
}
# fmt: on


@dataclass(frozen=True)
class Budget:
    trials: int  # per study: each strategy and seed spends exactly this many
    epochs: int
    train_limit: int  # training rows of the split used (of 50,000), for speed
    validation: int = 10_000


QUICK = Budget(trials=8, epochs=1, train_limit=5_000, validation=5_000)
DEFAULT = Budget(trials=30, epochs=3, train_limit=20_000)


def space(budget: Budget) -> dict:
    recipe = {key: EXPERIMENT_MLP[key] for key in ("batch_size", "precision")}  # lr is searched
    fixed = {"model": "mlp", "epochs": budget.epochs, "optimizer": "sgd", "schedule": "onecycle",
             "tta": False, **recipe}  # fmt: skip
    return {"params": SPACE_PARAMS, "fixed": fixed}


def plan(budget: Budget, seeds: int) -> list[cells.Cell]:
    result = []
    for seed in range(seeds):
        common = {"budget": dataclasses.asdict(budget), "seed": seed}
        for strategy in STRATEGIES:
            key = f"{strategy}-seed{seed}"
            label = f"{strategy}, {budget.trials} trials, seed {seed}"
            result.append(cells.Cell(key, common | {"strategy": strategy}, label))
        default = TrainConfig(model="mlp", epochs=budget.epochs, seed=seed, **EXPERIMENT_MLP)
        result.append(
            cells.Cell(
                f"default-seed{seed}",
                common | {"train": default.to_dict()},
                f"the default MLP, seed {seed}",
            )
        )
    return result


def split_for(ctx: cells.Context, budget: Budget):
    """(the budget's training rows of the split, the held-out images as its test set; the split's
    record): the same for every cell."""
    split, record = validation_split(ctx.data, budget.validation, seed=0)
    return split.subset(budget.train_limit, None), record


def run_study(cell: cells.Cell, ctx: cells.Context, budget: Budget, split, record: dict) -> dict:
    """One strategy's study of `budget.trials` trials in memory; every trial's numbers."""
    seed = cell.config["seed"]
    settings = studies.StudySettings(
        name=cell.key, dataset=ctx.data.dataset, objectives=("error",), space=space(budget),
        split=record, trials=budget.trials, seed=seed, sampler=cell.config["strategy"],
        pruner="none", defaults=False,
    )  # fmt: skip
    storage = optuna.storages.InMemoryStorage()
    study = studies.create_or_load(storage, settings)
    studies.work(study, storage, settings, split, ctx.should_stop)
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(trials) < budget.trials:
        raise cells.stopped(ctx)
    importance = {}
    if cell.config["strategy"] == "random":  # unbiased samples: fANOVA's importances hold
        importance = optuna.importance.get_param_importances(study)
    return {
        "val_acc": [1 - t.value for t in trials],
        "seconds": [t.user_attrs["seconds"] for t in trials],
        "params": [t.params for t in trials],
        "diverged_trials": [bool(t.user_attrs.get("diverged")) for t in trials],  # at chance
        "importance": importance,
    }


def trial_rows(result: dict) -> list[dict]:
    """A study cell's trials as firstnet.search.summary rows (the Pareto front's input); a diverged
    trial is left out (its accuracy is the chance level it was scored at, not a measurement)."""
    return [
        {
            "number": k,
            "state": "complete",
            "val_acc": acc,
            "seconds": sec,
            "config": {"model": "mlp"},
        }
        for k, (acc, sec, diverged) in enumerate(
            zip(result["val_acc"], result["seconds"], result["diverged_trials"], strict=True)
        )
        if not diverged
    ]


def train_default(cell: cells.Cell, ctx: cells.Context, split) -> dict:
    """The hand-picked default MLP on the same rows, scored on the same held-out images."""
    trainer = cells.cell_trainer(cell, split)
    return cells.train_to_result(trainer, ctx)


def best_so_far(values: list[float]) -> list[float]:
    best, out = float("-inf"), []
    for value in values:
        best = max(best, value)
        out.append(best)
    return out


def run(ctx: cells.Context, budget: Budget) -> dict:
    split, record = split_for(ctx, budget)

    def compute(cell: cells.Cell) -> dict:
        if "strategy" in cell.config:
            return run_study(cell, ctx, budget, split, record)
        return train_default(cell, ctx, split)

    results = cells.run_cells(ctx, plan(budget, ctx.seeds), compute)
    seeds = range(ctx.seeds)
    curves = {
        s: [best_so_far(results[f"{s}-seed{seed}"]["val_acc"]) for seed in seeds]
        for s in STRATEGIES
    }
    default = [results[f"default-seed{seed}"]["test_acc"] for seed in seeds]  # held-out images
    rows = [strategy_row(s, curves[s], default, budget) for s in STRATEGIES]
    best = max(rows, key=lambda row: mean_std(row["best"])[0])
    front_rows = [
        row for seed in seeds for row in trial_rows(results[f"{best['strategy']}-seed{seed}"])
    ]
    importance = mean_importance([results[f"random-seed{seed}"]["importance"] for seed in seeds])
    figures = [
        plot_curves(curves, default, ctx.out_dir / "search-strategies.png"),
        plot_pareto(front_rows, ctx.out_dir / "search-pareto.png"),
    ]
    columns = {
        "strategy": lambda row: row["strategy"],
        f"best validation accuracy after {budget.trials} trials": lambda row: percent(row["best"]),
        f"after {budget.trials // 3} trials": lambda row: percent(row["third"]),
        "trials to beat the default (mean)": lambda row: row["to_default"],
    }
    sections = [
        table_of(rows, columns, right=(1, 2, 3)),
        f"The default MLP (`firstnet train --model mlp`, {budget.epochs} epochs, same rows): "
        f"{percent(default)} on the same held-out images.\n",
        importance_table(importance),
        reading(rows, default, importance, best, front_rows),
    ]
    payload = {"rows": rows, "default": default, "importance": importance,
               "pareto": pareto_front(front_rows), "cells": results}  # fmt: skip
    return write_results(ctx, TITLE, dataclasses.asdict(budget), sections, payload, figures)


def strategy_row(strategy: str, curves: list[list[float]], default: list[float], budget) -> dict:
    """A strategy's best accuracy per seed after all and after a third of its trials, and the
    trials it took to beat the default MLP of the same seed."""
    to_default = []
    for curve, reference in zip(curves, default, strict=True):
        beaten = [k + 1 for k, value in enumerate(curve) if value > reference]
        to_default.append(beaten[0] if beaten else None)
    found = [k for k in to_default if k is not None]
    shown = f"{sum(found) / len(found):.1f}" if found else "never"
    if found and len(found) < len(to_default):
        shown += f" ({len(to_default) - len(found)} of {len(to_default)} seeds never)"
    return {
        "strategy": strategy,
        "best": [curve[-1] for curve in curves],
        "third": [curve[max(budget.trials // 3 - 1, 0)] for curve in curves],
        "to_default": shown,
    }


def mean_importance(per_seed: list[dict]) -> dict[str, float]:
    names = sorted({name for importance in per_seed for name in importance})
    means = {n: sum(i.get(n, 0.0) for i in per_seed) / len(per_seed) for n in names}
    return dict(sorted(means.items(), key=lambda item: -item[1]))


def importance_table(importance: dict[str, float]) -> str:
    rows = [{"param": name, "importance": value} for name, value in importance.items()]
    columns = {
        "param (random search's trials)": lambda row: row["param"],
        "fANOVA importance (mean over seeds)": lambda row: f"{row['importance']:.2f}",
    }
    return table_of(rows, columns, right=(1,))


def reading(rows, default, importance, best, front_rows) -> str:
    base = mean_std(default)[0]
    lines = []
    for row in rows:
        mean, std = mean_std(row["best"])
        lines.append(
            f"- {row['strategy']}: best {100 * mean:.2f} ± {100 * std:.2f}% "
            f"({100 * (mean - base):+.2f} points vs the default)"
        )
    top = next(iter(importance), None)
    if top:
        lines.append(f"- What mattered most (random search's trials): {top} "
                     f"({importance[top]:.0%} of the explained variance).")  # fmt: skip
    front = pareto_front(front_rows)
    if front:
        lines.append(
            f"- Pareto front of {best['strategy']}: from {100 * front[0]['val_acc']:.2f}% in "
            f"{front[0]['seconds']:.1f} s to {100 * front[-1]['val_acc']:.2f}% in "
            f"{front[-1]['seconds']:.1f} s."
        )
    return "\n".join(lines) + "\n"


@styled
def plot_curves(curves: dict[str, list[list[float]]], default: list[float], path: Path) -> Path:
    """Best validation accuracy so far against trials spent: mean over seeds, band min..max."""
    fig, ax = subplots(figsize=(7.5, 4.5))
    drawn: dict[tuple, str] = {}  # a curve already drawn, by its values: which strategy drew it
    styles = ["-", "--", ":", "-."]
    for k, (colour, (strategy, runs)) in enumerate(zip(PALETTE, curves.items(), strict=False)):
        trials = range(1, len(runs[0]) + 1)
        mean = [100 * sum(values) / len(values) for values in zip(*runs, strict=True)]
        low = [100 * min(values) for values in zip(*runs, strict=True)]
        high = [100 * max(values) for values in zip(*runs, strict=True)]
        same = drawn.setdefault(tuple(mean), strategy)
        label = strategy if same == strategy else f"{strategy} (the same trials as {same})"
        ax.plot(trials, mean, color=colour, lw=2, ls=styles[k % len(styles)], label=label)
        ax.fill_between(trials, low, high, color=colour, alpha=0.15)
    ax.axhline(100 * mean_std(default)[0], color="black", ls="--", lw=1,
               label="the default MLP")  # fmt: skip
    ax.set_xlabel("trials spent")
    ax.set_ylabel("best validation accuracy so far (%)")
    every = [value for runs in curves.values() for run in runs for value in run]
    ax.set_ylim(100 * sorted(every)[len(every) // 10] - 0.3, 100 * max(every) + 0.2)
    ax.set_title(f"Search strategies at equal budget ({len(next(iter(curves.values())))} seeds)")
    ax.legend(loc="lower right")
    return save(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The report's sentence for these results, and its number."""
    value = max(seed_mean(row["best"]) for row in results["rows"])
    best = " and ".join(r["strategy"] for r in results["rows"] if seed_mean(r["best"]) == value)
    default = seed_mean(results["default"])
    if value <= default:  # a search that found nothing better is not a "best strategy"
        return (f"no strategy beat the untuned default MLP ({pct(default)} validation) at this "
                f"budget; the best, {best}, reached {pct(value)}"), value  # fmt: skip
    return (f"{best} found the best: {pct(value)} validation, against {pct(default)} for the "
            "untuned default MLP"), value  # fmt: skip
