"""`firstnet search`: an Optuna study over firstnet's models and recipes, from one laptop to many
machines (docs/search.md). The study itself is `firstnet.search.coordinator`'s."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from firstnet.cli import options
from firstnet.cli.console import report_epoch
from firstnet.config import DEVICES
from firstnet.search import PRUNERS, SAMPLERS
from firstnet.terminal import err, out


def add_parser(sub) -> None:
    search = options.add_command(sub, "search", search_command)
    search.add_argument("--quick", action="store_true", help="a small space and budget (~2 min)")
    search.add_argument(
        "--trials", type=int, help="trials in all, over every worker (default: quick 20, else 60)"
    )
    search.add_argument(
        "--timeout",
        type=float,
        help="stop starting trials after SECONDS (default: quick 90, else 1800)",
    )
    search.add_argument(
        "--objective",
        default="error",
        choices=("error", "error,seconds", "error,parameters"),
        metavar="OBJECTIVE",
        help="what to minimise: error (validation error alone, prunable), error,seconds or "
        "error,parameters (a Pareto front)",
    )
    prune = "stop a trial worse than the others at the same point of its training"
    search.add_argument("--pruner", default="median", choices=PRUNERS, help=prune)
    sample = "how the next trial is chosen (cmaes: one objective only)"
    search.add_argument("--sampler", default="tpe", choices=SAMPLERS, help=sample)
    search.add_argument(
        "--space",
        type=Path,
        metavar="FILE",
        help="a search space, JSON or YAML (default: docs/search.md's table)",
    )
    search.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="fix one training option for every trial, e.g. --fix model=mlp (repeatable)",
    )
    search.add_argument("--workers", type=int, default=1, help="local worker processes")
    search.add_argument(
        "--storage",
        metavar="URL",
        help="a database for workers on many machines, e.g. postgresql://user@host/db, its "
        "password in FIRSTNET_STORAGE_PASSWORD (default: a journal file in the study folder)",
    )
    beat = "database storage: seconds between a worker's heartbeats; 4 missed fail its trial"
    search.add_argument("--heartbeat", type=int, default=5, help=beat)
    search.add_argument("--study", default="firstnet", help="the study's name in its storage")
    search.add_argument(
        "--out-dir", type=Path, help="the study folder (default: runs/search-YYYYmmdd-HHMMSS)"
    )
    search.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the study in DIR, from any folder (default: start a new one)",
    )
    search.add_argument(
        "--worker",
        action="store_true",
        help="join the study in --storage/--study (or --out-dir) as one more worker, then exit",
    )
    # set by --workers for the processes it starts: each samples from its own seed
    search.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    held = "training images held out to score the trials"
    search.add_argument("--validation-size", type=int, default=10_000, help=held)
    search.add_argument(
        "--seed", type=int, default=0, help="the split's, sampler's and trials' seed"
    )
    search.add_argument(
        "--threads", type=int, help="torch threads per worker (default: cores/workers)"
    )
    search.add_argument(
        "--no-retrain",
        action="store_true",
        help="skip retraining the best on all training images and testing it",
    )
    first = "do not start with the default recipe of each model family (trial 0, 1, ...)"
    search.add_argument("--no-defaults", action="store_true", help=first)
    device = "where the trials train: auto picks cuda, else mps, when available"
    search.add_argument("--device", default="auto", choices=DEVICES, help=device)
    options.add(search, "dataset", "data")


def search_command(args) -> int:
    """search architectures and recipes with Optuna, scored on a held-out split"""
    from firstnet.search import coordinator

    if args.worker:
        joined = coordinator.join(
            storage=args.storage, study=args.study, out_dir=args.out_dir,
            worker_index=args.worker_index, threads=args.threads, timeout=args.timeout,
            heartbeat=args.heartbeat, data_dir=args.data_dir,
        )  # fmt: skip
        return 0 if joined else 130
    settings = None if args.resume else coordinator.study_settings(
        quick=args.quick, space=args.space, fix=args.fix, trials=args.trials, study=args.study,
        dataset=args.dataset, objective=args.objective, validation_size=args.validation_size,
        seed=args.seed, device=args.device, sampler=args.sampler, pruner=args.pruner,
        defaults=not args.no_defaults,
    )  # fmt: skip
    result = coordinator.search(
        settings, out_dir=args.out_dir, resume=args.resume, trials=args.trials,
        timeout=args.timeout, workers=args.workers, storage=args.storage,
        heartbeat=args.heartbeat, threads=args.threads, retrain=not args.no_retrain,
        data_dir=args.data_dir, on_summary=show_summary, on_epoch=report_epoch,
    )  # fmt: skip
    if result["best"] is not None:
        show_final(result)
    if result["interrupted"]:
        err.print(f"Study interrupted. Continue with: firstnet search --resume {result['out_dir']}")
        return 130
    return 0


def show_summary(result: dict) -> None:
    """The Pareto front and the best trial, before the best is retrained."""
    best = result["best"]
    out.print(pareto_table(result["front"], result["cost"]))
    if best is None:
        err.print("No trial completed: nothing to retrain.")
        return
    out.print(
        f"Best: trial {best['number']}, validation accuracy {100 * best['val_acc']:.2f}% "
        f"({result['best_json']})",
        highlight=False,
    )


def show_final(result: dict) -> None:
    """The retrained best's test accuracy and the study's files."""
    final = result["final"]
    if final is not None:
        done = "done before" if final["reused"] else f"{final['seconds']:.1f} s"
        out.print(
            f"Retrained best (trial {final['trial']}) on all training images: test accuracy "
            f"{100 * final['test_acc']:.2f}% (validation {100 * final['val_acc']:.2f}%; {done}); "
            f"run {final['run']}",
            highlight=False,
        )
    out.print("Study folder: " + ", ".join(map(str, result["files"])), highlight=False)


def pareto_table(front: list[dict], cost: str) -> Table:
    from firstnet.search import summary

    table = Table(title=f"Pareto front: validation accuracy against {cost}")
    for column in ("trial", "model", "validation", cost, "epochs", "config"):
        table.add_column(column, justify="left" if column in ("model", "config") else "right")
    for row in front:
        config = row["config"]
        value = f"{row[cost]:.1f} s" if cost == "seconds" else f"{row[cost]:,}"
        table.add_row(
            str(row["number"]),
            config["model"],
            f"{100 * row['val_acc']:.2f}%",
            value,
            str(config["epochs"]),
            summary.config_text(config),
        )
    return table
