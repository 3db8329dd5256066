"""The MNIST panel's training: the linear model, an MLP or the CNN of `firstnet train`, trained
live by the one `train_run` into a run directory of its own, which "save as run" copies.

`lab_config` turns the page's settings (the TrainConfig fields of LAB_FIELDS, within TrainConfig's
checks and the lab's LAB_BOUNDS) into the TrainConfig that `firstnet train` would use;
`train_command` is that command. `MnistJob` trains in a thread of its own: `train_run`'s
`should_stop`, asked before every batch, is where the job draws a frame (every FRAME_S seconds, or
every step in slow motion) and where it waits while paused, so pausing and stepping change no
number of the training. A frame holds the mean training loss of the batches since the last one,
the first layer's weights as 28x28 pictures, and, paused or done, the test set's confusion matrix.
Between two batches the page's pad asks the model (`predict`) and teaches a copy of it one drawn
example (`teach`).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from firstnet import runs
from firstnet.atomic import write_files
from firstnet.config import TrainConfig, check_model_fields, from_values
from firstnet.data import DATASETS, LabelledData
from firstnet.device import resolve_device, resolve_precision
from firstnet.errors import ConfigError, DivergedError, FirstnetError
from firstnet.evaluate import confusion_matrix, probabilities
from firstnet.lab import teach
from firstnet.lab.job import Job, all_cores
from firstnet.lab.pictures import png_base64, signed_tiles
from firstnet.models import MLP, Linear, model_for
from firstnet.reporting import ProgressRecord
from firstnet.schedule import epoch_plan
from firstnet.serve.registry import ServedModel, predict
from firstnet.training import train_run

# The TrainConfig fields the panel sets, in the order its form and its command show them.
LAB_FIELDS = ("dataset", "model", "hidden", "depth", "activation", "channels", "epochs",
              "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
              "label_smoothing", "augment", "precision", "seed", "train_limit")  # fmt: skip
# Within TrainConfig's own checks, what one lab job may ask of a laptop shared with a class.
LAB_BOUNDS = {"hidden": (1, 1024), "depth": (0, 6), "channels": (1, 64), "epochs": (1, 30),
              "batch_size": (1, 4096), "train_limit": (100, 60_000), "lr": (1e-6, 10.0),
              "momentum": (0.0, 0.999), "weight_decay": (0.0, 1.0)}  # fmt: skip
CNN_BATCH = 512  # the CNN's activations grow with batch x channels: 512 x 64 keep about 1 GB
FRAME_S = 0.25  # playing: a frame after this many seconds of training
SLOW_S = 0.2  # in slow motion: one step, then a frame, every this many seconds
TILES = 32  # first-layer units drawn as 28x28 pictures (the linear model has 10)
BUSY_S = 5.0  # a pad's request waits this long at most for the training to reach a pause


class Busy(FirstnetError):
    """The model is training: the pad waits for a pause (HTTP 409)."""


def lab_config(values: dict) -> TrainConfig:
    """The TrainConfig of the page's settings; a ConfigError naming the field for a bad one."""
    if not isinstance(values, dict):
        raise ConfigError("the settings must be a JSON object")
    cfg = from_values(TrainConfig, values)  # unknown names (with a guess), types, choices
    outside = [name for name in values if name not in LAB_FIELDS]
    if outside:
        shown = ", ".join(outside)
        raise ConfigError(f"the lab does not set {shown}; firstnet train does", tuple(outside))
    check_model_fields(cfg, values)
    bounds = LAB_BOUNDS | ({"batch_size": (1, CNN_BATCH)} if cfg.model == "cnn" else {})
    for name, (low, high) in bounds.items():
        value = getattr(cfg, name)
        if value is not None and not low <= value <= high:
            raise ConfigError(
                f"{name} must lie in [{low}, {high}] in the lab, got {value}", (name,)
            )
    resolve_precision(cfg.precision, resolve_device(cfg.device))  # fp16 on a CPU: said now
    return cfg


def lab_defaults() -> dict:
    """The LAB_FIELDS of each data set's and model's recipe, as `firstnet train` fills them."""
    return {
        dataset: {model: panel_values(TrainConfig(dataset=dataset, model=model))
                  for model in ("linear", "mlp", "cnn")}
        for dataset in DATASETS
    }  # fmt: skip


def panel_values(cfg: TrainConfig) -> dict:
    return {name: getattr(cfg, name) for name in LAB_FIELDS}


def train_command(cfg: TrainConfig) -> str:
    """The `firstnet train` command that trains `cfg`: the flags of the fields that differ from
    the recipe of its data set and model."""
    recipe = TrainConfig(dataset=cfg.dataset, model=cfg.model)
    parts = ["firstnet", "train", "--model", cfg.model]
    for name in LAB_FIELDS:
        value = getattr(cfg, name)
        if name != "model" and value != getattr(recipe, name):
            parts += ["--" + name.replace("_", "-"), str(value)]
    return " ".join(parts)


