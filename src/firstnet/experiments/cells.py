"""Cells, the unit of work of every experiment: stored as they finish (so a run resumes), and
trained with the one `Trainer`.

A *cell* is one unit of work -- usually one (configuration, seed) training. Its result is written to
`cells/<key>-<hash>.json` the moment it finishes, the hash taken over everything the result depends
on (configuration, budget, seed); a later run with the same cell loads that file instead of training
again. So an interrupted experiment continues where it stopped, and the --quick and default budgets
never overwrite each other's cells.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from firstnet.atomic import atomic_write
from firstnet.config import TrainConfig
from firstnet.data import LabelledData
from firstnet.errors import DivergedError, FirstnetError
from firstnet.trainer import Trainer

CELLS = "cells"


class Stopped(FirstnetError):
    """The user asked to stop; the finished cells are kept and a rerun continues from them."""

    exit_code = 130


@dataclass(frozen=True)
class Cell:
    key: str  # readable and unique within the experiment, e.g. "relu-depth2-seed0"
    config: (
        dict  # everything the result depends on (JSON-serialisable); its hash names the stored file
    )
    label: str = ""  # what the progress line shows


@dataclass
class Context:
    """How an experiment runs: the data, where it writes, which seeds, and the callbacks of the
    caller."""

    data: LabelledData
    out_dir: Path  # this experiment's folder, e.g. runs/experiments/activations
    seeds: int
    on_start: Callable[[int, int, Cell], None] = lambda index, total, cell: None
    on_done: Callable[[int, int, Cell, dict, bool], None] = (
        lambda index, total, cell, result, cached: None
    )
    should_stop: Callable[[], bool] = lambda: False
    # keys of the cells this call trained (not loaded)
    computed: list[str] = field(default_factory=list)


def stopped(ctx: Context) -> Stopped:
    return Stopped(
        f"stopped; the finished cells are kept in {ctx.out_dir}: run the same command to continue"
    )


def cell_path(out_dir: Path, cell: Cell) -> Path:
    digest = hashlib.sha256(json.dumps(cell.config, sort_keys=True).encode()).hexdigest()[:10]
    return Path(out_dir) / CELLS / f"{cell.key}-{digest}.json"


def run_cells(
    ctx: Context, cells: Sequence[Cell], compute: Callable[[Cell], dict]
) -> dict[str, dict]:
    """The result of every cell, by key: loaded when stored, else computed and stored at once."""
    (ctx.out_dir / CELLS).mkdir(parents=True, exist_ok=True)
    results = {}
    for index, cell in enumerate(cells):
        path = cell_path(ctx.out_dir, cell)
        cached = path.is_file()
        if cached:
            result = json.loads(path.read_text())["result"]
        else:
            # cells that train no network (1-D fits, feature fits) stop between cells
            if ctx.should_stop():
                raise stopped(ctx)
            ctx.on_start(index, len(cells), cell)
            start = time.perf_counter()
            result = compute(cell) | {"cell_seconds": round(time.perf_counter() - start, 3)}
            payload = {"key": cell.key, "config": cell.config, "result": result}
            atomic_write(path, json.dumps(payload, indent=1, allow_nan=True) + "\n")
            ctx.computed.append(cell.key)
        results[cell.key] = result
        ctx.on_done(index, len(cells), cell, result, cached)
    return results


def train_to_result(
    trainer: Trainer, ctx: Context, on_epoch: Callable[[Trainer, dict], None] | None = None
) -> dict:
    """Run `trainer` (the one training loop) to the end; the final epoch's numbers.

    A diverged training is a result (diverged: True, accuracy NaN), not an error: some
    configurations of an experiment are expected to fail. A stop request raises `Stopped` and the
    cell is not stored.
    """
    try:
        trainer.run(
            on_epoch=(lambda record: on_epoch(trainer, record)) if on_epoch else None,
            should_stop=ctx.should_stop,
        )
    except DivergedError as err:
        return {
            "diverged": True,
            "error": str(err),
            "test_acc": math.nan,
            "train_acc": math.nan,
            "seconds": trainer.elapsed_s,
            "seconds_per_epoch": math.nan,
        }
    if not trainer.finished:
        raise stopped(ctx)
    last = trainer.history[-1]
    return {
        "diverged": False,
        "test_acc": last["test_acc"],
        "train_acc": last["train_acc"],
        "seconds": last["elapsed_s"],
        "seconds_per_epoch": last["elapsed_s"] / len(trainer.history),
        "history": trainer.history,
    }


def training_cell(key: str, cfg: TrainConfig, label: str, **extra) -> Cell:
    """A cell that trains `cfg`: its config holds the TrainConfig as "train", plus `extra`."""
    return Cell(key, {"train": cfg.to_dict(), **extra}, label)


def cell_trainer(cell: Cell, data: LabelledData) -> Trainer:
    """A fresh Trainer for a cell made by `training_cell`, on `data`."""
    return Trainer(TrainConfig.from_dict(cell.config["train"]), data)


def seed_values(results: dict[str, dict], prefix: str, seeds: int, name: str) -> list[float]:
    """The number `name` of the cells `prefix`-seed0 .. `prefix`-seed{seeds - 1}."""
    return [results[f"{prefix}-seed{seed}"][name] for seed in range(seeds)]
