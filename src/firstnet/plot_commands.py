"""`firstnet plot FIGURE`: each figure computed from real numbers, then drawn (figures never train)."""

from __future__ import annotations

from firstnet import runs
from firstnet.commands import evaluate_run, get_data, sample_digits
from firstnet.console import out
from firstnet.errors import CheckpointError, ConfigError
from firstnet.landscape import gradient_intuition
from firstnet.viz.activations import plot_all_families
from firstnet.viz.figures import plot_curves
from firstnet.viz.landscape import plot_two_weight_landscape


def cmd_plot(args) -> int:
    """`firstnet plot FIGURE`: one function per figure, named after it."""
    commands = {"activations": plot_activations, "landscape": plot_landscape, "curves": plot_run_curves,
                "confusion": plot_run_confusion, "digits": plot_digits}
    return commands[args.figure](args)


def plot_landscape(args) -> int:
    intuition = gradient_intuition(seed=args.seed, steps=args.steps)
    out.print(str(plot_two_weight_landscape(intuition, args.out_dir / "landscape-two-weights.png")))
    for name, run in intuition["paths"].items():
        out.print(f"lr {run['lr']:.3g} ({name}): loss {run['loss'][0]:.3f} -> {run['loss'][-1]:.4f}")
    return 0


def plot_run_curves(args) -> int:
    history = runs.read_metrics(args.run)
    if not history:
        raise CheckpointError(f"{args.run} has no finished epoch in {runs.METRICS} to draw")
    out.print(str(plot_curves(history, args.out or args.run / "curves.png", title=f"{args.run.name}")))
    return 0


def plot_run_confusion(args) -> int:
    result = evaluate_run(args.run, get_data(args.data_dir), args.out_dir or args.run)
    out.print("\n".join(result["figures"]), soft_wrap=True)
    return 0


def plot_digits(args) -> int:
    if args.per_class < 1:
        raise ConfigError(f"--per-class must be at least 1, got {args.per_class}")
    out.print(str(sample_digits(get_data(args.data_dir), args.out, args.per_class)))
    return 0


def plot_activations(args) -> int:
    for path in plot_all_families(args.out_dir):
        out.print(str(path), soft_wrap=True)
    return 0
