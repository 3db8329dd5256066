"""`firstnet scratch`: the NumPy MLP with hand-derived gradients, trained into a run directory that
`firstnet eval` reads, or its gradients checked (--gradcheck)."""

from __future__ import annotations

import json
from pathlib import Path

from firstnet.cli import options
from firstnet.cli.console import error_table, load_data
from firstnet.config import TrainConfig
from firstnet.errors import CheckpointError
from firstnet.scratch.fit import CONFIG_FIELDS, FIXED_FIELDS
from firstnet.terminal import err, out, training_bar


def add_parser(sub) -> None:
    scratch = options.add_command(sub, "scratch", scratch_command)
    check = "instead of training, check the gradients of every activation against finite"
    check += " differences and torch autograd and print the errors"
    scratch.add_argument("--gradcheck", action="store_true", help=check)
    options.add_config_options(scratch, CONFIG_FIELDS, model="mlp")
    options.add(scratch, "runs-dir")
    name = "run directory name (default: scratch-mlp-YYYYmmdd-HHMMSS)"
    scratch.add_argument("--name", help=name)
    options.add(scratch, "json")
    options.add(scratch, "data")


def scratch_run(cfg: TrainConfig, data, run_dir: Path):
    """Train the NumPy MLP with a progress bar into `run_dir`, a run directory `firstnet eval`
    reads.

    Weights are saved under the torch MLP's names, so `runs.load_model` rebuilds it from
    config.json. A Ctrl-C leaves config.json and the finished epochs' metrics (each file written
    atomically), no model.
    """
    import torch

    from firstnet import runs
    from firstnet.figures.curves import plot_curves
    from firstnet.scratch import ScratchTrainer
    from firstnet.scratch.parity import to_torch_mlp

    trainer = ScratchTrainer(cfg, data)
    extra = {"trainer": "firstnet.scratch (NumPy)"}
    runs.write_config(run_dir, cfg, torch.device("cpu"), data.source, extra=extra)
    with training_bar("scratch") as show:
        trainer.run(show, on_epoch=lambda _record: runs.write_metrics(run_dir, trainer.history))
    plot_curves(
        trainer.history, run_dir / "curves.png", title=f"scratch (NumPy) MLP: {run_dir.name}"
    )
    # The torch MLP's full state: PReLU's slopes, which the NumPy MLP keeps fixed, saved at that
    # value.
    runs.save_model(run_dir, cfg, to_torch_mlp(trainer.params, cfg.activation).state_dict())
    return trainer


def show_gradcheck(seed: int) -> int:
    """Print the finite-difference and autograd errors of every activation; 1 if any is too
    large."""
    from firstnet.scratch import gradcheck, parity

    with err.status("Checking gradients against finite differences and torch autograd..."):
        numeric = gradcheck.check_all_activations(seed)
        autograd = parity.check_all_activations(seed)
    sizes, hidden = "-".join(map(str, gradcheck.GRADCHECK_SIZES)), parity.PARITY_HIDDEN
    checks = [
        (
            f"Finite differences, float64, {sizes} MLP, batch {gradcheck.GRADCHECK_BATCH}: "
            "max relative error",
            numeric,
            gradcheck.TOLERANCE,
        ),
        (
            f"torch autograd, float64, 784-{hidden}-{hidden}-10 MLP, batch {parity.PARITY_BATCH}: "
            "max absolute difference",
            autograd,
            parity.PARITY_TOLERANCE,
        ),
    ]
    for title, errors, tolerance in checks:
        out.print(error_table(title, errors, tolerance))
    worst = [
        (max(max(row.values()) for row in errors.values()), tolerance)
        for _, errors, tolerance in checks
    ]
    passed = all(error < tolerance for error, tolerance in worst)
    out.print(
        "[green]All gradients agree." if passed else "[bold red]Some gradients disagree (in red)."
    )
    return 0 if passed else 1


def scratch_command(args) -> int:
    """train the NumPy MLP with hand-derived gradients (784-H-H-10, SGD) into a run
    directory, or check its gradients with --gradcheck"""
    from firstnet import runs

    if args.gradcheck:
        return show_gradcheck(args.seed)
    cfg = TrainConfig(**FIXED_FIELDS, **{name: getattr(args, name) for name in CONFIG_FIELDS})
    run_dir = Path(args.runs_dir) / (args.name or f"scratch-{runs.default_name(cfg)}")
    # before loading data; scratch runs cannot resume
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise CheckpointError(f"{run_dir} already exists; pick another --name")
    data = load_data(args.data_dir, args.dataset)
    run_dir = runs.create_run_dir(run_dir.parent, run_dir.name, numbered=args.name is None)
    with runs.claim(run_dir, fresh=True):
        last = scratch_run(cfg, data, run_dir).history[-1]
    if args.json:
        history = runs.read_metrics(run_dir)
        print(json.dumps({"run": str(run_dir), "model": "mlp (NumPy)", "history": history}))
        return 0
    test_size = len(data.subset(cfg.train_limit, cfg.test_limit).test_labels)
    errors = round((1 - last["test_acc"]) * test_size)
    out.print(
        f"[bold]scratch MLP (NumPy)[/]: test accuracy {100 * last['test_acc']:.2f}% "
        f"({errors} errors; train {100 * last['train_acc']:.2f}%) after {last['epoch']} epochs, "
        f"{last['elapsed_s']:.1f} s"
    )
    out.print(f"Run directory: {run_dir} (firstnet eval {run_dir} evaluates it with the torch MLP)")
    return 0
