"""`firstnet train`: a model trained into a run directory, or a stopped one continued."""

from __future__ import annotations

import json
from pathlib import Path

from firstnet.cli import options
from firstnet.cli.console import report_epoch
from firstnet.terminal import load_data, out


def add_parser(sub) -> None:
    train = options.add_command(sub, "train", train_command)
    options.add_config_options(train)
    options.add(train, "config")
    options.add(train, "runs-dir")
    train.add_argument("--name", help="run directory name (default: MODEL-YYYYmmdd-HHMMSS)")
    resume = "continue an interrupted run; its config.json wins over the options above (default:"
    train.add_argument("--resume", type=Path, metavar="RUN", help=resume + " start a new run)")
    options.add(train, "json")
    options.add(train, "data", "threads")


def final_line(model: str, history: list[dict], epochs: float | None = None) -> str:
    """The last epoch's numbers, and the best epoch's when that was another one; `epochs`, the
    config's count, says a fractional one (1.5) as it is."""
    last, best = history[-1], max(history, key=lambda record: record["test_acc"])
    text = f"[bold]{model}[/]: test accuracy {100 * last['test_acc']:.2f}% after the last epoch"
    if best["epoch"] != last["epoch"]:
        text += f" (best {100 * best['test_acc']:.2f}% after epoch {best['epoch']})"
    return text + (
        f"; train {100 * last['train_acc']:.2f}%; {epochs or last['epoch']} epochs, "
        f"{last['elapsed_s']:.1f} s"
    )


def check_hardware(cfg) -> None:
    """A ConfigError now, before the run folder exists, if --device or --precision cannot run."""
    from firstnet.device import resolve_device, resolve_precision

    resolve_precision(cfg.precision, resolve_device(cfg.device))


def train_command(args) -> int:
    """train a model into a run directory"""
    from firstnet import api, catalog, runs

    if args.resume:
        run_dir = catalog.find_run(args.resume, args.runs_dir)
        cfg = runs.resumable_config(run_dir)  # before the data load: a finished run is refused
    else:
        cfg = options.config_from_args(args)
        check_hardware(cfg)  # before a folder is made: a refused --device leaves nothing behind
    data = load_data(args.data_dir, cfg.dataset)
    if args.resume:
        run = api.resume(run_dir, data, on_epoch=report_epoch)
    else:
        name = args.name or runs.default_name(cfg)
        run_dir = runs.create_run_dir(args.runs_dir, name, numbered=args.name is None)
        run = api.train(data=data, path=run_dir, on_epoch=report_epoch, **cfg.to_dict())
    if not run.finished:
        return 130  # the checkpoint is kept; how to continue it was said
    if args.json:
        print(json.dumps({"run": str(run_dir), "model": cfg.model, "history": run.history}))
        return 0
    out.print(final_line(cfg.model, run.history, run.config.epochs), markup=True)
    out.print(f"Run directory: {run_dir}")
    return 0
