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

import math
import time
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
    region_colours,
)
from firstnet.lab.job import Job
from firstnet.lab.pictures import png_base64, unit_tiles
from firstnet.models import model_for
from firstnet.trainer import Trainer

OPTIMIZERS = {  # the page's names, as TrainConfig fields
    "sgd": {"optimizer": "sgd", "momentum": 0.0, "nesterov": False},
    "momentum": {"optimizer": "sgd", "momentum": 0.9, "nesterov": False},
    "adam": {"optimizer": "adam"},
}
MAX_STEPS = 100_000  # optimizer steps a job may take
MAX_FPS = 25  # frames a second, at most
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


class ToyJob(Job):
    """A toy training controlled from the page (`Job`'s commands): `frame` is its latest picture."""

    def __init__(self, settings: ToySettings) -> None:
        super().__init__()
        self.settings = settings
        self.data = make_toy(settings.data, settings.points, settings.noise, settings.seed,
                             settings.toy_classes(), settings.test_share)  # fmt: skip
        self.cfg = settings.train_config(len(self.data.train_labels))
        classes = self.data.num_classes
        model = model_for(self.cfg, inputs=2, classes=classes, mean=0.0, std=1.0)
        self.trainer = Trainer(self.cfg, self.data, model=model)
        self.grid, self.unit_grid = make_grid(self.data, GRID), make_grid(self.data, UNIT_GRID)
        self.frame = self.draw()
        self.start_thread(self.loop)

    @property
    def history(self) -> list[dict]:
        return self.trainer.history

    def points(self) -> dict:
        """The data, for the page to draw over the regions: [x, y, label] rows."""
        data = self.data
        return {
            "train": np.column_stack([data.train_images, data.train_labels]).round(4).tolist(),
            "test": np.column_stack([data.test_images, data.test_labels]).round(4).tolist(),
            "extent": list(self.grid.extent),
            "classes": data.num_classes,
        }

    def loop(self) -> None:
        while True:
            with self.changed:
                allowed = self.wait_while_paused()
                if self.over:  # its last frame says so (stopped while paused, or at the limit)
                    if self.frame["state"] != self.state:
                        self.publish(self.draw())
                    return
            started = time.monotonic()
            self.advance(allowed if allowed > 0 else self.settings.speed)
            self.publish(self.draw())
            if not self.over:  # at most MAX_FPS frames a second
                time.sleep(max(0.0, 1 / MAX_FPS - (time.monotonic() - started)))

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
