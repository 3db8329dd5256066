"""The decision boundary moving while a network trains ("Your First Deep Network: Action!").

Trains the linear model or an MLP on a 2-D toy data set with the one `Trainer` (full-batch gradient
descent: every epoch is one step on all training points, softmax and cross-entropy as on MNIST) and
keeps snapshots: the class probabilities on a grid over the plane and the history so far, at evenly
spaced steps. `firstnet.viz.boundary` draws the snapshots; nothing here draws.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from firstnet.config import TrainConfig
from firstnet.data.toy import ToyData
from firstnet.errors import ConfigError
from firstnet.evaluate import predict_logits
from firstnet.models import model_for
from firstnet.train import Trainer

# Full-batch gradient descent with momentum; recipe measured on 2-class spirals (see docs/figures.md).
TOY_RECIPE = {"batch_size": None, "optimizer": "sgd", "lr": 0.3, "momentum": 0.9, "schedule": "constant",
              "weight_decay": 0.0, "label_smoothing": 0.0, "precision": "fp32", "augment": 0, "tta": False,
              "device": "cpu"}
MLP_DEFAULTS = {"hidden": 32, "depth": 2, "activation": "relu"}


@dataclass
class Grid:
    xs: np.ndarray  # (S,) first coordinate of the columns
    ys: np.ndarray  # (S,) second coordinate of the rows
    points: torch.Tensor  # (S * S, 2) float32, row-major: point [r * S + c] = (xs[c], ys[r])

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1])


@dataclass
class Snapshot:
    step: int  # gradient steps taken
    probabilities: np.ndarray  # (S, S, K): the model's class probabilities on the grid


@dataclass
class BoundaryRun:
    label: str  # e.g. "linear" or "MLP 2x32 relu"
    snapshots: list[Snapshot]
    history: list[dict]  # one record per step (epoch), as the Trainer writes it
    model: torch.nn.Module  # the trained model


def make_grid(data: ToyData, size: int = 150, margin: float = 0.15) -> Grid:
    """A square grid covering every point with a margin."""
    points = np.concatenate([data.train_images, data.test_images])
    low, high = float(points.min()) - margin, float(points.max()) + margin
    axis = np.linspace(low, high, size, dtype=np.float32)
    xx, yy = np.meshgrid(axis, axis)  # (S, S) each, rows along y
    return Grid(axis, axis, torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1)))


def parse_model(spec: str, defaults: dict) -> dict:
    """`linear`, `mlp`, or `mlp:HIDDEN:DEPTH:ACTIVATION` (trailing parts optional) as TrainConfig fields."""
    kind, *parts = spec.strip().split(":")
    if kind == "linear" and not parts:
        return {"model": "linear"}
    if kind != "mlp" or len(parts) > 3:
        raise ConfigError(f"model {spec!r}: use linear, mlp or mlp:HIDDEN:DEPTH:ACTIVATION, e.g. mlp:64:3:tanh")
    fields = {"model": "mlp", **defaults}
    try:
        for name, value in zip(("hidden", "depth"), parts[:2], strict=False):
            fields[name] = int(value)
    except ValueError as err:
        raise ConfigError(f"model {spec!r}: hidden units and depth must be integers") from err
    if len(parts) == 3:
        fields["activation"] = parts[2]
    return fields


def describe(cfg: TrainConfig) -> str:
    if cfg.model == "linear":
        return "linear"
    return f"MLP {cfg.depth}x{cfg.hidden} {cfg.activation}"


@torch.no_grad()
def grid_probabilities(model: torch.nn.Module, grid: Grid) -> np.ndarray:
    """(S, S, K) class probabilities of `model` at every grid point."""
    probabilities = predict_logits(model, grid.points).softmax(1)
    return probabilities.reshape(len(grid.ys), len(grid.xs), -1).numpy()


def snapshot_steps(steps: int, frames: int) -> list[int]:
    """`frames` evenly spaced step counts from 0 (the untrained network) to `steps`."""
    if frames < 2 or steps < 1:
        raise ConfigError(f"need at least 2 frames and 1 step, got {frames} frames and {steps} steps")
    return sorted({round(i * steps / (frames - 1)) for i in range(frames)})


def train_with_snapshots(cfg: TrainConfig, data: ToyData, grid: Grid, frames: int,
                         on_step: Callable[[], object] | None = None) -> BoundaryRun:
    """Train `cfg` on `data` for `cfg.epochs` full-batch steps, snapshotting the grid `frames` times;
    `on_step` is called after every step (a progress bar)."""
    with single_thread():
        return _train(cfg, data, grid, frames, on_step)


@contextmanager
def single_thread():
    """Toy-sized matrices gain nothing from several threads, and lose a lot when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, data: ToyData, grid: Grid, frames: int, on_step) -> BoundaryRun:
    torch.manual_seed(cfg.seed)
    model = model_for(cfg, inputs=2, classes=data.num_classes, mean=0.0, std=1.0)
    trainer = Trainer(cfg, data, model=model)
    wanted = set(snapshot_steps(cfg.epochs, frames))
    snapshots = [Snapshot(0, grid_probabilities(trainer.model, grid))]

    def on_epoch(record: dict) -> None:
        if record["epoch"] in wanted:
            snapshots.append(Snapshot(record["epoch"], grid_probabilities(trainer.model, grid)))
        if on_step:
            on_step()

    history = trainer.run(on_epoch=on_epoch)
    return BoundaryRun(describe(cfg), snapshots, history, trainer.model)


def boundary_configs(specs: list[str], steps: int, seed: int, data: ToyData, mlp: dict, lr: float) -> list:
    """One TrainConfig per model spec, all with the toy recipe, the same steps and seed."""
    recipe = {**TOY_RECIPE, "batch_size": len(data.train_labels), "lr": lr}
    return [TrainConfig(**parse_model(spec, mlp), epochs=steps, seed=seed, **recipe) for spec in specs]
