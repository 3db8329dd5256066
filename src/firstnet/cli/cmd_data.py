"""`firstnet data`: the lecture's questions about MNIST, answered from the arrays, and sample
digits."""

from __future__ import annotations

from pathlib import Path

from firstnet.cli import options
from firstnet.cli.console import show_data
from firstnet.terminal import load_data


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
