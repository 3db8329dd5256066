"""Time to 98%, 99% and 99.5% MNIST test accuracy: firstnet's CNN recipe against pytorch/examples,
in one run, on the CPU or a GPU.

The reference is `firstnet.reference`: a faithful re-implementation of pytorch/examples
`mnist/main.py` (its Net, Adadelta, StepLR, batch 64, a per-sample DataLoader, 14 epochs). Both
sides count training plus the evaluation after every epoch. On CUDA, firstnet takes its GPU recipe
(config.DEVICE_RECIPES) and CUDA graphs.

    python benchmarks/time_to_accuracy.py [--seeds 5] [--ref-seeds 1] [--ref-time-cap 900] [--device
    cpu|cuda]
"""

from __future__ import annotations

import argparse
import json

import torch

from firstnet.api import bench
from firstnet.data import load_dataset
from firstnet.device import hardware
from firstnet.reference import examples_run
from firstnet.stats import THRESHOLDS, reach_cell, speedups, summarize, times_to


def describe(name: str, histories: list[list[dict]]) -> dict:
    """Median time to each threshold (over the runs that reached it), final accuracy statistics."""
    return {"recipe": name, "time_to": times_to(histories)} | summarize(histories)


def cells(row: dict) -> list[str]:
    texts = [row["recipe"]] + [reach_cell(row["time_to"][threshold]) for threshold in THRESHOLDS]
    mean, std = 100 * row["test_acc_mean"], 100 * row["test_acc_std"]
    return texts + [f"{mean:.2f} ± {std:.2f}% (n={row['runs']})", f"{row['seconds_median']:.1f} s"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="firstnet runs (default: 5)")
    parser.add_argument("--ref-seeds", type=int, default=1, help="reference runs (default: 1)")
    parser.add_argument(
        "--ref-time-cap",
        type=float,
        default=None,
        help="stop each reference run after this many seconds (default: run all 14 epochs)",
    )
    parser.add_argument(
        "--device", default="cpu", choices=("cpu", "cuda"), help="device for both (default: cpu)"
    )
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    data, device = load_dataset(), torch.device(args.device)
    ours = bench("cnn", data, args.seeds, device=args.device)  # a bar per epoch and seed

    def show(record: dict) -> None:
        accuracy, seconds = 100 * record["test_acc"], record["elapsed_s"]
        print(f"  reference epoch {record['epoch']}: {accuracy:.2f}% at {seconds:.0f} s")

    reference = [
        examples_run(data, seed, device, args.ref_time_cap, show) for seed in range(args.ref_seeds)
    ]
    finished = [h for h in reference if h]  # a run capped before its first epoch has no numbers
    rows = [{"recipe": "firstnet cnn"} | ours] + (
        [describe("pytorch/examples", finished)] if finished else []
    )
    env = ours["environment"]
    print(
        f"\nMNIST time to accuracy on {hardware(env)}, "
        f"torch {env['torch']}, firstnet precision {ours['precision']}"
    )
    print(" | ".join(["recipe", "to 98%", "to 99%", "to 99.5%", "final acc (mean ± std)", "total"]))
    for row in rows:
        print(" | ".join(cells(row)))
    ratios = speedups(ours["time_to"], rows[1]["time_to"]) if finished else {}
    for threshold, ratio in ratios.items():
        print(f"to {100 * threshold:g}%: firstnet is {ratio:.1f}x faster")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"environment": env, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
