"""`firstnet plot FIGURE`: each figure computed from real numbers, then drawn; one handler per
figure.

The figure modules (matplotlib, torch) are imported by the handler that draws them, never by --help.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from firstnet.activations import ACTIVATIONS
from firstnet.cli import options
from firstnet.cli.console import evaluated
from firstnet.data.datasets import DATASETS
from firstnet.data.toy import TOY_DATASETS
from firstnet.errors import CheckpointError, ConfigError
from firstnet.terminal import load_data, out, training_bar

FIGURES_DIR = Path("runs/figures")


def add_parser(sub) -> None:
    """`firstnet plot FIGURE`: one nested subcommand per figure."""
    help_text = "draw the lecture's pictures from real numbers"
    plot = sub.add_parser("plot", formatter_class=options.HelpFormatter, help=help_text)
    figures = plot.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    options.add(options.add_command(figures, "activations", plot_activations), "figures-dir")
    add_landscape_parser(figures)
    curves = options.add_command(figures, "curves", plot_run_curves)
    options.add(curves, "run")
    curves.add_argument("--out", type=Path, help="PNG path (default: RUN/curves.png)")
    confusion = options.add_command(figures, "confusion", plot_run_confusion)
    options.add(confusion, "run", "run-out-dir", "data")
    digits = options.add_command(figures, "digits", plot_digits)
    digits.add_argument("--out", type=Path, default=FIGURES_DIR / "digits.png", help="PNG path")
    digits.add_argument("--per-class", type=int, default=4, help="digits shown per class")
    options.add(digits, "data", "dataset")
    add_boundary_parser(figures)


def add_landscape_parser(figures) -> None:
    landscape = options.add_command(figures, "landscape", plot_landscape)
    add = landscape.add_argument
    part = "a: two-weight problem (seconds); b: MNIST MLP slice (trains one, under a minute)"
    add("--part", choices=("a", "b", "both"), default="both", help=part)
    options.add(landscape, "figures-dir")
    add("--steps", type=int, default=40, help="(a) gradient-descent steps per path")
    add("--seed", type=int, default=0, help="seed of the data (a), weights and directions (b)")
    add("--hidden", type=int, default=256, help="(b) units per hidden layer of the MLP")
    add("--epochs", type=int, default=5, help="(b) training epochs of the MLP")
    add("--grid", type=int, default=21, help="(b) grid points per side of each slice")
    options.add(landscape, "data", "dataset")


def add_boundary_parser(figures) -> None:
    add = options.add_command(figures, "boundary", plot_boundary).add_argument
    add("--dataset", choices=TOY_DATASETS, default="spirals", help="2-D data set")
    classes = "spirals and blobs: number of classes (default: 2; moons, circles and xor have 2)"
    add("--classes", type=int, help=classes)
    add("--points", type=int, default=800, help="points in all, half of them held out as test")
    add("--noise", type=float, default=0.05, help="standard deviation of the Gaussian noise")
    add("--seed", type=int, default=0, help="seed of the data and the initial weights")
    models = "models side by side, comma-separated: linear, mlp, or mlp:HIDDEN:DEPTH:ACTIVATION"
    add("--compare", default="linear,mlp", help=models + " (e.g. linear,mlp:64:3:tanh)")
    add("--hidden", type=int, default=32, help="MLP: units per hidden layer")
    add("--depth", type=int, default=2, help="MLP: hidden layers")
    add("--activation", choices=tuple(ACTIVATIONS), default="relu", help="MLP: activation")
    add("--steps", type=int, default=600, help="full-batch gradient-descent steps")
    add("--lr", type=float, default=0.3, help="learning rate (SGD, momentum 0.9)")
    add("--frames", type=int, default=60, help="frames of the animation")
    add("--grid", type=int, default=150, help="grid points per side of the decision regions")
    add("--dpi", type=int, default=80, help="frame resolution: 80 gives 960 pixels across")
    mp4 = "also write an MP4 when ffmpeg is installed"
    add("--mp4", action=argparse.BooleanOptionalAction, default=True, help=mp4)
    add("--out-dir", type=Path, default=FIGURES_DIR, help="where the files go")


def plot_activations(args) -> int:
    """each activation family beside its derivatives, problems marked (default: into
    runs/figures)"""
    from firstnet.figures.activation_families import plot_all_families

    for path in plot_all_families(args.out_dir):
        out.print(str(path), soft_wrap=True)
    return 0


def plot_landscape(args) -> int:
    """(a) loss surface and gradient field of a two-weight problem with descent paths; (b) a 2-D
    slice of a trained MNIST MLP's loss with its training path"""
    if args.part in ("a", "both"):
        from firstnet.figures.loss_surface import gradient_intuition, plot_two_weight_landscape

        intuition = gradient_intuition(seed=args.seed, steps=args.steps)
        out.print(
            str(plot_two_weight_landscape(intuition, args.out_dir / "landscape-two-weights.png"))
        )
        for name, run in intuition["paths"].items():
            out.print(
                f"lr {run['lr']:.3g} ({name}): loss {run['loss'][0]:.3f} -> {run['loss'][-1]:.4f}"
            )
    if args.part in ("b", "both"):
        plot_mnist_landscape(args)
    return 0


