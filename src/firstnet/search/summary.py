"""What a study found, as files: the table of trials (CSV and JSON), the Pareto front of validation
error against training seconds (or parameters), the optimisation history and parameter-importance
figures, and the best trial's config as a file `firstnet train --config` accepts; and a trial in
one line of text."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

import matplotlib
import optuna
from matplotlib.ticker import FuncFormatter
from optuna.trial import TrialState

from firstnet.atomic import atomic_write
from firstnet.config import MODEL_FIELDS
from firstnet.figures.style import PALETTE, save, styled, subplots
from firstnet.search import study as studies

TRIALS_CSV, TRIALS_JSON, BEST, PARETO_JSON = "trials.csv", "trials.json", "best.json", "pareto.json"
COLUMNS = ("number", "state", "val_acc", "seconds", "parameters", "epochs_run", "worker", "note")


def trial_rows(study: optuna.Study) -> list[dict]:
    """One row per trial: its state, validation accuracy (last epoch run), seconds, parameters,
    its params, and why it failed or was pruned."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        validation = attrs.get("val_acc") or []
        note = attrs.get(studies.FAIL_REASON, "")
        if trial.state == TrialState.PRUNED:
            note = f"pruned after epoch {len(validation)}"
        elif attrs.get("diverged"):
            note = "diverged (scored at chance)"
        elif attrs.get("default"):
            note = "the default recipe"
        elif "retry_of" in attrs:
            note = f"retry of trial {attrs['retry_of']} ({attrs.get('retry_reason', '')})"
        elif "failed_trial" in trial.system_attrs:  # Optuna's RetryHeartbeatStaleTrialCallback
            note = f"retry of trial {trial.system_attrs['failed_trial']} (its worker died)"
        row = {
            "number": trial.number,
            "state": trial.state.name.lower(),
            "val_acc": None if attrs.get("diverged") else (validation[-1] if validation else None),
            "seconds": attrs.get("seconds"),
            "parameters": attrs.get("parameters"),
            "epochs_run": len(validation),
            "worker": attrs.get("worker", ""),
            "note": note.splitlines()[0] if note else "",
        }
        rows.append(row | {"params": dict(trial.params), "config": attrs.get("config")})
    return rows


def complete(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["state"] == "complete" and r["val_acc"] is not None]


def pareto_front(rows: list[dict], cost: str = "seconds") -> list[dict]:
    """The complete trials no other beats on both validation accuracy and `cost` (seconds or
    parameters), cheapest first: what each extra second (or parameter) buys."""
    front = []
    for row in sorted(complete(rows), key=lambda r: (r[cost], -r["val_acc"])):
        if not front or row["val_acc"] > front[-1]["val_acc"]:
            front.append(row)
    return front


def best_row(rows: list[dict]) -> dict | None:
    """The complete trial with the highest validation accuracy (the fewer seconds on a tie)."""
    done = complete(rows)
    return max(done, key=lambda r: (r["val_acc"], -r["seconds"])) if done else None


def config_file_values(config: dict) -> dict:
    """A trial's TrainConfig as `firstnet train --config` takes it: the fields of other models and
    the unset limits left out."""
    model = config["model"]
    return {
        name: value
        for name, value in config.items()
        if not (name in MODEL_FIELDS and model not in MODEL_FIELDS[name])
        and not (name in ("train_limit", "test_limit") and value is None)
    }


def config_text(config: dict) -> str:
    """A trial's config in short: its shape, activation, optimizer and learning rate."""
    shape = {"mlp": "depth {depth} x {hidden}, ", "cnn": "{channels} channels, "}
    text = shape.get(config["model"], "").format(**config)
    return text + f"{config['activation']}, {config['optimizer']} lr {config['lr']:.3g}"


def describe_trial(trial) -> str:
    """One line: the trial's number, config in short, validation accuracy, seconds or state."""
    config = trial.user_attrs.get("config")
    text = f"trial {trial.number}" + (" (the default)" if trial.user_attrs.get("default") else "")
    if config:
        text += f": {config['model']} {config_text(config)}, "
        text += f"{config['epochs']} epochs, batch {config['batch_size']}"
        text += f", shifts {config['augment']}" if config.get("augment") else ""
    validation = trial.user_attrs.get("val_acc") or []
    state = trial.state.name.lower()
    if trial.user_attrs.get("diverged"):
        text += ": diverged (scored at chance)"
    elif state == "complete" and validation:
        text += f": validation {100 * validation[-1]:.2f}% in {trial.user_attrs['seconds']:.1f} s"
    elif state == "pruned":
        text += f": pruned after epoch {len(validation)}"
    else:
        reason = trial.user_attrs.get(studies.FAIL_REASON, "").splitlines()
        text += f": {state}" + (f" ({reason[0]})" if reason else "")
    return text


