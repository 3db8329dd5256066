"""What each subcommand does. Thin: library calls in, printed results and exit codes out."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from firstnet import bench, runs
from firstnet.config import TrainConfig
from firstnet.console import err, error_table, out, stop_on_sigint, training_bar
from firstnet.data import MNIST, load_mnist
from firstnet.errors import CheckpointError, ConfigError
from firstnet.evaluate import confusion_matrix, per_class_accuracy, worst_errors
from firstnet.preprocess import load_image, mnist_like
from firstnet.scratch import ScratchTrainer
from firstnet.scratch import gradcheck as scratch_gradcheck
from firstnet.scratch import parity as scratch_parity
from firstnet.scratch.train import CONFIG_FIELDS as SCRATCH_FIELDS
from firstnet.scratch.train import FIXED_FIELDS as SCRATCH_FIXED
from firstnet.train import Trainer
from firstnet.viz.figures import plot_confusion, plot_curves, plot_digit_grid, plot_errors


def get_data(data_dir: Path | None) -> MNIST:
    with err.status("Loading MNIST..."):
        return load_mnist(data_dir)


def data_summary(data: MNIST) -> dict:
    """The lecture's questions about the data set, answered from the arrays."""
    pixels = data.train_images.astype(np.float32) / 255
    return {
        "dimension": int(np.prod(data.train_images.shape[1:])), "num_classes": data.num_classes,
        "train_size": len(data.train_labels), "test_size": len(data.test_labels),
        "train_class_counts": np.bincount(data.train_labels, minlength=10).tolist(),
        "test_class_counts": np.bincount(data.test_labels, minlength=10).tolist(),
        "pixel_mean": float(pixels.mean()), "pixel_std": float(pixels.std()),
    }


def cmd_data(args) -> int:
    show_data(get_data(args.data_dir), args.out)
    return 0


def show_data(data: MNIST, samples_path: Path) -> dict:
    """Print the data questions' answers, write the sample grid, return the summary."""
    summary = data_summary(data)
    table = Table(title=f"MNIST ({data.source})")
    table.add_column("question")
    table.add_column("answer")
    table.add_row("D (dimension of a sample)", f"{summary['dimension']} = 28 x 28 pixels")
    table.add_row("number of classes", f"{summary['num_classes']} (digits 0-9)")
    table.add_row("train / test images", f"{summary['train_size']:,} / {summary['test_size']:,}")
    table.add_row("train images per class", " ".join(map(str, summary["train_class_counts"])))
    table.add_row("test images per class", " ".join(map(str, summary["test_class_counts"])))
    table.add_row("pixel mean / std (on [0, 1])", f"{summary['pixel_mean']:.4f} / {summary['pixel_std']:.4f}")
    table.add_row("linearly separable?", "measure it: firstnet train --model linear (train accuracy < 100% = no)")
    out.print(table)
    out.print(f"Sample digits: {sample_digits(data, samples_path)}")
    return summary


def sample_digits(data: MNIST, path: Path, per_class: int = 4) -> Path:
    """A PNG grid of the first `per_class` training images of each digit: one column per class."""
    first = np.stack([np.flatnonzero(data.train_labels == c)[:per_class] for c in range(10)], axis=1).ravel()
    return plot_digit_grid(data.train_images[first], data.train_labels[first], path, columns=10)


def train_run(cfg: TrainConfig, data: MNIST, run_dir: Path, resume: bool = False) -> Trainer | None:
    """Train (or continue) a run with a progress bar; the trainer when finished, None if stopped."""
    trainer = Trainer(cfg, data)
    if resume:
        runs.restore_checkpoint(run_dir, trainer)
    else:
        runs.write_config(run_dir, cfg, trainer.device, data.source)
    with training_bar(cfg.model) as show, stop_on_sigint() as stop:
        finished = runs.run_training(trainer, run_dir, show, stop)
    if trainer.history:
        plot_curves(trainer.history, run_dir / "curves.png", title=f"{cfg.model}: {run_dir.name}")
    if not finished:
        err.print(f"Checkpoint saved. Continue with: firstnet train --resume {run_dir}")
        return None
    return trainer


