"""The gradient-intuition panel: the surfaces of `firstnet plot landscape`. (a) The two-weight
problem, its loss and gradient field on a grid, and descent paths from any start; (b) the loss of a
trained MNIST MLP on two planes through its weights, with the path its training took.

`surface` is what the page draws: the loss on the grid of the figure, minus the gradient at every
ARROW_STRIDE-th point, and the figure's three learning rates (too small, good, too large, from the
sharpness at the minimum). `descent` is one path, computed by `loss_surface.descend` as the figure
computes its paths, so the same start, rate and steps give the same numbers (tested); momentum and
Adam are torch.optim's. `slices` trains the MLP of `plot landscape --part b` with its defaults
and slices its loss as the figure does (`loss_slice.mnist_loss_slices`); minus the gradient of a
slice comes from finite differences on its grid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from firstnet.config import TrainConfig, check_types, from_values
from firstnet.data import LabelledData
from firstnet.errors import ConfigError
from firstnet.figures.loss_slice import LOSS_CEILING, mnist_loss_slices
from firstnet.figures.loss_surface import (
    ARROW_STRIDE,
    descend,
    learning_rates,
    loss_and_gradient,
    loss_grid,
    make_problem,
)
from firstnet.lab.job import all_cores

EXTENT, GRID = 4.0, 61  # the figure's: weights in [-4, 4], 61 points a side
POINTS = 200  # the figure's data points
OPTIMIZERS = {"sgd": ("sgd", 0.0), "momentum": ("sgd", None), "adam": ("adam", 0.0)}
SLICE_MLP = {"hidden": 256, "epochs": 5, "grid": 21, "seed": 0}  # plot landscape --part b's
SURFACES = ("two-weights", "mnist-pca", "mnist-random")


@dataclass(frozen=True)
class DescentSettings:
    """One path the page asks for; `momentum` is used by the momentum optimizer only."""

    seed: int = 0
    x: float = -0.75 * EXTENT  # the figure's start
    y: float = 0.75 * EXTENT
    optimizer: str = "sgd"
    lr: float = 1.0
    momentum: float = 0.9
    steps: int = 40

    @classmethod
    def from_dict(cls, values: dict) -> DescentSettings:
        if not isinstance(values, dict):
            raise ConfigError("the settings must be a JSON object")
        settings = from_values(cls, values)
        check_types(settings)
        if settings.optimizer not in OPTIMIZERS:
            message = f"optimizer {settings.optimizer!r:.40}: choose from {', '.join(OPTIMIZERS)}"
            raise ConfigError(message, ("optimizer",))
        bounds = {"seed": (0, 2**31 - 1), "x": (-2 * EXTENT, 2 * EXTENT),
                  "y": (-2 * EXTENT, 2 * EXTENT), "lr": (1e-5, 100.0), "momentum": (0.0, 0.999),
                  "steps": (1, 500)}  # fmt: skip
        for name, (low, high) in bounds.items():
            if not low <= getattr(settings, name) <= high:
                message = f"{name} must lie in [{low}, {high}], got {getattr(settings, name)}"
                raise ConfigError(message, (name,))
        return settings


def surface(seed: int = 0) -> dict:
    """The grid of the figure: its axis, the loss (S, S) with row j at w2 = axis[j], minus the
    gradient at every ARROW_STRIDE-th point, the minimum found on it and the three rates."""
    problem = make_problem(POINTS, seed)
    w1, w2, values, gradient = loss_grid(problem, EXTENT, GRID)
    lowest = int(values.argmin())
    minimum = torch.stack([w1.flatten()[lowest], w2.flatten()[lowest]])
    arrows = -gradient[::ARROW_STRIDE, ::ARROW_STRIDE]
    return {
        "axis": w1[0].tolist(),
        "loss": values.round(decimals=5).tolist(),
        "arrow_axis": w1[0, ::ARROW_STRIDE].tolist(),
        "arrows": arrows.round(decimals=5).tolist(),
        "minimum": minimum.tolist(),
        "rates": learning_rates(problem, minimum),
        "defaults": dataclasses.asdict(DescentSettings()),
    }


def descent(settings: DescentSettings) -> dict:
    """The path from (x, y): the weights, the loss and the gradient's length at every step."""
    problem = make_problem(POINTS, settings.seed)
    optimizer, momentum = OPTIMIZERS[settings.optimizer]
    momentum = settings.momentum if momentum is None else momentum
    start = torch.tensor([settings.x, settings.y], dtype=torch.float64)
    path, losses = descend(problem, start, settings.lr, settings.steps, optimizer, momentum)
    _, gradients = loss_and_gradient(problem, path)
    return {
        "path": path.tolist(),
        "loss": losses.tolist(),
        "gradient_norm": gradients.norm(dim=1).tolist(),
    }


def slices(data: LabelledData, hidden: int, epochs: int, grid: int, seed: int) -> dict:
    """The two slices of `firstnet plot landscape --part b` for these settings, as `surface`
    gives the two-weight one, each with the training's path in its plane instead of rates."""
    cfg = TrainConfig(dataset=data.dataset, model="mlp", hidden=hidden, epochs=epochs, seed=seed)
    with all_cores():
        pieces, trainer = mnist_loss_slices(cfg, data, size=grid, seed=seed)
    found = {}
    for piece in pieces:
        axis = piece.alphas.double().numpy()
        loss = np.minimum(piece.loss.double().numpy(), LOSS_CEILING)  # as the figure draws it
        slope_b, slope_a = np.gradient(loss, axis, axis)  # rows are b, columns a
        stride = max(1, grid // 10)
        arrows = -np.stack([slope_a, slope_b], -1)[::stride, ::stride]
        found[f"mnist-{piece.name}"] = {
            "axis": axis.tolist(),
            "loss": loss.round(5).tolist(),
            "arrow_axis": axis[::stride].tolist(),
            "arrows": arrows.round(5).tolist(),
            "path": {"path": piece.path.tolist(), "loss": piece.path_loss.tolist()},
            "captured": piece.captured,
            "test_acc": trainer.history[-1]["test_acc"],
            "mlp": f"784-{hidden}-{hidden}-10, {epochs} epochs",
        }
    return found
