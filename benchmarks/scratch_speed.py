"""Epoch throughput of the NumPy MLP (`firstnet scratch`) against the torch MLP (`firstnet train`),
in one run.

Both train the same recipe -- the MLP's, 784-256-256-10 ReLU, one-cycle SGD with Nesterov
momentum, label smoothing, in fp32 -- from the same config, on the CPU, each with its own trainer
(NumPy: firstnet.scratch; torch: firstnet.trainer.Trainer). An epoch is timed from one end-of-epoch
callback to the next, so it holds the training pass and the test-set evaluation in both. The two
alternate, run after run, so a busy machine slows both alike. Prints the median epoch time and
throughput of each, their ratio, the test accuracy reached, and the hardware. Usage:
    python benchmarks/scratch_speed.py [--epochs 5] [--repeats 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from firstnet.config import TrainConfig
from firstnet.data import load_dataset
from firstnet.device import environment
from firstnet.scratch import ScratchTrainer
from firstnet.trainer import Trainer


def epoch_seconds(trainer) -> tuple[list[float], float]:
    """Run `trainer` to the end; (wall seconds of each epoch, final test accuracy)."""
    marks = [time.perf_counter()]
    history = trainer.run(on_epoch=lambda _record: marks.append(time.perf_counter()))
    return [end - start for start, end in zip(marks[:-1], marks[1:], strict=True)], history[-1][
        "test_acc"
    ]


def blas_name() -> str:
    """The BLAS NumPy was built with, e.g. 'scipy-openblas 0.3.31'."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):  # NumPy < 1.26 has no mode="dicts"
        return "unknown BLAS"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default: 5)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each implementation (default: 2)"
    )
    parser.add_argument(
        "--json", default=None, help="also write the figures to this JSON file (default: none)"
    )
    args = parser.parse_args()

    data = load_dataset()
    # fp32 on both sides (NumPy has no bf16): the same arithmetic, so the loops are what differs
    cfg = TrainConfig(model="mlp", epochs=args.epochs, device="cpu", precision="fp32")
    times: dict[str, list[float]] = {"numpy": [], "torch": []}
    accuracy: dict[str, list[float]] = {"numpy": [], "torch": []}
    for repeat in range(args.repeats):
        for name, make in (("torch", Trainer), ("numpy", ScratchTrainer)):
            seconds, acc = epoch_seconds(
                make(TrainConfig(**cfg.to_dict() | {"seed": repeat}), data)
            )
            times[name] += seconds
            accuracy[name].append(acc)
            print(
                f"{name:6} run {repeat + 1}: epochs "
                + ", ".join(f"{s:.3f}" for s in seconds)
                + f" s, test accuracy {100 * acc:.2f}%",
                flush=True,
            )

    env = environment(torch.device("cpu"))
    images = len(data.train_labels)
    summary = {
        "hardware": f"{env['cpu']}, {env['cpu_count']} cores; torch {env['torch']} "
        f"({env['torch_threads']} threads), NumPy {np.__version__} ({blas_name()})",
        "shape": f"784-{cfg.hidden}-{cfg.hidden}-10, batch {cfg.batch_size}, "
        f"{args.epochs} epochs x {args.repeats}",
        **{f"{name}_epoch_s": statistics.median(times[name]) for name in times},
        **{f"{name}_test_acc": statistics.median(accuracy[name]) for name in accuracy},
    }
    summary["ratio"] = summary["numpy_epoch_s"] / summary["torch_epoch_s"]
    print(f"\n{summary['shape']}\n{summary['hardware']}")
    print(f"{'':8}{'median epoch':>14}{'images/s':>12}{'test acc':>10}")
    for name in ("torch", "numpy"):
        seconds = summary[f"{name}_epoch_s"]
        print(
            f"{name:8}{seconds:>12.3f} "
            f"s{images / seconds:>12,.0f}{100 * summary[f'{name}_test_acc']:>9.2f}%"
        )
    print(f"NumPy epoch time / torch epoch time = {summary['ratio']:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)


if __name__ == "__main__":
    main()
