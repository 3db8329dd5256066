"""`firstnet data`: the lecture's questions about MNIST, answered from the arrays, and sample
digits."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from firstnet.cli import options
from firstnet.data import MNIST, data_summary
from firstnet.datasets import DATASETS
from firstnet.terminal import load_data, out


def add_parser(sub) -> None:
    data = options.add_command(sub, "data", show_data_command)
    options.add(data, "data", "dataset")
    out_png, text = Path("runs/mnist-samples.png"), "PNG grid of sample digits"
    data.add_argument("--out", type=Path, default=out_png, help=text)
    options.add(data, "json")


def show_data_command(args) -> int:
    """answer the lecture's questions about MNIST and draw sample digits"""
    show_data(load_data(args.data_dir, args.dataset), args.out, as_json=args.json)
    return 0


def show_data(data: MNIST, samples_path: Path, as_json: bool = False) -> dict:
    """Print the data questions' answers (a table, or JSON), write the sample grid, return the
    summary."""
    from firstnet.figures.digits import sample_digits

    summary = data_summary(data)
    if as_json:
        samples = str(sample_digits(data, samples_path))
        print(json.dumps(summary | {"source": data.source, "samples": samples}, indent=2))
        return summary
    title = DATASETS[data.dataset].title
    table = Table(title=f"{title} ({data.source})")
    table.add_column("question")
    table.add_column("answer")
    rows = [
        ("D (dimension of a sample)", f"{summary['dimension']} = 28 x 28 pixels"),
        ("number of classes", f"{summary['num_classes']} ({', '.join(data.classes)})"),
        ("train / test images", f"{summary['train_size']:,} / {summary['test_size']:,}"),
        ("train images per class", " ".join(map(str, summary["train_class_counts"]))),
        ("test images per class", " ".join(map(str, summary["test_class_counts"]))),
        (
            "pixel mean / std (on [0, 1])",
            f"{summary['pixel_mean']:.4f} / {summary['pixel_std']:.4f}",
        ),
        (
            "linearly separable?",
            "measure it: firstnet train --model linear (train accuracy < 100% = no)",
        ),
    ]
    for question, answer in rows:
        table.add_row(question, answer)
    out.print(table)
    out.print(f"Sample digits: {sample_digits(data, samples_path)}")
    return summary