def first_layer(model: torch.nn.Module) -> torch.Tensor | None:
    """The weights (U, 784) of the layer that sees the pixels, for the linear model and the MLP."""
    if isinstance(model, (Linear, MLP)):
        return teach.weight_layers(model)[0].weight
    return None


class MnistJob(Job):
    """An MNIST training controlled from the page (`Job`'s commands, plus slow and fast)."""

    def __init__(
        self, cfg: TrainConfig, data: LabelledData, yield_to: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.yield_to = yield_to  # between two batches: waits while the server answers requests
        self.cfg, self.data = cfg, data.subset(cfg.train_limit, cfg.test_limit)
        folder = Path(tempfile.mkdtemp(prefix="firstnet-lab-"))
        self.folder = folder / "run"
        weakref.finalize(self, shutil.rmtree, folder, True)  # the copy "save as run" did not take
        self.model = model_for(cfg)
        self.device = resolve_device(cfg.device)
        examples = len(self.data.train_labels)
        self.steps_per_epoch = -(-examples // cfg.batch_size)
        self.total_steps = epoch_plan(cfg.epochs, self.steps_per_epoch)[1]
        self.history: list[dict] = []
        self.trace: list[list[float]] = []  # [step, loss, accuracy] every LOG_EVERY steps
        self.last = (0, 0, 0.0, 0.0)  # epoch, batch, running loss and accuracy of the last report
        self.confusion: list[list[int]] | None = None
        self.confusion_at = -1  # the step it was counted at
        self.slow, self.taught, self.taught_steps, self.drawn = False, None, 0, 0.0
        self.idle = threading.Lock()  # held by the training while it trains
        self.frame = self.draw()
        self.start_thread(self.train)

    def command(self, what: str) -> str:
        """`Job.command`, plus slow (one step a frame, SLOW_S apart), fast, and forget (the pad
        answers with the trained model again, not the taught copy)."""
        if what in ("slow", "fast"):
            self.slow = what == "slow"
            return self.state
        if what == "forget":
            self.taught = None  # a teach at work keeps its own reference
            return self.state
        return super().command(what)

    def train(self) -> None:
        ended, error = "stopped", None
        self.idle.acquire()
        try:
            with all_cores():
                run = train_run(self.cfg, self.data, self.folder, self.on_progress, self.on_epoch,
                                self.gate, model=self.model)  # fmt: skip
            ended = "done" if run.finished else "stopped"
        except DivergedError as diverged:
            ended, error = "diverged", str(diverged)
        except (OSError, FirstnetError) as failed:  # a full disk, say: the page says so
            error = f"the training stopped: {failed}"
        except Exception as failed:  # noqa: BLE001 - whatever it was, the job ends and says so
            error = f"the training failed: {type(failed).__name__}: {failed}"
            traceback.print_exc()  # and the server's log has the whole story
        finally:
            self.idle.release()
        with self.changed:
            if not self.over or error:
                self.state = ended
            self.error = error or self.error
        if self.steps and ended != "diverged":
            self.count_confusion()
        self.publish(self.draw())

    def stale(self) -> bool:
        """Whether the last frame shows another state or step than the job's."""
        return self.frame["state"] != self.state or self.frame["step"] != self.steps

    def gate(self) -> bool:
        """`train_run`'s should_stop, before every batch: a frame when one is due (and always
        before a wait, so a paused page shows where it stopped), the wait while paused; True to
        stop."""
        while True:
            due = time.monotonic() - self.drawn >= FRAME_S
            if self.slow or due or (self.state != "playing" and self.stale()):
                if self.state == "paused" and self.steps:
                    self.count_confusion()
                self.publish(self.draw())
                self.drawn = time.monotonic()
            self.idle.release()
            try:
                with self.changed:
                    if self.state == "paused" and not self.pending and self.stale():
                        continue  # paused after that frame was drawn: draw it first
                    allowed = self.wait_while_paused()
                    self.pending += max(0, allowed - 1)  # one step now, the others later
                    stop = self.over
            finally:
                self.idle.acquire()
            break
        if stop:
            return True
        if self.slow and allowed < 0:
            time.sleep(SLOW_S)
        if self.yield_to is not None:
            self.yield_to()
        self.steps += 1
        self.taught = None  # the pad answers with the trained model again
        return False

    def on_progress(self, record: ProgressRecord) -> None:
        """Every LOG_EVERY batches: the mean loss and accuracy of the batches since the last
        report, from the epoch's running means."""
        epoch, batch, loss, accuracy = self.last if self.last[0] == record.epoch else (0, 0, 0, 0)
        batches = record.batch - batch
        if batches > 0:
            step = (record.epoch - 1) * self.steps_per_epoch + record.batch
            mean_loss = (record.train_loss * record.batch - loss * batch) / batches
            mean_accuracy = (record.train_acc * record.batch - accuracy * batch) / batches
            self.trace.append([step, round(mean_loss, 5), round(mean_accuracy, 5)])
        self.last = (record.epoch, record.batch, record.train_loss, record.train_acc)

    def on_epoch(self, record: dict) -> None:
        self.history.append(record)

    @torch.no_grad()
    def count_confusion(self) -> None:
        """The test set's confusion matrix now, as `firstnet eval` counts it (its precision and
        test-time augmentation); once per step it was asked at (a paused or finished job)."""
        if self.confusion_at == self.steps:
            return
        images = torch.tensor(self.data.test_images).unsqueeze(1).to(self.device)
        predicted = probabilities(self.cfg, self.model, images).argmax(1).cpu()
        labels = torch.tensor(self.data.test_labels, dtype=torch.int64)
        self.confusion = confusion_matrix(labels, predicted, self.data.num_classes).tolist()
        self.confusion_at = self.steps

    @torch.no_grad()
    def draw(self) -> dict:
        """The frame: steps, state, error, finished epochs (`routes` sends their records), the loss
        points since the last frame, the first layer's weights, the confusion matrix."""
        frame = {"step": self.steps, "state": self.state, "error": self.error,
                 "epochs": len(self.history), "traced": len(self.trace),
                 "total_steps": self.total_steps, "slow": self.slow,
                 "confusion": self.confusion}  # fmt: skip
        weights = first_layer(self.model)
        if weights is not None:
            rows = weights[:TILES].detach().float().cpu().numpy()
            frame |= {"weights": png_base64(signed_tiles(rows, 5 if len(rows) <= 10 else 8)),
                      "weight_count": len(rows)}  # fmt: skip
        return frame

    def between_batches(self):
        """The lock a pad's request holds: the training waits for it; Busy when the training is
        playing (its model changes under every answer)."""
        if self.state == "playing":
            raise Busy("the model is training: pause it to draw on it")
        if not self.idle.acquire(timeout=BUSY_S):
            raise Busy("the model is still finishing a step; ask again")
        return self.idle

    def predict(self, image: np.ndarray) -> dict:
        """`firstnet serve`'s answer for one MNIST-like image (28, 28), from the taught copy when
        one was taught since the last step, else from the model as trained."""
        lock = self.between_batches()
        try:
            taught = self.taught  # read once: a forget may come meanwhile
            model = taught if taught is not None else self.model
            if self.device.type != "cpu" and model is self.model:
                model = copy.deepcopy(model).cpu()
            served = ServedModel("lab", self.cfg.model, self.folder, self.cfg, model)
            return predict(served, image) | {"taught": taught is not None}
        finally:
            lock.release()

    def teach(self, image: np.ndarray, label: int, lr: float, step: bool) -> dict:
        """The gradients of the taught copy for one example, after one step of gradient descent
        on them when `step`."""
        if not 0 <= label < self.data.num_classes:
            raise ConfigError(f"label must be a class number in [0, {self.data.num_classes - 1}]")
        if not 0 < lr <= 10:
            raise ConfigError(f"lr must lie in (0, 10], got {lr}")
        lock = self.between_batches()
        try:
            teach.weight_layers(self.model)  # the CNN is refused before anything is copied
            taught = self.taught  # read once: a forget may come meanwhile
            if taught is None:
                taught = copy.deepcopy(self.model).float().cpu().eval()
                self.taught, self.taught_steps = taught, 0
            found = teach.gradients(taught, image, label)
            if step:
                teach.gradient_step(taught, lr)
                self.taught_steps += 1
                found = teach.gradients(taught, image, label)
            return teach.view(found) | {"taught_steps": self.taught_steps}
        finally:
            lock.release()

    def save(self, runs_dir: Path) -> dict:
        """A copy of the job's run directory in `runs_dir`: a finished run, or a stopped one that
        `firstnet train --resume` continues; the name it got and the command that trains it."""
        if not self.over or self.state == "diverged":
            raise ConfigError("stop the training (or let it finish) before saving it")
        self.thread.join(BUSY_S)  # its last batch and its files written
        if self.thread.is_alive() or not (self.folder / runs.CONFIG).is_file():
            raise ConfigError("nothing to save yet: the training has not written its run")
        name = f"lab-{runs.default_name(self.cfg)}"
        target = runs.create_run_dir(runs_dir, name, numbered=True)
        files = {path.name: path.read_bytes() for path in sorted(self.folder.iterdir())
                 if path.is_file() and not path.name.startswith(".")}  # fmt: skip
        write_files(target, files)
        return {"run": str(target), "finished": self.state == "done",
                "command": train_command(self.cfg)}  # fmt: skip
