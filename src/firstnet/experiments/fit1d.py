"""One-hidden-layer ReLU networks fitting functions of one variable: f(x) = sum_i a_i ReLU(w_i x +
b_i) + c.

Such a network is piecewise linear with a kink where each w_i x + b_i crosses zero, so width is the
number of pieces it can bend into: the universal approximation theorem in a picture. The fit is
full-batch Adam on mean squared error -- 1-D regression, not the MNIST classifier the training loop
serves.
"""

from __future__ import annotations

import math

import torch
from torch import nn

TARGETS = {
    "sine": "sin(2πx)",
    "step": "0 for x < 0, 1 for x ≥ 0",
    "abs": "|x| (two ReLUs: |x| = ReLU(x) + ReLU(−x))",
    "noisy sine": "sin(2πx) + Gaussian noise (σ 0.3) on few points; error against the clean sine",
}
GRID = 1001  # points of the dense grid the error is measured on
PLOT_POINTS = 401  # points of the fitted curve kept for the figure


def target(name: str, x: torch.Tensor) -> torch.Tensor:
    """The clean function (for 'noisy sine', the sine its samples are drawn around)."""
    if name in ("sine", "noisy sine"):
        return torch.sin(2 * math.pi * x)
    if name == "step":
        return (x >= 0).to(x.dtype)
    if name == "abs":
        return x.abs()
    raise KeyError(name)


def training_set(
    name: str, points: int, noise: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y), each (points, 1): x evenly spaced on [-1, 1]; y the target, plus noise for 'noisy
    sine'."""
    x = torch.linspace(-1, 1, points).unsqueeze(1)
    y = target(name, x)
    if name == "noisy sine":
        y = y + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(1000 + seed))
    return x, y


class ReLUNets(nn.Module):
    """Several one-hidden-layer ReLU networks of the given widths, evaluated side by side: output g
    is sum_{i in group g} a_i ReLU(w_i x + b_i) + c_g. The networks share no parameter, and Adam
    updates each parameter on its own, so training them together on the sum of their losses trains
    each exactly as alone -- in one tensor operation per step instead of one per network.

    Kinks -b_i / w_i start spread uniformly over [-1, 1] (w_i = +-1): PyTorch's default
    initialisation puts many outside the interval, where they bend nothing, and narrow networks then
    stall far from the target.
    """

    def __init__(self, widths: tuple[int, ...], seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        units = sum(widths)
        sign = torch.randint(0, 2, (units,), generator=generator) * 2.0 - 1
        kink = torch.rand(units, generator=generator) * 2 - 1
        self.register_buffer(
            "group", torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
        )
        # nn.Linear(width, 1)'s bound
        scale = torch.tensor([1 / math.sqrt(w) for w in widths])[self.group]
        self.weight = nn.Parameter(sign)
        self.bias = nn.Parameter(-sign * kink)
        self.out_weight = nn.Parameter((torch.rand(units, generator=generator) * 2 - 1) * scale)
        self.out_bias = nn.Parameter(torch.zeros(len(widths)))
        self.widths = widths

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 1) -> outputs (N, networks)."""
        contributions = torch.relu(x * self.weight + self.bias) * self.out_weight  # (N, units)
        return (
            torch.zeros(len(x), len(self.widths)).index_add_(1, self.group, contributions)
            + self.out_bias
        )

    def kinks(self, low: float = -1.0, high: float = 1.0) -> list[int]:
        """Per network, the hidden units whose kink lies inside [low, high] and whose output weight
        is not 0: the pieces the network actually bends there."""
        w, b = self.weight.detach(), self.bias.detach()
        position = -b / torch.where(w != 0, w, torch.ones_like(w))
        used = (w != 0) & (self.out_weight.detach() != 0) & (position >= low) & (position <= high)
        return (
            torch.zeros(len(self.widths), dtype=torch.int64)
            .index_add_(0, self.group, used.long())
            .tolist()
        )


def fit(
    widths: tuple[int, ...], x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, seed: int
) -> ReLUNets:
    """Full-batch Adam on each network's mean squared error, the learning rate decaying as a cosine
    to 0."""
    model = ReLUNets(widths, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        # (N, networks) - (N, 1): one MSE per network, summed
        loss = (model(x) - y).square().mean(0).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


def measure(name: str, model: ReLUNets, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Per network: RMSE against the clean target on a dense grid, RMSE on the training points, the
    kinks inside [-1, 1], and the fitted curve for the figure."""
    grid = torch.linspace(-1, 1, GRID).unsqueeze(1)
    plot_x = torch.linspace(-1, 1, PLOT_POINTS).unsqueeze(1)
    with torch.no_grad():
        rmse = (model(grid) - target(name, grid)).square().mean(0).sqrt().tolist()
        train_rmse = (model(x) - y).square().mean(0).sqrt().tolist()
        curves = model(plot_x).T.tolist()  # (networks, PLOT_POINTS)
    return [
        {
            "width": width,
            "rmse": rmse[i],
            "train_rmse": train_rmse[i],
            "kinks": model.kinks()[i],
            "curve": [round(v, 5) for v in curves[i]],
        }
        for i, width in enumerate(model.widths)
    ]
