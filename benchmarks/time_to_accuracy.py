"""Time to 98%, 99% and 99.5% MNIST test accuracy: firstnet's CNN recipe against pytorch/examples,
one run.

The reference is a faithful re-implementation of pytorch/examples `mnist/main.py` -- the recipe a
user would pick instead: its Net (conv 1->32, conv 32->64, max-pool, dropout 0.25, FC 9216->128,
dropout 0.5, FC 128->10, log-softmax), Adadelta lr 1.0, StepLR gamma 0.7 every epoch, batch 64, a
per-sample Dataset with the ToTensor + Normalize((0.1307,), (0.3081,)) transform, a shuffling
DataLoader, 14 epochs, the test set evaluated after every epoch. Both sides count training plus
evaluation time.

    python benchmarks/time_to_accuracy.py [--seeds 5] [--ref-seeds 1] [--ref-time-cap 900] [--device
    cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from firstnet.config import TrainConfig
from firstnet.data import load_dataset
from firstnet.device import environment
from firstnet.stats import summarize, time_to
from firstnet.train import Trainer
from references import ToTensorNormalize  # noqa: I001 -- a sibling script in benchmarks/

THRESHOLDS = (0.98, 0.99, 0.995)


class ExampleNet(nn.Module):
    """pytorch/examples mnist/main.py `Net`, layer for layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.dropout1(x).flatten(1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def reference_run(data, seed: int, device: torch.device, time_cap: float | None) -> list[dict]:
    """The pytorch/examples recipe; a history like firstnet's (stops early past `time_cap`
    seconds)."""
    torch.manual_seed(seed)
    model = ExampleNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    train = DataLoader(
        ToTensorNormalize(data.train_images, data.train_labels), batch_size=64, shuffle=True
    )
    test = DataLoader(ToTensorNormalize(data.test_images, data.test_labels), batch_size=1000)
    history, start = [], time.perf_counter()
    for epoch in range(1, 15):
        model.train()
        for images, labels in train:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()
            optimizer.step()
            if time_cap and time.perf_counter() - start > time_cap:
                return history
        scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test:
                correct += (model(images.to(device)).argmax(1) == labels.to(device)).sum().item()
        history.append(
            {
                "epoch": epoch,
                "test_acc": correct / len(test.dataset),
                "elapsed_s": time.perf_counter() - start,
            }
        )
        print(
            f"  reference seed {seed} epoch {epoch}: {100 * history[-1]['test_acc']:.2f}% "
            f"at {history[-1]['elapsed_s']:.0f} s",
            flush=True,
        )
    return history


def describe(name: str, histories: list[list[dict]]) -> dict:
    """Median time to each threshold (over the runs that reached it), final accuracy statistics."""
    row = {"recipe": name} | summarize(histories)
    for threshold in THRESHOLDS:
        times = [t for h in histories if (t := time_to(h, threshold)) is not None]
        row[f"time_to_{threshold}"] = statistics.median(times) if times else None
        row[f"reached_{threshold}"] = f"{len(times)}/{len(histories)}"
    return row


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
    cfg = TrainConfig(model="cnn", device=args.device)
    ours = []
    for seed in range(args.seeds):
        trainer = Trainer(dataclasses.replace(cfg, seed=seed), data)
        ours.append(trainer.run())
        print(
            f"  firstnet seed {seed}: {100 * ours[-1][-1]['test_acc']:.2f}% in "
            f"{ours[-1][-1]['elapsed_s']:.1f} s",
            flush=True,
        )
    reference = [
        reference_run(data, seed, device, args.ref_time_cap) for seed in range(args.ref_seeds)
    ]
    # a run capped before its first epoch has nothing to report
    finished = [h for h in reference if h]
    rows = [describe("firstnet cnn", ours)] + (
        [describe("pytorch/examples", finished)] if finished else []
    )

    env = environment(device)
    print(
        f"\nMNIST time to accuracy on {env.get('gpu') or env['cpu']} ({env['cpu_count']} cores), "
        f"torch {env['torch']}, firstnet precision {trainer.precision}"
    )
    header = ["recipe", "to 98%", "to 99%", "to 99.5%", "final acc (mean ± std)", "total"]
    print(" | ".join(header))
    for row in rows:
        cells = [row["recipe"]]
        for threshold in THRESHOLDS:
            seconds = row[f"time_to_{threshold}"]
            cells.append(
                f"{seconds:.1f} s ({row[f'reached_{threshold}']})"
                if seconds is not None
                else "never"
            )
        cells.append(
            f"{100 * row['test_acc_mean']:.2f} ± {100 * row['test_acc_std']:.2f}% (n={row['runs']})"
        )
        cells.append(f"{row['seconds_median']:.1f} s")
        print(" | ".join(cells))
    for threshold in THRESHOLDS if finished else ():
        theirs, mine = rows[1][f"time_to_{threshold}"], rows[0][f"time_to_{threshold}"]
        if theirs and mine:
            print(f"to {100 * threshold:g}%: firstnet is {theirs / mine:.1f}x faster")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"environment": env, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
