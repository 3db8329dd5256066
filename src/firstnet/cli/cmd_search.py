"""`firstnet search`: an Optuna study over firstnet's models and recipes, from one laptop to many
machines (docs/search.md)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.table import Table

from firstnet.atomic import atomic_write
from firstnet.cli import options
from firstnet.cli.console import load_data, stop_on_sigint
from firstnet.config import DEVICES
from firstnet.errors import ConfigError
from firstnet.search import PRUNERS, SAMPLERS
from firstnet.terminal import err, out, task_bar

STUDY_JSON, FINAL_JSON, BEST_RUN = "study.json", "final.json", "best-run"
STOPPING = "Stopping after this batch; the running trial is failed and queued to run again"
# --quick and the default budget: trials in all, seconds at most (the retraining comes after).
BUDGETS = {"quick": {"trials": 20, "timeout": 90}, "default": {"trials": 60, "timeout": 1800}}


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
        help="a database for workers on many machines, e.g. postgresql://user@host/db "
        "(default: a journal file in the study folder)",
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
        help="continue the study in DIR (default: start a new one)",
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


def study_settings(args, quick: bool) -> dict:
    from firstnet.search import space as spaces

    base = (
        spaces.read_space(args.space)
        if args.space
        else (spaces.QUICK_SPACE if quick else spaces.DEFAULT_SPACE)
    )
    space = spaces.fix(base, args.fix) if args.fix else spaces.check_space(base)
    budget = BUDGETS["quick" if quick else "default"]
    trials = args.trials if args.trials is not None else budget["trials"]
    if trials < 1 or args.workers < 1:
        raise ConfigError(
            f"--trials and --workers must be at least 1, got {trials}, {args.workers}"
        )
    return {
        "name": args.study,
        "dataset": args.dataset,
        "objectives": args.objective.split(","),
        "space": space,
        "split": {"size": args.validation_size, "seed": args.seed},
        "trials": trials,
        "seed": args.seed,
        "device": args.device,
        "sampler": args.sampler,
        "pruner": args.pruner,
        "defaults": not args.no_defaults,
    }


def search_command(args) -> int:
    """search architectures and recipes with Optuna, scored on a held-out split"""
    if args.worker:
        return worker_command(args)
    if args.resume:
        out_dir = args.resume
        saved = read_study_json(out_dir)
        storage_url, settings = saved["storage"], saved["settings"]
        timeout = args.timeout if args.timeout is not None else saved["timeout"]
    else:
        settings = study_settings(args, args.quick)
        out_dir = args.out_dir or Path("runs") / f"search-{time.strftime('%Y%m%d-%H%M%S')}"
        if (out_dir / STUDY_JSON).exists():
            raise ConfigError(
                f"{out_dir} holds a study already; continue it with --resume {out_dir}"
            )
        storage_url = args.storage or str(out_dir / "journal.log")
        budget = BUDGETS["quick" if args.quick else "default"]
        timeout = args.timeout if args.timeout is not None else budget["timeout"]
    data = load_data(args.data_dir, settings["dataset"])
    from firstnet.data import validation_split
    from firstnet.search import study as studies

    split, record = validation_split(data, settings["split"]["size"], settings["split"]["seed"])
    settings["split"] = record
    storage = studies.open_storage(storage_url, args.heartbeat)
    if not args.resume and studies.stored_settings(storage, settings["name"]) is not None:
        err.print(f"The storage holds a study {settings['name']!r} already: joining it (its "
                  "space, split and budget win; --study NAME starts another)")  # fmt: skip
    study = studies.create_or_load(storage, settings)
    settings = study.user_attrs[studies.SETTINGS_KEY]  # a joined study's own settings win
    check_same_split(settings, record)
    if args.resume and args.trials is not None:  # a new budget, for every worker
        settings = settings | {"trials": args.trials}
        study.set_user_attr(studies.SETTINGS_KEY, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = {"storage": storage_url, "settings": settings, "timeout": timeout}
    atomic_write(out_dir / STUDY_JSON, json.dumps(saved, indent=1))
    show_start(settings, out_dir, storage_url, args.workers)
    deadline = time.time() + timeout
    with stop_on_sigint(STOPPING) as stop:
        try:
            if args.workers == 1:
                set_threads(args.threads)
                run_here(study, storage, settings | {"deadline": deadline}, split, stop)
            else:
                run_workers(args, study, storage_url, settings, deadline, stop)
        except studies.Interrupted:
            pass  # the trial is failed and queued again; the others stand
        interrupted = stop()
    finish(study, settings, out_dir, data, args, interrupted)
    if interrupted:
        err.print(f"Study interrupted. Continue with: firstnet search --resume {out_dir}")
        return 130
    return 0


def check_same_split(stored: dict, record: dict) -> None:
    if stored["split"] != record:
        raise ConfigError(
            f"this study's validation split is {stored['split']}, but this machine's data give "
            f"{record}: the data set or numpy differ; workers must hold the same data"
        )


def read_study_json(out_dir: Path) -> dict:
    path = out_dir / STUDY_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{out_dir} holds no study ({STUDY_JSON} is missing)") from None
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def show_start(settings: dict, out_dir: Path, storage_url: str, workers: int) -> None:
    from firstnet.search.study import redact

    objectives = " and ".join(settings["objectives"])
    err.print(
        f"Study {settings['name']!r}: {settings['trials']} trials, {workers} worker(s), "
        f"minimising {objectives} on {settings['split']['size']:,} held-out training images; "
        f"storage {redact(storage_url)}; folder {out_dir}",
        highlight=False,
    )


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
        reason = trial.system_attrs.get("fail_reason", "").splitlines()
        text += f": {state}" + (f" ({reason[0]})" if reason else "")
    return text


def run_here(study, storage, settings: dict, split, stop) -> None:
    """One worker in this process, a bar of finished trials and a line per trial."""
    from firstnet.search.study import work

    with task_bar("trials", settings["trials"]) as advance:
        shown = finished_count(study)
        advance(shown)

        def on_trial(trial) -> None:
            nonlocal shown
            err.print("  " + describe_trial(trial), highlight=False)
            now = finished_count(study)
            advance(now - shown)
            shown = now

        work(study, storage, settings, split, stop, on_trial=on_trial)


def finished_count(study) -> int:
    from firstnet.search.study import finished_of, tally

    return finished_of(tally(study))


def run_workers(args, study, storage_url: str, settings: dict, deadline: float, stop) -> None:
    """`--workers N` local processes (`firstnet search --worker`), threads shared out; a bar of
    finished trials; Ctrl-C is passed on to every worker."""
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    command = [
        sys.executable,
        "-m",
        "firstnet",
        "search",
        "--worker",
        "--storage",
        storage_url,
        "--study",
        settings["name"],
        "--threads",
        str(threads),
    ]
    if args.data_dir:
        command += ["--data-dir", str(args.data_dir)]
    command += ["--timeout", f"{max(deadline - time.time(), 1):.0f}"]
    workers = [subprocess.Popen([*command, "--worker-index", str(k)]) for k in range(args.workers)]
    forwarded = False
    with task_bar("trials", settings["trials"]) as advance:
        shown = 0
        while [w.poll() for w in workers].count(None):  # poll each: reap every dead worker
            if stop() and not forwarded:
                for w in workers:
                    w.send_signal(signal.SIGINT)
                forwarded = True
            now = finished_count(study)
            advance(now - shown)
            shown = now
            time.sleep(0.5)
        advance(finished_count(study) - shown)
    failed = [w.returncode for w in workers if w.returncode not in (0, 130)]
    if failed:
        err.print(f"[red]{len(failed)} worker(s) failed (exit codes {failed}); see above")


def worker_command(args) -> int:
    """One more worker of an existing study: --storage and --study, or --out-dir of a study."""
    from firstnet.data import validation_split
    from firstnet.search import study as studies

    if args.storage:
        storage_url, name = args.storage, args.study
    elif args.out_dir:
        saved = read_study_json(args.out_dir)
        storage_url, name = saved["storage"], saved["settings"]["name"]
    else:
        raise ConfigError("--worker needs --storage URL (and --study NAME) or --out-dir DIR")
    storage = studies.open_storage(storage_url, args.heartbeat)
    study, settings = studies.load(storage, name, args.worker_index)
    set_threads(args.threads)
    data = load_data(args.data_dir, settings["dataset"])
    split, record = validation_split(data, settings["split"]["size"], settings["split"]["seed"])
    check_same_split(settings, record)
    deadline = time.time() + args.timeout if args.timeout is not None else None
    with stop_on_sigint(STOPPING) as stop:
        try:
            studies.work(
                study,
                storage,
                settings | {"deadline": deadline},
                split,
                stop,
                on_trial=lambda t: err.print(
                    f"  [{studies.worker_name()}] " + describe_trial(t), highlight=False
                ),
            )
        except studies.Interrupted:
            return 130
    return 130 if stop() else 0


def finish(study, settings: dict, out_dir: Path, data, args, interrupted: bool) -> None:
    """Write the tables and figures, print the Pareto front, and (unless interrupted or
    --no-retrain) retrain the best trial's config on all training images and test it once."""
    from firstnet.search import summary

    cost = "parameters" if "parameters" in settings["objectives"] else "seconds"
    rows = summary.trial_rows(study)
    paths = summary.write_tables(out_dir, rows, cost)
    figures = [
        summary.plot_pareto(rows, out_dir / "pareto.png", cost),
        summary.plot_history(study, out_dir / "history.png"),
        summary.plot_importance(study, out_dir / "importance.png"),
    ]
    out.print(pareto_table(summary.pareto_front(rows, cost), cost))
    best = summary.best_row(rows)
    if best is None:
        err.print("No trial completed: nothing to retrain.")
        return
    out.print(
        f"Best: trial {best['number']}, validation accuracy {100 * best['val_acc']:.2f}% "
        f"({paths['best']})",
        highlight=False,
    )
    if not interrupted and not args.no_retrain:
        retrain(best, out_dir, data)
    shown = [str(p) for p in figures if p is not None] + [str(paths["trials_csv"])]
    out.print("Study folder: " + ", ".join(shown), highlight=False)