def plot_mnist_landscape(args) -> None:
    from firstnet.config import TrainConfig
    from firstnet.figures.loss_slice import mnist_loss_slices, plot_mnist_slices

    cfg = TrainConfig(
        dataset=args.dataset, model="mlp", hidden=args.hidden, epochs=args.epochs, seed=args.seed
    )
    data = load_data(args.data_dir, args.dataset)
    name = DATASETS[args.dataset].title
    with training_bar("mlp") as show:
        slices, trainer = mnist_loss_slices(
            cfg, data, size=args.grid, seed=args.seed, on_progress=show
        )
    last = trainer.history[-1]
    heading = (
        f"{name} MLP 784-{cfg.hidden}-{cfg.hidden}-10 after {cfg.epochs} epochs "
        f"(test {last['test_acc']:.2%}): cross-entropy on 2,000 training images, "
        f"{args.grid}x{args.grid} grid per slice"
    )
    path = args.out_dir / f"landscape-{args.dataset}.png"
    out.print(str(plot_mnist_slices(slices, path, heading)))
    for piece in slices:
        out.print(
            f"{piece.name} directions: loss {piece.loss.min():.3f} .. {piece.loss.max():.3f}, "
            f"plane holds {100 * piece.captured:.2g}% of the training path"
        )


def plot_run_curves(args) -> int:
    """loss and accuracy per epoch of a run"""
    from firstnet import catalog, runs
    from firstnet.figures.curves import plot_curves

    run = catalog.find_run(args.run)
    runs.read_config(run)  # "not a firstnet run directory" before "no finished epoch"
    history = runs.read_metrics(run)
    if not history:
        raise CheckpointError(f"{run} has no finished epoch in {runs.METRICS} to draw")
    path = plot_curves(history, args.out or run / "curves.png", title=f"{run.name}")
    out.print(str(path))
    return 0


def plot_run_confusion(args) -> int:
    """confusion matrix and most confident errors of a run on the test set"""
    figures = evaluated(args.run, args.data_dir, args.out_dir)[3]
    out.print("\n".join(figures), soft_wrap=True)
    return 0


def plot_digits(args) -> int:
    """a grid of MNIST training digits"""
    if args.per_class < 1:
        raise ConfigError(f"--per-class must be at least 1, got {args.per_class}")
    from firstnet.figures.digits import sample_digits

    out.print(str(sample_digits(load_data(args.data_dir, args.dataset), args.out, args.per_class)))
    return 0


def plot_boundary(args) -> int:
    """animation: decision regions of models training on 2-D toy data, beside their loss and
    accuracy curves (GIF, PNG of the last frame, MP4)

    Trains each model of --compare on a toy data set, then draws the animation from the snapshots
    (`firstnet.api.decision_boundary`).
    """
    from firstnet import api
    from firstnet.atomic import atomic_write
    from firstnet.figures import boundary

    mlp = {"hidden": args.hidden, "depth": args.depth, "activation": args.activation}
    result = api.decision_boundary(
        args.dataset, tuple(args.compare.split(",")), mlp, args.steps, args.frames, args.points,
        args.noise, args.classes, args.lr, args.seed, args.grid, args.dpi,
    )  # fmt: skip
    frames, stem = result.frames, args.out_dir / f"boundary-{args.dataset}"
    written = [
        atomic_write(stem.with_suffix(".gif"), result.gif),
        atomic_write(stem.with_suffix(".png"), result.png),
    ]
    mp4 = boundary.write_mp4(frames, stem.with_suffix(".mp4")) if args.mp4 else None
    written += [mp4] if mp4 else []
    for run in result.runs:
        last = run.history[-1]
        out.print(
            f"{run.label}: train {last['train_acc']:.1%}, test {last['test_acc']:.1%} "
            f"after {last['epoch']} steps ({last['elapsed_s']:.1f} s)"
        )
    skipped = "" if mp4 or not args.mp4 else " (no ffmpeg found: MP4 skipped)"
    out.print(f"{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]} pixels{skipped}")
    for path in written:
        out.print(str(path), soft_wrap=True)
    return 0
