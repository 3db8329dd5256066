"""`firstnet export RUN`: a trained run as an ONNX graph or as bare safetensors weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from firstnet.cli import options
from firstnet.cli.console import load_run_data, trained_run
from firstnet.terminal import err, out


def add_parser(sub) -> None:
    export = options.add_command(sub, "export", export_command)
    options.add(export, "run")
    formats = ("onnx", "safetensors")
    export.add_argument("--format", choices=formats, default="onnx", help="what to write")
    export.add_argument("--out", type=Path, help="file to write (default: RUN/model.FORMAT)")
    check = "onnx: compare the graph with firstnet on the 10,000 test images (onnxruntime)"
    export.add_argument("--check", action=argparse.BooleanOptionalAction, default=True, help=check)
    options.add(export, "json", "data")


def export_command(args) -> int:
    """write a trained run as an ONNX graph (fp32, normalisation inside, any batch size) or its
    weights as safetensors"""
    from firstnet import export, runs

    run = trained_run(args.run)
    cfg, model = runs.load_model(run)
    suffix = ".onnx" if args.format == "onnx" else ".weights.safetensors"
    target = args.out or run / f"model{suffix}"
    if args.format == "safetensors":
        path, result = export.export_weights(cfg, model, target), {}
    else:
        with err.status("Exporting to ONNX..."):
            path = export.export_onnx(model, target)
        result = {}
        if args.check:
            images = load_run_data(run, args.data_dir).test_images
            with err.status("Checking the graph with onnxruntime..."):
                result = export.check_onnx(path, model, images)
    if args.json:
        print(json.dumps({"file": str(path), "format": args.format} | result))
        return 0
    out.print(f"Wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if result:
        out.print(
            f"onnxruntime vs firstnet on {result['images']:,} test images: the same class for "
            f"{100 * result['same_argmax']:.2f}%, probabilities within "
            f"{result['max_probability_difference']:.1e}",
            highlight=False,
        )
    return 0
