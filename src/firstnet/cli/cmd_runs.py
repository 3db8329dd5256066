"""`firstnet runs`: the runs in a folder, newest last, with their model, state and accuracy."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from firstnet.cli import options
from firstnet.terminal import out


def add_parser(sub) -> None:
    listing = options.add_command(sub, "runs", list_runs)
    options.add(listing, "runs-dir", "json")


def list_runs(args) -> int:
    """list the runs: name, model, state, epochs, test accuracy, data, date (any command takes a
    run's name, latest or latest-KIND where it asks for a run)"""
    from firstnet.catalog import run_dirs, run_summary

    summaries = [run_summary(run) for run in run_dirs(args.runs_dir)]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    if not summaries:
        out.print(f"No runs in {args.runs_dir} yet; train one with: firstnet train --model mlp")
        return 0
    table = Table(title=f"Runs in {Path(args.runs_dir)}, newest last")
    for column in ("name", "model", "state", "epochs", "test accuracy", "data", "created"):
        table.add_column(
            column, justify="right" if column in ("epochs", "test accuracy") else "left"
        )
    for run in summaries:
        accuracy = f"{100 * run['test_acc']:.2f}%" if isinstance(run["test_acc"], float) else "-"
        row = [run["name"], run["model"] or "-", run["state"], str(run["epochs"]), accuracy]
        table.add_row(*row, run["data"] or "-", run["created"] or "-")
    out.print(table)
    return 0