def cmd_train(args) -> int:
    if args.resume:
        run_dir = args.resume
        cfg = runs.read_config(run_dir)
        if (run_dir / runs.MODEL).is_file():
            raise CheckpointError(f"{run_dir} is already finished ({cfg.epochs} epochs); nothing to resume")
    else:
        fields = {name: getattr(args, name) for name in TrainConfig.__dataclass_fields__}
        cfg = TrainConfig(**fields)
    data = get_data(args.data_dir)
    if not args.resume:
        run_dir = runs.create_run_dir(args.runs_dir, args.name or runs.default_name(cfg))
    trainer = train_run(cfg, data, run_dir, resume=bool(args.resume))
    if trainer is None:
        return 130
    last = trainer.history[-1]
    out.print(f"[bold]{cfg.model}[/]: test accuracy {100 * last['test_acc']:.2f}% "
              f"(train {100 * last['train_acc']:.2f}%) after {last['epoch']} epochs, {last['elapsed_s']:.1f} s")
    out.print(f"Run directory: {run_dir}")
    return 0


def cmd_bench(args) -> int:
    values = {name: getattr(args, name) for name in TrainConfig.__dataclass_fields__ if hasattr(args, name)}
    cfg = TrainConfig(**values)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    data = get_data(args.data_dir)
    histories = []
    for seed in range(args.seeds):
        trainer = Trainer(dataclasses.replace(cfg, seed=seed), data)
        with training_bar(f"{cfg.model} seed {seed}") as show:
            histories.append(trainer.run(show))
    env = runs.environment(trainer.device)
    result = bench.summarize(histories) | {"model": cfg.model, "precision": trainer.precision,
                                           "config": cfg.to_dict(), "environment": env}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    hardware = env.get("gpu") or f"{env['cpu']}, {env['cpu_count']} cores"
    out.print(f"[bold]{cfg.model}[/]: test accuracy {100 * result['test_acc_mean']:.2f} ± "
              f"{100 * result['test_acc_std']:.2f}% (n={result['runs']}, min {100 * result['test_acc_min']:.2f}%), "
              f"median {result['seconds_median']:.1f} s training + evaluation")
    out.print(f"{hardware}; torch {env['torch']} ({env['torch_threads']} threads), {trainer.precision}")
    return 0


