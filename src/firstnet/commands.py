"""What each subcommand does. Thin: library calls in, printed results and exit codes out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from firstnet import runs
from firstnet.config import TrainConfig
from firstnet.console import err, out, stop_on_sigint, training_bar
from firstnet.data import MNIST, load_mnist
from firstnet.errors import CheckpointError
from firstnet.evaluate import confusion_matrix, per_class_accuracy, predict_logits, worst_errors
from firstnet.preprocess import load_image, mnist_like
from firstnet.train import Trainer
from firstnet.viz.figures import plot_confusion, plot_curves, plot_digit_grid, plot_errors


def get_data(data_dir: Path | None) -> MNIST:
    with err.status("Loading MNIST..."):
        return load_mnist(data_dir, progress=lambda name, done, total: None)


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
    first = np.concatenate([np.flatnonzero(data.train_labels == c)[:4] for c in range(10)])
    path = plot_digit_grid(data.train_images[first], data.train_labels[first], samples_path)
    out.print(f"Sample digits: {path}")
    return summary


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


def evaluate_run(run_dir: Path, data: MNIST, out_dir: Path) -> dict:
    """Accuracy figures of a finished run on the test set, plus confusion and worst-error PNGs."""
    cfg, model = runs.load_model(run_dir)
    images = torch.tensor(data.test_images).unsqueeze(1)  # (N, 1, 28, 28) uint8
    labels = torch.tensor(data.test_labels, dtype=torch.int64)
    probabilities = predict_logits(model, images).softmax(1)
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
        probabilities = predict_logits(model, image).softmax(1)[0]
        results.append({"image": str(path), "prediction": int(probabilities.argmax()),
                        "probabilities": [round(p, 6) for p in probabilities.tolist()]})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        probs = "  ".join(f"{d}:{100 * p:4.1f}%" for d, p in enumerate(result["probabilities"]))
        out.print(f"{result['image']}: [bold]{result['prediction']}[/]  ({probs})")
    return 0


def cmd_demo(args) -> int:
    from firstnet.report import claims_table  # the demo's own view of the results

    data = get_data(args.data_dir)
    summary, results = show_data(data, args.runs_dir / "mnist-samples.png"), {}
    for model in ("linear", "mlp"):
        cfg = TrainConfig(model=model, seed=args.seed)
        run_dir = runs.create_run_dir(args.runs_dir, runs.default_name(cfg))
        trainer = train_run(cfg, data, run_dir)
        if trainer is None:
            return 130
        results[model] = trainer.history[-1] | {"run": str(run_dir)}
    out.print(claims_table(summary, results))
    return 0
