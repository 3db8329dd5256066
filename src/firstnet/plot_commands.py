"""`firstnet plot FIGURE`: each figure computed from real numbers, then drawn (figures never train)."""

from __future__ import annotations

from firstnet import runs
from firstnet.commands import evaluate_run, get_data, sample_digits
from firstnet.console import out, task_bar
from firstnet.errors import CheckpointError, ConfigError
from firstnet.landscape import gradient_intuition
from firstnet.viz.activations import plot_all_families
from firstnet.viz.figures import plot_curves
from firstnet.viz.landscape import plot_two_weight_landscape


def cmd_plot(args) -> int:
    """`firstnet plot FIGURE`: one function per figure, named after it."""
    commands = {"activations": plot_activations, "landscape": plot_landscape, "curves": plot_run_curves,
                "confusion": plot_run_confusion, "digits": plot_digits, "boundary": plot_boundary}
    return commands[args.figure](args)


def plot_landscape(args) -> int:
    """(a) the two-weight problem, (b) a slice through a freshly trained MNIST MLP's loss; --part picks."""
    if args.part in ("a", "both"):
        intuition = gradient_intuition(seed=args.seed, steps=args.steps)
        out.print(str(plot_two_weight_landscape(intuition, args.out_dir / "landscape-two-weights.png")))
        for name, run in intuition["paths"].items():
            out.print(f"lr {run['lr']:.3g} ({name}): loss {run['loss'][0]:.3f} -> {run['loss'][-1]:.4f}")
    if args.part in ("b", "both"):
        plot_mnist_landscape(args)
    return 0


def plot_mnist_landscape(args) -> int:
    from firstnet.config import TrainConfig
    from firstnet.console import training_bar
    from firstnet.landscape_mnist import mnist_loss_slices
    from firstnet.viz.landscape import plot_mnist_slices

    cfg = TrainConfig(model="mlp", hidden=args.hidden, epochs=args.epochs, seed=args.seed)
    with training_bar("mlp") as show:
        slices, trainer = mnist_loss_slices(cfg, get_data(args.data_dir), size=args.grid, seed=args.seed,
                                            on_progress=show)
    last = trainer.history[-1]
    title = (f"MNIST MLP 784-{cfg.hidden}-{cfg.hidden}-10 after {cfg.epochs} epochs (test {last['test_acc']:.2%}): "
             f"cross-entropy on 2,000 training images, {args.grid}x{args.grid} grid per slice")
    out.print(str(plot_mnist_slices(slices, args.out_dir / "landscape-mnist.png", title)))
    for piece in slices:
        out.print(f"{piece.name} directions: loss {piece.loss.min():.3f} .. {piece.loss.max():.3f}, "
                  f"plane holds {100 * piece.captured:.2g}% of the training path")
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


def plot_boundary(args) -> int:
    """Train each model of --compare on a toy data set, then draw the animation from the snapshots."""
    from firstnet.boundary import boundary_configs, make_grid, train_with_snapshots
    from firstnet.data.toy import make_toy
    from firstnet.viz.boundary import render_frames, write_gif, write_mp4, write_png

    data = make_toy(args.dataset, args.points, args.noise, args.seed, args.classes)
    mlp = {"hidden": args.hidden, "depth": args.depth, "activation": args.activation}
    configs = boundary_configs(args.compare.split(","), args.steps, args.seed, data, mlp, args.lr)
    grid = make_grid(data, args.grid)
    runs_ = []
    with task_bar("training", args.steps * len(configs)) as advance:
        for cfg in configs:
            runs_.append(train_with_snapshots(cfg, data, grid, args.frames, on_step=advance))
    frames = render_frames(runs_, data, grid, f"Decision regions on {data.source}", args.dpi)
    stem = args.out_dir / f"boundary-{args.dataset}"
    written = [write_gif(frames, stem.with_suffix(".gif")), write_png(frames[-1], stem.with_suffix(".png"))]
    mp4 = write_mp4(frames, stem.with_suffix(".mp4")) if args.mp4 else None
    written += [mp4] if mp4 else []
    for run in runs_:
        last = run.history[-1]
        out.print(f"{run.label}: train {last['train_acc']:.1%}, test {last['test_acc']:.1%} "
                  f"after {last['epoch']} steps ({last['elapsed_s']:.1f} s)")
    out.print(f"{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]} pixels"
              + ("" if mp4 or not args.mp4 else " (no ffmpeg found: MP4 skipped)"))
    for path in written:
        out.print(str(path), soft_wrap=True)
    return 0
