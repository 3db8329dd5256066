"""Training the NumPy MLP on MNIST: the torch `Trainer`'s recipe (batches, schedule, SGD with
momentum, weight decay, label smoothing, per-epoch test evaluation and history), in NumPy.

Speed comes from doing what the torch loop does: the training set stays uint8 and only each batch is
converted to float32; every matrix product is one BLAS call on float32 arrays (a transpose such as
W1.T is a flag to BLAS, not a copy; NumPy's BLAS uses all cores); the optimizer updates parameters
in place.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from firstnet.activations import get_activation
from firstnet.config import INPUT_DIM, NUM_CLASSES
from firstnet.errors import ConfigError
from firstnet.reporting import LOG_EVERY, check_and_report, epoch_record
from firstnet.schedule import epoch_plan, learning_rate, steps_in_epoch
from firstnet.scratch.mlp import (
    Params,
    backward,
    forward,
    init_params,
    normalise,
    predict_logits,
    softmax_cross_entropy,
)

if TYPE_CHECKING:
    from firstnet.config import TrainConfig
    from firstnet.data import LabelledData

# The TrainConfig fields the NumPy trainer honours (the `firstnet scratch` options) and those it
# fixes.
CONFIG_FIELDS = (
    "dataset",
    "hidden",
    "activation",
    "init",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "warmup",
    "step_every",
    "gamma",
    "label_smoothing",
    "seed",
    "train_limit",
    "test_limit",
)
FIXED_FIELDS = {
    "model": "mlp",
    "depth": 2,
    "optimizer": "sgd",
    "precision": "fp32",
    "device": "cpu",
}


class SGD:
    """torch.optim.SGD's update rule, in place: g = dL/dp + wd p; v = mu v + g; p -= lr (g + mu v)
    with Nesterov momentum, p -= lr v without; mu = 0 is plain gradient descent. Weight decay
    applies to every parameter, biases included, as in torch."""

    def __init__(
        self,
        params: Params,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if momentum < 0 or weight_decay < 0:
            raise ConfigError(
                f"momentum and weight_decay must be >= 0, got {momentum} and {weight_decay}",
                ("momentum", "weight_decay"),
            )
        self.momentum, self.nesterov, self.weight_decay = (
            momentum,
            nesterov and momentum > 0,
            weight_decay,
        )
        self.velocity = {name: np.zeros_like(p) for name, p in params.items()} if momentum else {}

    def step(self, params: Params, grads: Params, lr: float) -> None:
        """Update `params` in place; `grads` is used as scratch space."""
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay:
                g += self.weight_decay * p
            if self.momentum:
                v = self.velocity[name]
                v *= self.momentum
                v += g
                if self.nesterov:
                    g += self.momentum * v
                else:
                    g = v
            p -= lr * g


def check_config(cfg: TrainConfig) -> None:
    """The NumPy MLP implements one model and one optimizer: refuse any other setting of the fields
    it does not honour (those outside CONFIG_FIELDS), rather than silently train something else. The
    device is ignored."""
    reference = type(cfg)(**FIXED_FIELDS)
    for f in dataclasses.fields(cfg):
        value, supported = getattr(cfg, f.name), getattr(reference, f.name)
        if f.name == "precision" and value == "auto":  # bf16 where native: never in NumPy
            continue
        if f.name not in (*CONFIG_FIELDS, "device") and value != supported:
            raise ConfigError(
                f"the NumPy MLP trains with {f.name} {supported!r} only, got {value!r}", (f.name,)
            )


def evaluate(
    params: Params, images: np.ndarray, labels: np.ndarray, activation: str
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction) on a labelled set, as
    `firstnet.evaluate.evaluate`."""
    logits = predict_logits(params, images, activation)  # (N, K)
    _, cross_entropy, _ = softmax_cross_entropy(logits, labels)
    return cross_entropy, float((logits.argmax(1) == labels).mean())


