"""Running an experiment of the registry into its folder, and the index of all of them."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from pathlib import Path

from firstnet.atomic import atomic_write
from firstnet.data import LabelledData
from firstnet.experiments import EXPERIMENTS
from firstnet.experiments.cells import Cell, Context
from firstnet.experiments.results import RESULTS_MD

SEEDS = {"quick": 2, "default": 3}  # seeds when --seeds is not given
INDEX = "README.md"


def experiment_module(name: str):
    """The module of experiment `name`, imported now."""
    return importlib.import_module(f"firstnet.experiments.{EXPERIMENTS[name]}")


def run_experiment(
    name: str,
    data: LabelledData,
    out_dir: Path,
    quick: bool,
    seeds: int | None,
    on_start: Callable[[int, int, Cell], None] = lambda index, total, cell: None,
    on_done: Callable[
        [int, int, Cell, dict, bool], None
    ] = lambda index, total, cell, result, cached: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict:
    """Run experiment `name` with the quick or default budget into `out_dir`/`name`; its results.

    `on_start` and `on_done` are called around each cell (a progress bar); `should_stop` is polled.
    """
    module = experiment_module(name)
    budget = module.QUICK if quick else module.DEFAULT
    seeds = seeds or SEEDS["quick" if quick else "default"]
    start = time.perf_counter()
    ctx = Context(data, Path(out_dir) / name, seeds, on_start, on_done, should_stop)
    results = module.run(ctx, budget)
    return results | {
        "run_seconds": time.perf_counter() - start,
        "trained_cells": len(ctx.computed),
    }


def write_index(out_dir: Path, done: dict[str, dict], quick: bool) -> Path:
    """runs/experiments/README.md: every experiment's results.md, headings one level down, links
    re-rooted."""
    command = "firstnet experiment all" + (" --quick" if quick else "")
    parts = [
        f"# The lecture's questions as experiments\n\nWritten by `{command}`. Each section is the "
        "`results.md` of its experiment; its cells, `results.json` and figures are in the folder "
        "named.\n"
    ]
    for name, result in done.items():
        text = (out_dir / name / RESULTS_MD).read_text()
        text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
        text = re.sub(r"\]\((?!https?:)([^)]+)\)", rf"]({name}/\1)", text)
        parts.append(
            f"{text}\nCommand: `firstnet experiment {name}{' --quick' if quick else ''}`; this "
            "run: "
            f"{result['run_seconds']:.0f} s, {result['trained_cells']} of {len(result['cells'])} "
            "cells "
            f"trained (the others loaded from cells/). Folder: [{name}/]({name}/).\n"
        )
    path = Path(out_dir) / INDEX
    atomic_write(path, "\n".join(parts))
    return path
