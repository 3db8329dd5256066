"""The "Action!" panel's training: a linear model or an MLP on a 2-D toy set, trained live by the
one `Trainer`, paused, stepped and stopped from the page, one frame at a time.

`ToySettings` is what the page may ask, each field checked against its bounds (a bad one is a
ConfigError naming the field: the page shows it). `ToyJob` trains in a thread of its own: playing,
it takes `speed` optimizer steps per frame and then draws the frame (the decision regions on a grid
and each hidden unit of the last layer as a small heat-map, as PNG), at most MAX_FPS frames a
second; paused, it waits for a command. The training is the one `Trainer.run`, stopped between two
batches by its `should_stop` as a Ctrl-C stops `firstnet train`: slicing it into frames changes no
number (tested against one uninterrupted run).
"""

from __future__ import annotations

import atexit
import base64
import math
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from firstnet.activations import ACTIVATIONS
from firstnet.config import TOY_RECIPE, TrainConfig, check_types, from_values
from firstnet.data.toy import FIXED_CLASSES, TOY_DATASETS, make_toy
from firstnet.errors import ConfigError, DivergedError
from firstnet.figures.boundary import (
    CLASS_COLOURS,
    grid_probabilities,
    make_grid,
    png_bytes,
    region_colours,
)
from firstnet.models import model_for
from firstnet.trainer import Trainer

OPTIMIZERS = {  # the page's names, as TrainConfig fields
    "sgd": {"optimizer": "sgd", "momentum": 0.0, "nesterov": False},
    "momentum": {"optimizer": "sgd", "momentum": 0.9, "nesterov": False},
    "adam": {"optimizer": "adam"},
}
MAX_STEPS = 100_000  # optimizer steps a job may take
MAX_SECONDS = 600.0  # and seconds it may live, paused or not
MAX_FPS = 25  # frames a second, at most
OVER = ("done", "stopped", "diverged")  # the states a job ends in
GRID, UNIT_GRID = 96, 24  # the regions' grid, and each hidden unit's


