"""`firstnet eval` and `firstnet predict`: a finished run (`firstnet.Run`) on the test set, or on
your own pictures of digits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from firstnet.atomic import atomic_write
from firstnet.cli import options
from firstnet.cli.console import evaluated, trained_run
from firstnet.data.datasets import DATASETS
from firstnet.errors import ImageError
from firstnet.terminal import err, out


def add_parser(sub) -> None:
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
    run, data, report, figures = evaluated(args.run, args.data_dir, args.out_dir)
    result = {"run": str(run.path), "model": run.config.model, **report, "figures": figures}
    result = {key: result[key] for key in EVAL_KEYS}
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
    from firstnet import api
    from firstnet.preprocess import load_image, mnist_like

    run = api.Run.load(trained_run(args.run), history=False)
    cfg, dataset = run.config, DATASETS[run.config.dataset]
    results, failed = [], 0
    for path in args.images:
        try:  # one image that cannot be read or holds no digit does not stop the others
            seen = mnist_like(load_image(path))  # (28, 28) in [0, 1]: what the model is given
        except ImageError as error:
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            results.append({"image": str(path), "error": message})
            failed += 1
            continue
        probs = run.predict(seen)[0]  # (10,)
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
            line = f"{escape(result['image'])}: [bold]{escape(answer)}[/]  ({shown})"
            out.print(line, markup=True, highlight=False)
            if "seen" in result:
                out.print(result["seen"], markup=False, highlight=False)
    if cfg.label_smoothing and not args.json and len(results) > failed:
        err.print(smoothing_note(cfg.label_smoothing), highlight=False)
    return 1 if failed else 0
