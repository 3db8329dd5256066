"""The recipe firstnet's speed is measured against: pytorch/examples `mnist/main.py`, faithfully.

What a user would pick instead of firstnet: its Net (conv 1->32, conv 32->64, max-pool, dropout
0.25, FC 9216->128, dropout 0.5, FC 128->10, log-softmax), Adadelta lr 1.0, StepLR gamma 0.7 every
epoch, batch 64, a per-sample Dataset with the ToTensor + Normalize((0.1307,), (0.3081,)) transform,
a shuffling DataLoader, 14 epochs, the test set evaluated after every epoch. Timed like firstnet:
training plus evaluation. `firstnet bench --reference` and benchmarks/time_to_accuracy.py run it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

EPOCHS = 14  # pytorch/examples' default


class ToTensorNormalize(Dataset):
    """One image per call, as torchvision's ToTensor() then Normalize((0.1307,), (0.3081,)) produce
    it: the per-sample loading of a typical tutorial."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        # (1, 28, 28)
        image = torch.from_numpy(self.images[index].copy()).float().div(255).unsqueeze(0)
        return (image - 0.1307) / 0.3081, int(self.labels[index])


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


def examples_run(
    data,
    seed: int,
    device: torch.device,
    time_cap: float | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train the pytorch/examples recipe; a history like firstnet's (`epoch`, `test_acc`,
    `elapsed_s` per epoch). Stops early past `time_cap` seconds, once it has finished an epoch
    (the history so far)."""
    torch.manual_seed(seed)
    model = ExampleNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    train = DataLoader(
        ToTensorNormalize(data.train_images, data.train_labels), batch_size=64, shuffle=True
    )
    test = DataLoader(ToTensorNormalize(data.test_images, data.test_labels), batch_size=1000)
    history, start = [], time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        model.train()
        for images, labels in train:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()
            optimizer.step()
            if time_cap and history and time.perf_counter() - start > time_cap:
                return history
        scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test:
                correct += (model(images.to(device)).argmax(1) == labels.to(device)).sum().item()
        accuracy, elapsed = correct / len(test.dataset), time.perf_counter() - start
        history.append({"epoch": epoch, "test_acc": accuracy, "elapsed_s": elapsed})
        if on_epoch:
            on_epoch(history[-1])
    return history