@dataclass(frozen=True)
class ToySettings:
    """What the lab's toy panel trains; every field has the bounds its `check` gives."""

    data: str = "spirals"  # a set of firstnet.data.toy
    classes: int = 2  # spirals and blobs: 2..7 (a colour each); the others have their own
    points: int = 600  # in all, train and test
    noise: float = 0.05
    test_share: float = 0.5
    seed: int = 0
    model: str = "mlp"  # linear or mlp
    depth: int = 2  # hidden layers of the MLP
    width: int = 32  # units per hidden layer
    activation: str = "relu"  # any of the registry
    optimizer: str = "momentum"  # sgd, momentum or adam
    lr: float = 0.1  # two spirals: 95% of the training points after about 300 steps, and stays
    batch: int = 0  # examples per step; 0: the whole training set (full-batch gradient descent)
    l2: float = 0.0  # weight decay
    speed: int = 5  # optimizer steps per frame

    @classmethod
    def from_dict(cls, values: dict) -> ToySettings:
        """Settings from the page's JSON object, checked as TrainConfig's fields are (unknown
        names, types), then against their bounds."""
        if not isinstance(values, dict):
            raise ConfigError("the settings must be a JSON object")
        settings = from_values(cls, values)
        settings.check()
        return settings

    def check(self) -> None:
        check_types(self)

        def within(name: str, low, high) -> None:
            if not low <= getattr(self, name) <= high:
                message = f"{name} must lie in [{low}, {high}], got {getattr(self, name)}"
                raise ConfigError(message, (name,))

        choices = {"data": TOY_DATASETS, "model": ("linear", "mlp"), "optimizer": tuple(OPTIMIZERS),
                   "activation": tuple(ACTIVATIONS)}  # fmt: skip
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                shown = f"{getattr(self, name)!r:.40}"
                raise ConfigError(f"{name} {shown}: choose from {', '.join(allowed)}", (name,))
        for name, low, high in [("classes", 2, len(CLASS_COLOURS)), ("points", 40, 2000),
                                ("noise", 0.0, 1.0), ("test_share", 0.1, 0.9),
                                ("seed", 0, 2**31 - 1), ("depth", 1, 6), ("width", 1, 256),
                                ("lr", 1e-6, 10.0), ("l2", 0.0, 1.0), ("speed", 1, 100),
                                ("batch", 0, self.points)]:  # fmt: skip
            within(name, low, high)

    def toy_classes(self) -> int:
        return FIXED_CLASSES.get(self.data, self.classes)

    def train_config(self, train_examples: int) -> TrainConfig:
        """The TrainConfig that trains these settings: the toy recipe of `firstnet plot boundary`
        (constant rate, fp32, on the CPU) with the page's model, optimizer, rate, batch and L2, for
        as many epochs as MAX_STEPS allows."""
        batch = self.batch or train_examples
        epochs = max(1, MAX_STEPS // math.ceil(train_examples / batch))
        model = {"model": "linear"} if self.model == "linear" else {
            "model": "mlp", "depth": self.depth, "hidden": self.width,
            "activation": self.activation}  # fmt: skip
        recipe = TOY_RECIPE | OPTIMIZERS[self.optimizer]
        recipe |= {"batch_size": batch, "lr": self.lr, "weight_decay": self.l2}
        return TrainConfig(**model, **recipe, epochs=epochs, seed=self.seed)


def png_base64(rgb: np.ndarray) -> str:
    """An (H, W, 3) image in [0, 1] as base64 PNG."""
    return base64.b64encode(png_bytes((255 * np.clip(rgb, 0, 1)).round().astype(np.uint8))).decode()


def unit_tiles(outputs: torch.Tensor, size: int) -> np.ndarray:
    """The outputs (S * S, U) of U hidden units on a grid of S x S points as one row of U heat-map
    tiles (S, U * S, 3), each scaled to its own range: dark where the unit is quiet, bright where it
    fires."""
    values = outputs.detach().float().numpy().T.reshape(-1, size, size)  # (U, S, S)
    low = values.min(axis=(1, 2), keepdims=True)
    span = np.maximum(values.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    scaled = (values - low) / span
    heat = np.stack([scaled, scaled**2, 0.25 + 0.5 * scaled * (1 - scaled)], -1)  # (U, S, S, 3)
    return np.concatenate(list(heat), axis=1)


class ToyJob:
    """A toy training controlled from the page: `command` plays, pauses, steps or stops it;
    `frame` is the latest picture of it and `version` counts the frames."""

    def __init__(self, settings: ToySettings) -> None:
        self.settings = settings
        self.data = make_toy(settings.data, settings.points, settings.noise, settings.seed,
                             settings.toy_classes(), settings.test_share)  # fmt: skip
        self.cfg = settings.train_config(len(self.data.train_labels))
        classes = self.data.num_classes
        model = model_for(self.cfg, inputs=2, classes=classes, mean=0.0, std=1.0)
        self.trainer = Trainer(self.cfg, self.data, model=model)
        self.grid, self.unit_grid = make_grid(self.data, GRID), make_grid(self.data, UNIT_GRID)
        self.changed = threading.Condition()
        self.state, self.pending, self.steps, self.error = "paused", 0, 0, None
        self.born, self.watched = time.monotonic(), 0  # watched: the pages that follow it
        self.frame, self.version = self.draw(), 0
        self.thread = threading.Thread(target=self.loop, name="firstnet-lab", daemon=True)
        self.thread.start()
        LIVE.add(self)

    @property
    def over(self) -> bool:
        return self.state in OVER

    def points(self) -> dict:
        """The data, for the page to draw over the regions: [x, y, label] rows."""
        data = self.data
        return {
            "train": np.column_stack([data.train_images, data.train_labels]).round(4).tolist(),
            "test": np.column_stack([data.test_images, data.test_labels]).round(4).tolist(),
            "extent": list(self.grid.extent),
            "classes": data.num_classes,
        }

    def command(self, what: str) -> str:
        """play, pause, step (one optimizer step, then paused) or stop; the state after it."""
        if what not in ("play", "pause", "step", "stop"):
            raise ConfigError(f"unknown command {what!r}; use play, pause, step or stop")
        with self.changed:
            if not self.over:
                if what == "step":
                    self.state, self.pending = "paused", self.pending + 1
                else:
                    self.state = {"play": "playing", "pause": "paused", "stop": "stopped"}[what]
            self.changed.notify_all()
            return self.state

    def loop(self) -> None:
        while True:
            with self.changed:
                while self.state == "paused" and not self.pending and not self.expired():
                    self.changed.wait(0.25)
                if self.expired() and not self.over:
                    self.state, self.error = "stopped", "the job's time limit is over"
                if self.over:  # its last frame says so (stopped while paused, or at the limit)
                    if self.frame["state"] != self.state:
                        self.publish()
                    return
                budget = self.pending or self.settings.speed
                self.pending = 0
            started = time.monotonic()
            self.advance(budget)
            self.publish()
            if not self.over:  # at most MAX_FPS frames a second
                time.sleep(max(0.0, 1 / MAX_FPS - (time.monotonic() - started)))

    def expired(self) -> bool:
        return time.monotonic() - self.born > MAX_SECONDS

    def advance(self, budget: int) -> None:
        """`budget` optimizer steps (at most `speed`, so a pause waits for them), or fewer if a stop
        comes first."""
        taken = 0

        def counted(_steps: int) -> None:
            nonlocal taken
            taken += 1

        def should_stop() -> bool:
            return taken >= budget or self.state == "stopped"

        try:
            self.trainer.run(on_step=counted, should_stop=should_stop)
        except DivergedError as diverged:
            self.state, self.error = "diverged", str(diverged)
        self.steps += taken
        if self.trainer.finished and not self.over:
            self.state = "done"

    def publish(self) -> None:
        frame = self.draw()
        with self.changed:
            self.frame, self.version = frame, self.version + 1
            self.changed.notify_all()

    @torch.no_grad()
    def draw(self) -> dict:
        """The frame: steps taken, state, error, finished epochs (`routes` sends their records with
        it), the regions and the hidden units."""
        model = self.trainer.model.eval()
        regions = region_colours(grid_probabilities(model, self.grid))[::-1]  # y up
        frame = {"step": self.steps, "state": self.state, "error": self.error,
                 "epochs": len(self.trainer.history), "regions": png_base64(regions)}  # fmt: skip
        if hasattr(model, "features"):
            last = model.features(self.unit_grid.points)[-1]  # (S * S, U)
            tiles = unit_tiles(last, UNIT_GRID)[::-1]
            frame |= {"units": png_base64(tiles), "unit_count": last.shape[1], "tile": UNIT_GRID}
        return frame


LIVE: weakref.WeakSet[ToyJob] = weakref.WeakSet()


@atexit.register
def stop_live_jobs() -> None:
    """At exit, each job stopped and its thread ended: a thread still in torch while the interpreter
    finalises would abort the process."""
    for job in list(LIVE):
        job.command("stop")
        job.thread.join(2)
