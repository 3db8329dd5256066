"""`firstnet experiment NAME`: runs one experiment (or all) with a progress line per cell, prints the tables."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from firstnet import runs
from firstnet.commands import get_data
from firstnet.console import err, out, stop_on_sigint
from firstnet.data import MNIST
from firstnet.errors import ConfigError
from firstnet.experiments import NAMES
from firstnet.experiments.common import RESULTS_MD, Cell, Context

MODULES = {"activations": "activations", "no-activation": "no_activation", "depth-width": "depth_width",
           "handmade-features": "handmade", "universal": "universal"}
SEEDS = {"quick": 2, "default": 3}  # seeds when --seeds is not given
INDEX = "README.md"


def experiment_module(name: str):
    return importlib.import_module(f"firstnet.experiments.{MODULES[name]}")


def describe(result: dict) -> str:
    """A short account of a finished cell for its progress line."""
    if result.get("diverged"):
        return "diverged"
    parts = [f"{key.replace('_acc', '')} {100 * result[key]:.2f}%" for key in ("test_acc", "train_acc")
             if key in result]
    if result.get("fits"):  # a 1-D fit of several widths
        first, last = result["fits"][0], result["fits"][-1]
        parts.append(f"RMSE {first['rmse']:.3f} at width {first['width']}, {last['rmse']:.4f} at {last['width']}")
    return ", ".join(parts) + f" ({result.get('cell_seconds', 0):.1f} s)"


@contextmanager
def cell_progress(name: str) -> Iterator[tuple]:
    """A progress bar over the cells of one experiment, a line per trained cell; yields (on_start, on_done)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(name, total=None)
        loaded = []

        def on_start(index: int, total: int, cell: Cell) -> None:
            bar.update(task, total=total, completed=index, description=f"{name}: {cell.label}")

        def on_done(index: int, total: int, cell: Cell, result: dict, cached: bool) -> None:
            bar.update(task, total=total, completed=index + 1)
            if cached:
                loaded.append(cell.key)
            else:
                bar.console.print(f"  {name}: {cell.label}: {describe(result)}", highlight=False)

        yield on_start, on_done
    if loaded:
        err.print(f"  {name}: {len(loaded)} finished cells loaded, not re-run")


def run_experiment(name: str, data: MNIST, out_dir: Path, quick: bool, seeds: int | None,
                   should_stop=lambda: False) -> dict:
    """Run experiment `name` with the quick or default budget into `out_dir`/`name`; its results."""
    module = experiment_module(name)
    budget = module.QUICK if quick else module.DEFAULT
    seeds = seeds or SEEDS["quick" if quick else "default"]
    start = time.perf_counter()
    with cell_progress(name) as (on_start, on_done):
        ctx = Context(data, Path(out_dir) / name, seeds, on_start, on_done, should_stop)
        results = module.run(ctx, budget)
    return results | {"run_seconds": time.perf_counter() - start, "trained_cells": len(ctx.computed)}


def cmd_experiment(args) -> int:
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    names = NAMES if args.name == "all" else (args.name,)
    data = get_data(args.data_dir)
    done = {}
    with stop_on_sigint() as stop:
        for name in names:
            result = run_experiment(name, data, args.out_dir, args.quick, args.seeds, stop)
            done[name] = result
            out.print(Markdown((args.out_dir / name / RESULTS_MD).read_text()))
            out.print(f"{name}: {result['run_seconds']:.1f} s ({result['trained_cells']} cells trained); "
                      f"results in {args.out_dir / name}", highlight=False)
    if args.name == "all":
        out.print(f"Index: {write_index(args.out_dir, done, args.quick)}")
    return 0


def write_index(out_dir: Path, done: dict[str, dict], quick: bool) -> Path:
    """runs/experiments/README.md: every experiment's results.md, headings one level down, links re-rooted."""
    command = "firstnet experiment all" + (" --quick" if quick else "")
    parts = [f"# The lecture's questions as experiments\n\nWritten by `{command}`. Each section is the "
             "`results.md` of its experiment; its cells, `results.json` and figures are in the folder named.\n"]
    for name, result in done.items():
        text = (out_dir / name / RESULTS_MD).read_text()
        text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
        text = re.sub(r"\]\((?!https?:)([^)]+)\)", rf"]({name}/\1)", text)
        parts.append(f"{text}\nCommand: `firstnet experiment {name}{' --quick' if quick else ''}`; this run: "
                     f"{result['run_seconds']:.0f} s, {result['trained_cells']} of {len(result['cells'])} cells "
                     f"trained (the others loaded from cells/). Folder: [{name}/]({name}/).\n")
    path = Path(out_dir) / INDEX
    runs.atomic_write(path, "\n".join(parts))
    return path