class ScratchTrainer:
    """Trains the NumPy MLP with the settings of a TrainConfig (model "mlp", depth 2, SGD, fp32)."""

    def __init__(self, cfg: TrainConfig, data: LabelledData) -> None:
        check_config(cfg)
        self.cfg = cfg
        data = data.subset(cfg.train_limit, cfg.test_limit)
        # (N, 784)
        self.train_images = np.ascontiguousarray(
            data.train_images.reshape(len(data.train_images), -1)
        )
        self.train_labels = data.train_labels.astype(np.int64)
        self.test_images, self.test_labels = data.test_images, data.test_labels.astype(np.int64)
        # the plan, then the network, then its optimizer
        self.steps_per_epoch = math.ceil(len(self.train_labels) / cfg.batch_size)
        self.epochs, self.total_steps = epoch_plan(cfg.epochs, self.steps_per_epoch)
        self.activation = get_activation(cfg.activation)
        rng = np.random.default_rng(cfg.seed)
        sizes = (INPUT_DIM, cfg.hidden, cfg.hidden, NUM_CLASSES)
        self.params = init_params(sizes, self.activation.gain, cfg.init, rng)
        self.optimizer = SGD(self.params, cfg.momentum, cfg.nesterov, cfg.weight_decay)
        # batch order depends on the seed only
        self.shuffle_rng = np.random.default_rng([cfg.seed, 1])
        self.epoch, self.elapsed_s, self.history, self.lr = 0, 0.0, [], 0.0

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    def run(self, on_progress=None, on_epoch=None, should_stop=lambda: False) -> list[dict]:
        """Train until `self.epochs` are done or `should_stop()` turns true between two batches.

        The callbacks are those of `Trainer.run`: `on_progress(ProgressRecord)` every LOG_EVERY
        batches, `on_epoch(record)` after each epoch. Returns the history, one record per finished
        epoch, with the keys of the torch Trainer's.
        """
        while not self.finished:
            sums = self._train_epoch(on_progress, should_stop)
            if sums is None:
                break
            record = self._end_epoch(*sums)
            if on_epoch:
                on_epoch(record)
        return self.history

    def _train_epoch(self, on_progress, should_stop) -> tuple[float, int, int] | None:
        """One shuffled pass; (summed cross-entropy, correct, count), or None if stopped early."""
        cfg, start = self.cfg, time.perf_counter()
        order = self.shuffle_rng.permutation(len(self.train_labels))
        loss_sum, correct, count = 0.0, 0, 0
        steps = steps_in_epoch(self.epoch, self.steps_per_epoch, self.total_steps)
        for batch in range(steps):
            if should_stop():
                return None
            index = order[batch * cfg.batch_size : (batch + 1) * cfg.batch_size]
            X = normalise(self.train_images[index])  # (B, 784) float32
            labels = self.train_labels[index]  # (B,)
            cache = forward(self.params, X, self.activation)
            _, cross_entropy, P = softmax_cross_entropy(cache.Z3, labels, cfg.label_smoothing)
            grads = backward(self.params, cache, P, labels, self.activation, cfg.label_smoothing)
            self.lr = learning_rate(
                cfg,
                self.epoch * self.steps_per_epoch + batch,
                self.total_steps,
                self.steps_per_epoch,
            )
            self.optimizer.step(self.params, grads, self.lr)
            loss_sum += cross_entropy * len(labels)
            correct += int((cache.Z3.argmax(1) == labels).sum())
            count += len(labels)
            if (batch + 1) % LOG_EVERY == 0 or batch + 1 == steps:
                position = (self.epoch + 1, self.epochs, batch + 1, steps)
                seconds = time.perf_counter() - start
                sums = (loss_sum, correct, count)
                check_and_report(on_progress, position, sums, count, seconds, self.lr)
        self.elapsed_s += time.perf_counter() - start
        return loss_sum, correct, count

    def _end_epoch(self, loss_sum: float, correct: int, count: int) -> dict:
        start = time.perf_counter()
        test_loss, test_acc = evaluate(
            self.params, self.test_images, self.test_labels, self.cfg.activation
        )
        self.elapsed_s += time.perf_counter() - start
        self.epoch += 1
        sums, test = (loss_sum, correct, count), (test_loss, test_acc)
        record = epoch_record(self.epoch, sums, test, self.elapsed_s, self.lr)
        self.history.append(record)
        return record