def write_tables(out_dir: Path, rows: list[dict], cost: str) -> dict[str, Path]:
    """trials.csv (one column per param), trials.json, pareto.json, and best.json when any trial
    completed."""
    names = sorted({name for row in rows for name in row["params"]})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*COLUMNS, *names])
    for row in rows:
        writer.writerow([row[c] for c in COLUMNS] + [row["params"].get(n, "") for n in names])
    paths = {
        "trials_csv": atomic_write(out_dir / TRIALS_CSV, text.getvalue()),
        "trials_json": atomic_write(out_dir / TRIALS_JSON, json.dumps(rows, indent=1)),
        "pareto": atomic_write(
            out_dir / PARETO_JSON, json.dumps(pareto_front(rows, cost), indent=1)
        ),
    }
    best = best_row(rows)
    if best is not None:
        values = config_file_values(best["config"])
        paths["best"] = atomic_write(out_dir / BEST, json.dumps(values, indent=2) + "\n")
    return paths


@styled
def plot_pareto(rows: list[dict], path: Path, cost: str = "seconds") -> Path:
    """Every complete trial by validation accuracy against `cost`, the front joined, the best
    ringed."""
    done, front = complete(rows), pareto_front(rows, cost)
    fig, ax = subplots(figsize=(7, 4.5))
    families = sorted({r["config"]["model"] for r in done})
    for colour, family in zip(PALETTE, families, strict=False):
        points = [r for r in done if r["config"]["model"] == family]
        xs, ys = [r[cost] for r in points], [100 * r["val_acc"] for r in points]
        ax.scatter(xs, ys, s=22, alpha=0.6, color=colour, label=family)
    ax.step(
        [r[cost] for r in front],
        [100 * r["val_acc"] for r in front],
        where="post",
        color="black",
        lw=1.2,
        label="Pareto front",
    )
    best = best_row(rows)
    if best is not None:
        ax.scatter([best[cost]], [100 * best["val_acc"]], s=120, facecolors="none",
                   edgecolors="black", label=f"best: trial {best['number']}")  # fmt: skip
    ax.set_xscale("log")
    # 1, 2, 5, 10, 20 ... rather than 2x10^0: the minor ticks labelled at 2 and 5 only
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(
        FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else "")
    )
    ax.set_xlabel("training + validation seconds" if cost == "seconds" else "parameters")
    ax.set_ylabel("validation accuracy (%)")
    if done:
        low = sorted(100 * r["val_acc"] for r in done)[len(done) // 4]  # hide the worst quarter
        ax.set_ylim(max(low - 0.5, 0), 100 * max(r["val_acc"] for r in done) + 0.2)
    ax.set_title(
        f"What each {'second' if cost == 'seconds' else 'parameter'} buys: {len(done)} trials"
    )
    ax.legend(loc="lower right")
    return save(fig, path)


def plot_history(study: optuna.Study, path: Path) -> Path | None:
    """Optuna's optimisation history of the validation error (None before two complete trials)."""
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return None
    # Optuna sets its "ggplot" style globally: rc_context undoes that when it returns
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
        ax = optuna.visualization.matplotlib.plot_optimization_history(
            study, target=target, target_name="validation error"
        )
    ax.set_yscale("log")
    return save_optuna(ax.figure, path)


def plot_importance(study: optuna.Study, path: Path) -> Path | None:
    """Optuna's fANOVA importance of each param for the validation error (None when it cannot
    be computed: too few complete trials, or a param that never varied)."""
    try:
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore")
            target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
            ax = optuna.visualization.matplotlib.plot_param_importances(
                study, target=target, target_name="validation error"
            )
    except (ValueError, RuntimeError):
        return None
    return save_optuna(ax.figure, path)


def save_optuna(fig, path: Path) -> Path:
    """Optuna draws its plots through pyplot: saved, then closed, so that pyplot keeps none of
    them (a notebook would show each again)."""
    import matplotlib.pyplot as plt

    try:
        return save(fig, path)
    finally:
        plt.close(fig)
