"""MLP training speed: firstnet's defaults against the loop a newcomer writes, in one run.

firstnet: `firstnet train --model mlp` defaults (784-256-256-10 ReLU, data resident as uint8
tensors, shuffled index batches, one-cycle SGD: the MLP recipe of `firstnet.config`), run through
`firstnet.api.bench`. Reference: the same architecture
trained the way most tutorials show it -- a per-sample `torch.utils.data.Dataset` that converts each
image on access, `DataLoader(batch_size=64, shuffle=True)`, SGD with momentum, the same number of
epochs.

Prints median training time (including the per-epoch test evaluation) and test accuracy of each over
several seeds, the hardware, and the speed ratio. Usage:
    python benchmarks/mlp_speed.py [--seeds 3] [--ref-seeds 1] [--precision auto|fp32|bf16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from firstnet.api import bench
from firstnet.config import TrainConfig
from firstnet.data import load_dataset
from firstnet.device import hardware
from firstnet.reference import ToTensorNormalize


def reference_run(data, epochs: int, seed: int) -> tuple[float, float]:
    """Train the newcomer's loop; returns (seconds, test accuracy)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    train = DataLoader(
        ToTensorNormalize(data.train_images, data.train_labels), batch_size=64, shuffle=True
    )
    test = DataLoader(ToTensorNormalize(data.test_images, data.test_labels), batch_size=1000)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for images, labels in train:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test:
                correct += (model(images).argmax(1) == labels).sum().item()
    return time.perf_counter() - start, correct / len(data.test_labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="firstnet runs (default: 3)")
    parser.add_argument("--ref-seeds", type=int, default=1, help="reference runs (default: 1)")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        help="firstnet precision (default: auto, the MLP recipe's: bf16 where it is native)",
    )
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    data = load_dataset()
    epochs = TrainConfig(model="mlp").epochs
    ours = bench("mlp", data, args.seeds, progress=False, precision=args.precision, device="cpu")
    runs = list(zip(ours["seconds"], ours["accuracies"], strict=True))
    print(
        "firstnet  runs: " + ", ".join(f"{t:.2f} s / {100 * a:.2f}%" for t, a in runs), flush=True
    )
    reference = [reference_run(data, epochs, seed) for seed in range(args.ref_seeds)]
    print(
        "reference runs: " + ", ".join(f"{t:.2f} s / {100 * a:.2f}%" for t, a in reference),
        flush=True,
    )

    env = ours["environment"]
    summary = {
        "hardware": f"{hardware(env)}, torch {env['torch']} ({env['torch_threads']} threads)",
        "epochs": epochs,
        "precision": ours["precision"],  # what "auto" became on this machine
        "firstnet_seconds": ours["seconds_median"],
        "firstnet_test_acc": statistics.median(ours["accuracies"]),
        "reference_seconds": statistics.median(t for t, _ in reference),
        "reference_test_acc": statistics.median(a for _, a in reference),
    }
    summary["speedup"] = summary["reference_seconds"] / summary["firstnet_seconds"]
    print(f"\nMLP 784-256-256-10, {epochs} epochs, {summary['hardware']}")
    print(f"{'':12}{'median time':>14}{'test acc':>12}")
    print(
        f"{'firstnet':12}{summary['firstnet_seconds']:>12.2f} "
        f"s{100 * summary['firstnet_test_acc']:>11.2f}%"
    )
    print(
        f"{'reference':12}{summary['reference_seconds']:>12.2f} "
        f"s{100 * summary['reference_test_acc']:>11.2f}%"
    )
    print(f"firstnet is {summary['speedup']:.1f}x faster than the per-sample DataLoader loop")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)


if __name__ == "__main__":
    main()
