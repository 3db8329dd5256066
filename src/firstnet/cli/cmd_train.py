"""`firstnet train`, `eval` and `predict`: the commands that make and use run directories."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.table import Table

from firstnet.atomic import atomic_write
from firstnet.cli import options
from firstnet.cli.console import load_run_data
from firstnet.datasets import DATASETS
from firstnet.errors import ImageError
from firstnet.terminal import err, load_data, out


def add_parser(sub) -> None:
    train = options.add_command(sub, "train", train_command)
    options.add_config_options(train)
    options.add(train, "config")
    options.add(train, "runs-dir")
    train.add_argument("--name", help="run directory name (default: MODEL-YYYYmmdd-HHMMSS)")
    resume = "continue an interrupted run; its config.json wins over the options above (default:"
    train.add_argument("--resume", type=Path, metavar="RUN", help=resume + " start a new run)")
    options.add(train, "json")
    options.add(train, "data")
    evaluate = options.add_command(sub, "eval", eval_command)
    options.add(evaluate, "run", "json", "run-out-dir", "data")
    predict = options.add_command(sub, "predict", predict_command)
    options.add(predict, "run")
    predict.add_argument("images", type=Path, nargs="+", help="image files (PNG, JPEG, ...)")
    options.add(predict, "json")
    show = "print the 28x28 image the model was given, as text, under each answer"
    predict.add_argument("--show", action="store_true", help=show)
    save = "also write each 28x28 model input as DIR/<image name>.png (default: do not)"
    predict.add_argument("--save-input", type=Path, metavar="DIR", help=save)


def report_epoch(record: dict) -> None:
    """The test numbers after each epoch, under the progress bars: watch for overfitting."""
    err.print(
        f"  epoch {record['epoch']}: test accuracy {100 * record['test_acc']:.2f}%, "
        f"test loss {record['test_loss']:.4f} (train {100 * record['train_acc']:.2f}%)",
        highlight=False,
    )


def final_line(model: str, history: list[dict]) -> str:
    """The last epoch's numbers, and the best epoch's when that was another one."""
    last, best = history[-1], max(history, key=lambda record: record["test_acc"])
    text = f"[bold]{model}[/]: test accuracy {100 * last['test_acc']:.2f}% after the last epoch"
    if best["epoch"] != last["epoch"]:
        text += f" (best {100 * best['test_acc']:.2f}% after epoch {best['epoch']})"
    return text + (
        f"; train {100 * last['train_acc']:.2f}%; {last['epoch']} epochs, {last['elapsed_s']:.1f} s"
    )


def check_hardware(cfg) -> None:
    """A ConfigError now, before the run folder exists, if --device or --precision cannot run."""
    from firstnet.device import resolve_device, resolve_precision

    resolve_precision(cfg.precision, resolve_device(cfg.device))


def train_command(args) -> int:
    """train a model into a run directory"""
    from firstnet import api, runs

    if args.resume:
        run_dir = runs.find_run(args.resume, args.runs_dir)
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
    out.print(final_line(cfg.model, run.history))
    out.print(f"Run directory: {run_dir}")
    return 0


# what `firstnet eval --json` prints
EVAL_KEYS = (
    "run",
    "model",
    "accuracy",
    "per_class_accuracy",
    "errors",
    "test_size",
    "confusion_matrix",
    "figures",
)


def eval_command(args) -> int:
    """test accuracy, per-class accuracy, confusion matrix and worst errors"""
    from firstnet.figures.confusion import confusion_figures
    from firstnet.runs import find_run

    run = find_run(args.run)
    data = load_run_data(run, args.data_dir)
    report = confusion_figures(run, data, args.out_dir or run)
    result = {key: report[key] for key in EVAL_KEYS}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    dataset = DATASETS[data.dataset]
    out.print(
        f"{result['model']} on the {dataset.title} test set: {100 * result['accuracy']:.2f}% "
        f"({result['errors']} errors in {result['test_size']:,})"
    )
    table = Table()
    table.add_column("class", justify="right")
    table.add_column("accuracy", justify="right")
    for name, accuracy in zip(dataset.classes, result["per_class_accuracy"], strict=True):
        table.add_row(name, f"{100 * accuracy:.2f}%")
    out.print(table)
    out.print("Figures: " + ", ".join(result["figures"]))
    return 0


SHADES = " .:-=+*#%@"  # dark to bright, for --show


def smoothing_note(smoothing: float) -> str:
    """Why the model is never much more than 90% sure: label smoothing trains it to aim there."""
    ceiling = 1 - smoothing + smoothing / 10
    return (
        f"note: this model was trained with label smoothing {smoothing:g}, which teaches it to "
        f"give the right digit about {ceiling:.0%}, so even easy digits stop near that; train with "
        "--label-smoothing 0 for probabilities that go to 100%"
    )


def as_text(seen) -> str:
    """A 28x28 image in [0, 1] as 28 lines of text, two characters a pixel (about square)."""
    steps = (seen * (len(SHADES) - 1)).round().astype(int)
    return "\n".join("".join(2 * SHADES[v] for v in row) for row in steps)


def png_of(seen) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((255 * seen).round().astype("uint8")).save(buffer, "PNG")
    return buffer.getvalue()


def predict_command(args) -> int:
    """classify your own digit images"""
    import torch

    from firstnet import runs
    from firstnet.evaluate import probabilities
    from firstnet.preprocess import load_image, mnist_like

    cfg, model = runs.load_model(runs.find_run(args.run))
    dataset = DATASETS[cfg.dataset]
    results, failed = [], 0
    for path in args.images:
        try:  # one image that cannot be read or holds no digit does not stop the others
            seen = mnist_like(load_image(path))  # (28, 28) in [0, 1]: what the model is given
            image = torch.from_numpy(seen)[None, None]  # (1, 1, 28, 28)
        except ImageError as error:
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            results.append({"image": str(path), "error": message})
            failed += 1
            continue
        probs = probabilities(cfg, model, image)[0]
        prediction = {
            "prediction": int(probs.argmax()),
            "class": dataset.classes[int(probs.argmax())],
            "probabilities": [round(p, 6) for p in probs.tolist()],
        }
        results.append({"image": str(path), **prediction})
        if args.save_input:
            atomic_write(args.save_input / f"{Path(path).stem}.png", png_of(seen))
        if args.show:
            results[-1]["seen"] = as_text(seen)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "seen"} for r in results], indent=2))
    for result in results:
        if "error" in result:
            print(f"firstnet: error: {result['error']}", file=sys.stderr)  # one unwrapped line
        elif not args.json:
            shown = "  ".join(f"{d}:{100 * p:4.1f}%" for d, p in enumerate(result["probabilities"]))
            answer = result["class"]
            if not dataset.digits:  # its name, then its index
                answer = f"{answer} ({result['prediction']})"
            out.print(f"{result['image']}: [bold]{answer}[/]  ({shown})", highlight=False)
            if "seen" in result:
                out.print(result["seen"], markup=False, highlight=False)
    if cfg.label_smoothing and not args.json and len(results) > failed:
        err.print(smoothing_note(cfg.label_smoothing), highlight=False)
    return 1 if failed else 0
