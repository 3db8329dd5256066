"""What every experiment shares: cells stored as they finish (so a run resumes), training one cell with the
one `Trainer`, and writing results.md / results.json.

A *cell* is one unit of work -- usually one (configuration, seed) training. Its result is written to
`cells/<key>-<hash>.json` the moment it finishes, the hash taken over everything the result depends on
(configuration, budget, seed); a later run with the same cell loads that file instead of training again. So an
interrupted experiment continues where it stopped, and the --quick and default budgets never overwrite each
other's cells.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from firstnet import runs
from firstnet.data import MNIST
from firstnet.errors import DivergedError, FirstnetError
from firstnet.train import Trainer

CELLS = "cells"
RESULTS_MD, RESULTS_JSON = "results.md", "results.json"


class Stopped(FirstnetError):
    """The user asked to stop; the finished cells are kept and a rerun continues from them."""

    exit_code = 130


@dataclass(frozen=True)
class Cell:
    key: str  # readable and unique within the experiment, e.g. "relu-depth2-seed0"
    config: dict  # everything the result depends on (JSON-serialisable); its hash names the stored file
    label: str = ""  # what the progress line shows


@dataclass
class Context:
    """How an experiment runs: the data, where it writes, which seeds, and the callbacks of the caller."""

    data: MNIST
    out_dir: Path  # this experiment's folder, e.g. runs/experiments/activations
    seeds: int
    on_start: Callable[[int, int, Cell], None] = lambda index, total, cell: None
    on_done: Callable[[int, int, Cell, dict, bool], None] = lambda index, total, cell, result, cached: None
    should_stop: Callable[[], bool] = lambda: False
    device: str = "auto"
    computed: list[str] = field(default_factory=list)  # keys of the cells this call trained (not loaded)


def stopped(ctx: Context) -> Stopped:
    return Stopped(f"stopped; the finished cells are kept in {ctx.out_dir}: run the same command to continue")


def cell_path(out_dir: Path, cell: Cell) -> Path:
    digest = hashlib.sha256(json.dumps(cell.config, sort_keys=True).encode()).hexdigest()[:10]
    return Path(out_dir) / CELLS / f"{cell.key}-{digest}.json"


def run_cells(ctx: Context, cells: Sequence[Cell], compute: Callable[[Cell], dict]) -> dict[str, dict]:
    """The result of every cell, by key: loaded when stored, else computed and stored at once."""
    (ctx.out_dir / CELLS).mkdir(parents=True, exist_ok=True)
    results = {}
    for index, cell in enumerate(cells):
        path = cell_path(ctx.out_dir, cell)
        cached = path.is_file()
        if cached:
            result = json.loads(path.read_text())["result"]
        else:
            if ctx.should_stop():  # cells that train no network (1-D fits, feature fits) stop between cells
                raise stopped(ctx)
            ctx.on_start(index, len(cells), cell)
            start = time.perf_counter()
            result = compute(cell) | {"cell_seconds": round(time.perf_counter() - start, 3)}
            payload = {"key": cell.key, "config": cell.config, "result": result}
            runs.atomic_write(path, json.dumps(payload, indent=1, allow_nan=True) + "\n")
            ctx.computed.append(cell.key)
        results[cell.key] = result
        ctx.on_done(index, len(cells), cell, result, cached)
    return results


def train(trainer: Trainer, ctx: Context, on_epoch: Callable[[Trainer, dict], None] | None = None) -> dict:
    """Run `trainer` (the one training loop) to the end; the final epoch's numbers.

    A diverged training is a result (diverged: True, accuracy NaN), not an error: some configurations of an
    experiment are expected to fail. A stop request raises `Stopped` and the cell is not stored.
    """
    try:
        trainer.run(on_epoch=(lambda record: on_epoch(trainer, record)) if on_epoch else None,
                    should_stop=ctx.should_stop)
    except DivergedError as err:
        return {"diverged": True, "error": str(err), "test_acc": math.nan, "train_acc": math.nan,
                         "seconds": trainer.elapsed_s, "seconds_per_epoch": math.nan}
    if not trainer.finished:
        raise stopped(ctx)
    last = trainer.history[-1]
    return {"diverged": False, "test_acc": last["test_acc"], "train_acc": last["train_acc"],
                     "seconds": last["elapsed_s"], "seconds_per_epoch": last["elapsed_s"] / len(trainer.history),
                     "history": trainer.history}


def seeded_keys(prefix: str, seeds: int) -> list[str]:
    return [f"{prefix}-seed{seed}" for seed in range(seeds)]


def values(results: dict[str, dict], keys: Sequence[str], name: str) -> list[float]:
    return [results[key][name] for key in keys]


def mean_std(numbers: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value); NaN values make the mean NaN."""
    numbers = list(numbers)
    if not numbers:
        return math.nan, math.nan
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else 0.0


def percent(numbers: Sequence[float], digits: int = 2) -> str:
    """'97.81 ± 0.12%' for fractions; '97.81%' for one value; 'diverged' when any is NaN."""
    mean, std = mean_std(numbers)
    if math.isnan(mean):
        return "diverged"
    return f"{100 * mean:.{digits}f}%" if len(numbers) == 1 else f"{100 * mean:.{digits}f} ± {100 * std:.{digits}f}%"


def scientific(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1e}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """A GitHub Markdown table; the columns whose index is in `right` are right-aligned."""
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def environment() -> dict:
    return runs.environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def write_results(ctx: Context, title: str, budget: dict, sections: Sequence[str], payload: dict,
                  figures: Sequence[Path]) -> dict:
    """results.md (title, budget line, Markdown sections, figures) and results.json (`payload` plus the facts)."""
    env = environment()
    hardware = env.get("gpu") or f"{env['cpu']}, {env['cpu_count']} cores, torch {env['torch']}"
    budget_text = ", ".join(f"{key} {show(value)}" for key, value in budget.items())
    seconds = sum(result.get("cell_seconds", 0) for result in payload.get("cells", {}).values())
    lines = [f"# {title}\n", f"Budget: {budget_text}; seeds: {ctx.seeds}. Hardware: {hardware}. "
             f"Compute of all cells: {seconds:.0f} s.\n", *sections]
    lines += [f"![{path.stem}]({path.name})\n" for path in figures]
    payload = {"title": title, "budget": budget, "seeds": ctx.seeds, "environment": env,
               "cell_seconds_total": round(seconds, 3), "figures": [path.name for path in figures]} | payload
    runs.atomic_write(ctx.out_dir / RESULTS_MD, "\n".join(lines))
    runs.atomic_write(ctx.out_dir / RESULTS_JSON, json.dumps(strict_json(payload), indent=1, allow_nan=False) + "\n")
    return payload


def show(value) -> str:
    """A budget value as results.md shows it: tuples as a/b/c, None (no limit) as 'all'."""
    if isinstance(value, tuple | list):
        return "/".join(map(str, value))
    return "all" if value is None else str(value)


def strict_json(value):
    """`value` with every NaN or infinity replaced by None, so results.json is valid JSON for any reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value
