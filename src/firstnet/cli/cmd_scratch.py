"""`firstnet scratch`: the NumPy MLP with hand-derived gradients, trained into a run directory that
`firstnet eval` reads, or its gradients checked (--gradcheck)."""

from __future__ import annotations

import json
from pathlib import Path

from firstnet.cli import options
from firstnet.cli.console import error_table
from firstnet.config import TrainConfig
from firstnet.errors import CheckpointError
from firstnet.scratch.fit import CONFIG_FIELDS, FIXED_FIELDS
from firstnet.terminal import err, load_data, out


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


def show_gradcheck(seed: int) -> int:
    """Print the finite-difference and autograd errors of every activation; 1 if any is too
    large."""
    from firstnet import api
    from firstnet.scratch import gradcheck, parity

    with err.status("Checking gradients against finite differences and torch autograd..."):
        result = api.gradcheck(seed)
    numeric, autograd = result["finite_differences"], result["autograd"]
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
    passed = result["passed"]
    if passed:
        out.print("All gradients agree.", style="green")
    else:
        out.print("Some gradients disagree (in red).", style="bold red")
    return 0 if passed else 1


def scratch_command(args) -> int:
    """train the NumPy MLP with hand-derived gradients (784-H-H-10, SGD) into a run
    directory, or check its gradients with --gradcheck"""
    from firstnet import api, runs

    if args.gradcheck:
        return show_gradcheck(args.seed)
    cfg = TrainConfig(**FIXED_FIELDS, **{name: getattr(args, name) for name in CONFIG_FIELDS})
    run_dir = Path(args.runs_dir) / (args.name or f"scratch-{runs.default_name(cfg)}")
    # before loading data; scratch runs cannot resume
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise CheckpointError(f"{run_dir} already exists; pick another --name")
    data = load_data(args.data_dir, args.dataset)
    run_dir = runs.create_run_dir(run_dir.parent, run_dir.name, numbered=args.name is None)
    fields = {name: getattr(cfg, name) for name in CONFIG_FIELDS}
    run = api.train_numpy(data, path=run_dir, **fields)
    if not run.finished:
        return 130  # what was kept was said
    history, last = run.history, run.history[-1]
    if args.json:
        print(json.dumps({"run": str(run_dir), "model": "mlp (NumPy)", "history": history}))
        return 0
    test_size = len(data.subset(cfg.train_limit, cfg.test_limit).test_labels)
    errors = round((1 - last["test_acc"]) * test_size)
    out.print(
        f"[bold]scratch MLP (NumPy)[/]: test accuracy {100 * last['test_acc']:.2f}% "
        f"({errors} errors; train {100 * last['train_acc']:.2f}%) after {last['epoch']} epochs, "
        f"{last['elapsed_s']:.1f} s",
        markup=True,
    )
    out.print(f"Run directory: {run_dir} (firstnet eval {run_dir} evaluates it with the torch MLP)")
    return 0