def pareto_table(front: list[dict], cost: str) -> Table:
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
            config_text(config),
        )
    return table


def retrain(best: dict, out_dir: Path, data) -> None:
    """The best config trained on all training images into out_dir/best-run; its test accuracy,
    the only time the study touches the test set, goes to final.json."""
    import shutil

    from firstnet.cli.cmd_train import train_run
    from firstnet.config import TrainConfig
    from firstnet.runs import create_run_dir

    cfg = TrainConfig.from_dict(best["config"])
    run_dir = out_dir / BEST_RUN
    if (out_dir / FINAL_JSON).exists():
        final = json.loads((out_dir / FINAL_JSON).read_text())
        if final.get("trial") == best["number"]:
            out.print(
                f"Retrained best (trial {best['number']}): test accuracy "
                f"{100 * final['test_acc']:.2f}% (done before, {run_dir})"
            )
            return
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an older best's run, or one interrupted: start it afresh
    run_dir = create_run_dir(out_dir, BEST_RUN)
    err.print(
        f"Retraining trial {best['number']}'s config on all {len(data.train_labels):,} "
        "training images, then testing it once..."
    )
    trainer = train_run(cfg, data, run_dir)
    if trainer is None:
        return
    last = trainer.history[-1]
    final = {
        "trial": best["number"],
        "val_acc": best["val_acc"],
        "test_acc": last["test_acc"],
        "seconds": last["elapsed_s"],
        "run": str(run_dir),
        "config": cfg.to_dict(),
    }
    atomic_write(out_dir / FINAL_JSON, json.dumps(final, indent=1))
    out.print(
        f"Retrained best (trial {best['number']}) on all training images: test accuracy "
        f"{100 * last['test_acc']:.2f}% (validation {100 * best['val_acc']:.2f}%), "
        f"{last['elapsed_s']:.1f} s; run {run_dir}",
        highlight=False,
    )
