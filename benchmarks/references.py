"""What the reference recipes share: the per-sample Dataset a typical tutorial writes."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class ToTensorNormalize(Dataset):
    """One image per call, as torchvision's ToTensor() then Normalize((0.1307,), (0.3081,)) produce
    it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        # (1, 28, 28)
        image = torch.from_numpy(self.images[index].copy()).float().div(255).unsqueeze(0)
        return (image - 0.1307) / 0.3081, int(self.labels[index])
