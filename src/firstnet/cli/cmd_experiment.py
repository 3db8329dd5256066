"""`firstnet experiment NAME`: one experiment (or all) with a progress line per cell, then its
tables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firstnet.cli import options
from firstnet.errors import ConfigError
from firstnet.experiments import NAMES
from firstnet.terminal import err, load_data, out, stop_on_sigint, task_bar


def add_parser(sub) -> None:
    experiment = options.add_command(sub, "experiment", run_experiments)
    add = experiment.add_argument
    names = f"one of {', '.join(NAMES)}, or all (also writes an index README.md)"
    add("name", choices=(*NAMES, "all"), metavar="NAME", help=names)
    add("--quick", action="store_true", help="a smaller budget through the same code")
    add("--seeds", type=int, help="seeds per configuration (default: 2 with --quick, else 3)")
    results = "results go to OUT_DIR/NAME; finished cells there are loaded, not re-run"
    add("--out-dir", type=Path, default=Path("runs/experiments"), help=results)
    options.add(experiment, "data", "dataset", "json", "threads")


def describe(result: dict) -> str:
    """A short account of a finished cell for its progress line."""
    if result.get("diverged"):
        return "diverged"
    parts = [
        f"{key.replace('_acc', '')} {100 * result[key]:.2f}%"
        for key in ("test_acc", "train_acc")
        if key in result
    ]
    if result.get("val_acc"):  # a search study: the best of its trials
        parts.append(f"best validation {100 * max(result['val_acc']):.2f}%")
    if result.get("fits"):  # a 1-D fit of several widths
        first, last = result["fits"][0], result["fits"][-1]
        parts.append(
            f"RMSE {first['rmse']:.3f} at width {first['width']}, "
            f"{last['rmse']:.4f} at {last['width']}"
        )
    return ", ".join(parts) + f" ({result.get('cell_seconds', 0):.1f} s)"


class Overall:
    """Progress over every cell of a run of several experiments, with a time estimate: the cells
    still to train times the mean time of those trained so far (stored cells load at once)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.trained, self.seconds = total, 0, 0, 0.0

    def count(self, result: dict, cached: bool) -> str:
        self.done += 1
        if not cached:
            self.trained += 1
            self.seconds += result.get("cell_seconds", 0.0)
        left = (self.total - self.done) * self.seconds / max(self.trained, 1)
        return f"[{self.done}/{self.total} cells; about {left / 60:.1f} min left]"


@contextmanager
def cell_progress(name: str, overall: Overall | None = None) -> Iterator[tuple]:
    """A bar over the cells of one experiment, a line per trained cell (with the overall estimate
    when several run); yields (on_start, on_done)."""
    loaded = []
    with task_bar(name, None, transient=True) as advance:

        def on_start(index: int, total: int, cell) -> None:
            advance(0, description=f"{name}: {cell.label}", total=total)

        def on_done(index: int, total: int, cell, result: dict, cached: bool) -> None:
            advance(1)
            estimate = overall.count(result, cached) if overall else ""
            if cached:
                loaded.append(cell.key)
            else:
                err.print(f"  {name}: {cell.label}: {describe(result)} {estimate}", highlight=False)

        yield on_start, on_done
    if loaded:
        err.print(f"  {name}: {len(loaded)} finished cells loaded, not re-run")


def figure_paths(markdown: str, folder: Path) -> str:
    """Markdown images as their paths: a terminal shows a placeholder glyph for an image."""
    return re.sub(r"!\[[^\]]*\]\(([^)]+)\)", lambda m: f"Figure: `{folder / m[1]}`", markdown)


def run_experiments(args) -> int:
    """the lecture's questions as experiments: tables, JSON and figures, resumable"""
    from rich.markdown import Markdown

    from firstnet.experiments.results import RESULTS_MD, strict_json
    from firstnet.experiments.runner import run_experiment, write_index

    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    names = NAMES if args.name == "all" else (args.name,)
    data = load_data(args.data_dir, args.dataset)
    # results of another set never mix with MNIST's stored cells
    out_dir = args.out_dir if args.dataset == "mnist" else args.out_dir / args.dataset
    overall = Overall(sum(cell_count(name, args.quick, args.seeds) for name in names))
    done = {}
    with stop_on_sigint() as stop:
        for name in names:
            with cell_progress(name, overall if len(names) > 1 else None) as (on_start, on_done):
                result = run_experiment(
                    name, data, out_dir, args.quick, args.seeds, on_start, on_done, stop
                )
            done[name] = result
            if args.json:
                continue
            text = (out_dir / name / RESULTS_MD).read_text()
            out.print(Markdown(figure_paths(text, out_dir / name)))
            out.print(
                f"{name}: {result['run_seconds']:.1f} s ({result['trained_cells']} cells trained); "
                f"results in {out_dir / name}",
                highlight=False,
            )
    index = write_index(out_dir, done, args.quick) if args.name == "all" else None
    if args.json:
        print(json.dumps(strict_json(done)))
    elif index:
        out.print(f"Index: {index}")
    return 0


def cell_count(name: str, quick: bool, seeds: int | None) -> int:
    """How many cells experiment `name` has with this budget (planned, nothing trained)."""
    from firstnet.experiments.runner import SEEDS, experiment_module

    module = experiment_module(name)
    budget = module.QUICK if quick else module.DEFAULT
    return len(module.plan(budget, seeds or SEEDS["quick" if quick else "default"]))