def evaluate_run(run_dir: Path, data: MNIST, out_dir: Path) -> dict:
    """Accuracy figures of a finished run on the test set, plus confusion and worst-error PNGs."""
    cfg, model = runs.load_model(run_dir)
    images = torch.tensor(data.test_images).unsqueeze(1)  # (N, 1, 28, 28) uint8
    labels = torch.tensor(data.test_labels, dtype=torch.int64)
    probabilities = runs.probabilities(cfg, model, images)
    predictions = probabilities.argmax(1)
    matrix = confusion_matrix(labels, predictions)
    worst = worst_errors(probabilities, labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(matrix.numpy(), out_dir / "confusion.png", title=f"{cfg.model}: confusion on the test set")
    plot_errors(data.test_images[worst.numpy()], data.test_labels[worst.numpy()], predictions[worst].numpy(),
                probabilities[worst].max(1).values.numpy(), out_dir / "errors.png")
    return {"run": str(run_dir), "model": cfg.model, "accuracy": (predictions == labels).double().mean().item(),
            "per_class_accuracy": per_class_accuracy(matrix).tolist(), "errors": int((predictions != labels).sum()),
            "test_size": len(labels), "confusion_matrix": matrix.tolist(),
            "figures": [str(out_dir / "confusion.png"), str(out_dir / "errors.png")]}


def cmd_eval(args) -> int:
    result = evaluate_run(args.run, get_data(args.data_dir), args.out_dir or args.run)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    table = Table(title=f"{result['model']} on the MNIST test set: {100 * result['accuracy']:.2f}% "
                        f"({result['errors']} errors in {result['test_size']:,})")
    table.add_column("class", justify="right")
    table.add_column("accuracy", justify="right")
    for digit, accuracy in enumerate(result["per_class_accuracy"]):
        table.add_row(str(digit), f"{100 * accuracy:.2f}%")
    out.print(table)
    out.print("Figures: " + ", ".join(result["figures"]))
    return 0


def cmd_predict(args) -> int:
    cfg, model = runs.load_model(args.run)
    results = []
    for path in args.images:
        image = torch.from_numpy(mnist_like(load_image(path)))[None, None]  # (1, 1, 28, 28)
        probabilities = runs.probabilities(cfg, model, image)[0]
        results.append({"image": str(path), "prediction": int(probabilities.argmax()),
                        "probabilities": [round(p, 6) for p in probabilities.tolist()]})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        probs = "  ".join(f"{d}:{100 * p:4.1f}%" for d, p in enumerate(result["probabilities"]))
        out.print(f"{result['image']}: [bold]{result['prediction']}[/]  ({probs})")
    return 0


def scratch_run(cfg: TrainConfig, data: MNIST, run_dir: Path) -> ScratchTrainer:
    """Train the NumPy MLP with a progress bar into `run_dir`, a run directory `firstnet eval` reads.

    Weights are saved under the torch MLP's names, so `runs.load_model` rebuilds it from config.json. A Ctrl-C
    leaves config.json and the finished epochs' metrics (each file written atomically) but no model.
    """
    trainer = ScratchTrainer(cfg, data)
    runs.write_config(run_dir, cfg, torch.device("cpu"), data.source, extra={"trainer": "firstnet.scratch (NumPy)"})
    with training_bar("scratch") as show:
        trainer.run(show, on_epoch=lambda _record: runs.write_metrics(run_dir, trainer.history))
    plot_curves(trainer.history, run_dir / "curves.png", title=f"scratch (NumPy) MLP: {run_dir.name}")
    # The torch MLP's full state: PReLU's slopes, which the NumPy MLP keeps fixed, are saved at their fixed value.
    state = scratch_parity.to_torch_mlp(trainer.params, cfg.activation).state_dict()
    runs.save_model(run_dir, cfg, state)
    return trainer


def show_gradcheck(seed: int) -> int:
    """Print the finite-difference and autograd errors of every activation; exit status 1 if any is too large."""
    with err.status("Checking gradients against finite differences and torch autograd..."):
        numeric = scratch_gradcheck.check_all_activations(seed)
        autograd = scratch_parity.check_all_activations(seed)
    sizes, hidden = "-".join(map(str, scratch_gradcheck.GRADCHECK_SIZES)), scratch_parity.PARITY_HIDDEN
    checks = [(f"Finite differences, float64, {sizes} MLP, batch {scratch_gradcheck.GRADCHECK_BATCH}: max relative "
               "error", numeric, scratch_gradcheck.TOLERANCE),
              (f"torch autograd, float64, 784-{hidden}-{hidden}-10 MLP, batch {scratch_parity.PARITY_BATCH}: max "
               "absolute difference", autograd, scratch_parity.PARITY_TOLERANCE)]
    for title, errors, tolerance in checks:
        out.print(error_table(title, errors, tolerance))
    worst = [(max(max(row.values()) for row in errors.values()), tolerance) for _, errors, tolerance in checks]
    passed = all(error < tolerance for error, tolerance in worst)
    out.print("[green]All gradients agree." if passed else "[bold red]Some gradients disagree (in red).")
    return 0 if passed else 1


def cmd_scratch(args) -> int:
    if args.gradcheck:
        return show_gradcheck(args.seed)
    cfg = TrainConfig(**SCRATCH_FIXED, **{name: getattr(args, name) for name in SCRATCH_FIELDS})
    run_dir = Path(args.runs_dir) / (args.name or f"scratch-{runs.default_name(cfg)}")
    if run_dir.is_dir() and any(run_dir.iterdir()):  # before loading data; and scratch runs cannot --resume
        raise CheckpointError(f"{run_dir} already exists; pick another --name")
    data = get_data(args.data_dir)
    runs.create_run_dir(run_dir.parent, run_dir.name)
    last = scratch_run(cfg, data, run_dir).history[-1]
    errors = round((1 - last["test_acc"]) * len(data.subset(cfg.train_limit, cfg.test_limit).test_labels))
    out.print(f"[bold]scratch MLP (NumPy)[/]: test accuracy {100 * last['test_acc']:.2f}% ({errors} errors; train "
              f"{100 * last['train_acc']:.2f}%) after {last['epoch']} epochs, {last['elapsed_s']:.1f} s")
    out.print(f"Run directory: {run_dir} (firstnet eval {run_dir} evaluates it with the torch MLP)")
    return 0


def cmd_demo(args) -> int:
    from firstnet.report import claims_table  # the demo's own view of the results

    data = get_data(args.data_dir)
    summary, results = show_data(data, args.runs_dir / "mnist-samples.png"), {}
    for model in ("linear", "mlp", "cnn"):
        cfg = TrainConfig(model=model, seed=args.seed)
        run_dir = runs.create_run_dir(args.runs_dir, runs.default_name(cfg))
        trainer = train_run(cfg, data, run_dir)
        if trainer is None:
            return 130
        results[model] = trainer.history[-1] | {"run": str(run_dir)}
    out.print(claims_table(summary, results))
    return 0
