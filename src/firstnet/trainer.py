"""The one training loop, for every model.

The whole data set lives on the device as uint8 (4x smaller than float32, so cheaper to hold and to
index); each step slices a batch by shuffled indices and converts only that batch to float. No
per-sample Dataset or DataLoader: for MNIST-sized data their Python overhead dominates the
arithmetic. The loop prints nothing: progress goes to callbacks, results come back as a history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from firstnet.config import TrainConfig
from firstnet.data import LabelledData
from firstnet.device import autocast, resolve_device, resolve_precision, to_device_tensors
from firstnet.errors import ConfigError
from firstnet.evaluate import as_float, evaluate
from firstnet.models import model_for
from firstnet.muon import Muon
from firstnet.reporting import LOG_EVERY, ProgressRecord, check_and_report, epoch_record
from firstnet.schedule import epoch_plan, learning_rate, steps_in_epoch
from firstnet.static_step import StaticStep


def smoothed_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, smoothing: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(training loss, plain cross-entropy): the loss optimised and the one reported, in one pass.

    Label smoothing (Szegedy et al., 2016) mixes in the cross-entropy against a uniform target.
    """
    log_probs = logits.float().log_softmax(1)  # (B, 10)
    cross_entropy = F.nll_loss(log_probs, labels)
    return (1 - smoothing) * cross_entropy - smoothing * log_probs.mean(), cross_entropy


def build_optimizer(
    cfg: TrainConfig, model: torch.nn.Module, static: bool = False
) -> torch.optim.Optimizer:
    """The configured optimizer; `static` (SGD only): fused, with the learning rate a tensor on the
    model's device that a captured step updates in place."""
    params = model.parameters()
    if cfg.optimizer == "sgd":
        nesterov = cfg.nesterov and cfg.momentum > 0
        device = next(model.parameters()).device
        return torch.optim.SGD(
            params,
            lr=torch.tensor(cfg.lr, device=device) if static else cfg.lr,
            momentum=cfg.momentum,
            nesterov=nesterov,
            weight_decay=cfg.weight_decay,
            fused=True if static else None,
        )
    if cfg.optimizer == "muon":
        return Muon(model, cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def random_shifts(count: int, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Offsets (2, count) into an image padded by `max_shift`, uniform in [0, 2 * max_shift]: a
    shift of each image by its own (dy, dx) in [-max_shift, max_shift]^2."""
    return torch.randint(0, 2 * max_shift + 1, (2, count), generator=generator)


def translate(images: torch.Tensor, offsets: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Shift each image of a uint8 batch (B, 1, H, W) by its `offsets` (2, B) (see random_shifts).

    One gather for the whole batch, on uint8 (4x less memory traffic than float); borders fill with
    0.
    """
    count, _, height, width = images.shape
    device = images.device
    padded = F.pad(images, (max_shift,) * 4)  # (B, 1, H + 2s, W + 2s)
    rows = offsets[0, :, None] + torch.arange(height, device=device)  # (B, H)
    cols = offsets[1, :, None] + torch.arange(width, device=device)  # (B, W)
    batch = torch.arange(count, device=device)[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


def check_position(
    state: dict, epochs: int, steps_per_epoch: int, total_steps: int, examples: int
) -> None:
    """ValueError unless a state dict's place in training fits a run of this config (a fractional
    last epoch has fewer batches)."""
    epoch, batch, order, history = state["epoch"], state["batch"], state["order"], state["history"]
    whole = type(epoch) is int and type(batch) is int and 0 <= epoch <= epochs
    steps = steps_in_epoch(min(epoch, epochs - 1), steps_per_epoch, total_steps) if whole else 0
    if not (whole and 0 <= batch < steps):
        raise ValueError(f"epoch {epoch!r}, batch {batch!r} is no place in {epochs} epochs")
    if order is not None and (not isinstance(order, torch.Tensor) or order.shape != (examples,)):
        raise ValueError("the batch order is not a permutation of the training set")
    shifts = state.get("shifts")
    if shifts is not None and (
        not isinstance(shifts, torch.Tensor) or shifts.shape != (2, examples)
    ):
        raise ValueError("the shifts are not two offsets per training image")
    if not isinstance(history, list) or len(history) != epoch:
        raise ValueError(f"the history does not hold the {epoch} finished epochs")
    if not isinstance(state["sums"], torch.Tensor) or state["sums"].shape != (3,):
        raise ValueError("the running sums are not three numbers")


def uses_static_step(cfg: TrainConfig, device: torch.device, examples: int) -> bool:
    """Whether a run uses the fixed-shape step of `firstnet.static_step` (`--graph`; by default on
    CUDA for SGD without --compile). ConfigError where it cannot."""
    if cfg.graph is None:
        return (
            device.type == "cuda"
            and cfg.optimizer == "sgd"
            and not cfg.compile
            and examples >= cfg.batch_size
        )
    if cfg.graph and (cfg.optimizer != "sgd" or cfg.compile):
        fields = ("graph", "optimizer", "compile")
        raise ConfigError("graph needs optimizer sgd and no compile", fields)
    if cfg.graph and examples < cfg.batch_size:
        message = f"graph needs at least one full batch ({cfg.batch_size} images)"
        raise ConfigError(message, ("graph",))
    return cfg.graph


class Trainer:
    """Holds everything a run needs to continue exactly where it stopped: model, optimizer, batch
    order and shifts, position in the epoch, running sums and history. `state_dict()` exports all
    of it as one dict and `load_state_dict()` takes it back; `firstnet.runs` only serialises that
    dict."""

    def __init__(
        self, cfg: TrainConfig, data: LabelledData, model: torch.nn.Module | None = None
    ) -> None:
        """`data`: MNIST, a set of its shape or a 2-D toy set (`firstnet.data.toy`);
        `model`, when given, replaces the one `cfg` describes (e.g. an MLP sized for 2-D inputs)."""
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        data = data.subset(cfg.train_limit, cfg.test_limit)
        self.train_images, self.train_labels = to_device_tensors(
            data.train_images, data.train_labels, self.device
        )
        self.test_images, self.test_labels = to_device_tensors(
            data.test_images, data.test_labels, self.device
        )
        examples = len(self.train_labels)
        # The plan first: the static step (CUDA graphs) uses full batches only; a fractional
        # `epochs` (1.5) cuts the last epoch short, and the schedule spans the steps run.
        static = uses_static_step(cfg, self.device, examples)
        self.steps_per_epoch = (
            examples // cfg.batch_size if static else math.ceil(examples / cfg.batch_size)
        )
        self.epochs, self.total_steps = epoch_plan(cfg.epochs, self.steps_per_epoch)
        rates = [learning_rate(cfg, step, self.total_steps, self.steps_per_epoch)
                 for step in range(self.total_steps)] if static else None  # fmt: skip
        # then the model and its optimizer
        self.model = (model if model is not None else model_for(cfg)).to(self.device)
        self.layout = getattr(self.model, "memory_format", torch.contiguous_format)
        if self.device.type == "cuda" and not torch.backends.cudnn.deterministic:
            torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN times its algorithms once
        # The compiled wrapper shares the parameters; checkpoints always use the plain module's
        # names.
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        self.optimizer = build_optimizer(cfg, self.model, static)
        # A generator of its own, on the CPU, so batch order and augmentation depend only on the
        # seed (the model's initial weights too: `model_for`); the global random state is not
        # touched.
        self.shuffle_generator = torch.Generator().manual_seed(cfg.seed)
        self.static = None
        if static:
            self.static = StaticStep(
                self._step,
                self.optimizer.param_groups[0]["lr"],
                torch.tensor(rates),
                self.steps_per_epoch,
                cfg.batch_size,
                examples,
                bool(cfg.augment),
            )
        self.epoch = 0  # completed epochs
        self.batch = 0  # completed batches of the current epoch
        self.order: torch.Tensor | None = None  # this epoch's permutation of the training set
        self.shifts: torch.Tensor | None = None  # this epoch's offsets (2, N) of random_shifts
        # loss*n, correct, n; MPS (Apple GPUs) has no float64
        self.sum_dtype = torch.float32 if self.device.type == "mps" else torch.float64
        self.sums = torch.zeros(3, dtype=self.sum_dtype, device=self.device)
        self.elapsed_s = 0.0
        self.history: list[dict] = []

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    def state_dict(self) -> dict:
        """Everything a resume needs, as one dict of plain values, tensors and state dicts."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": {"shuffle": self.shuffle_generator.get_state()},
            "epoch": self.epoch,
            "batch": self.batch,
            "order": self.order,
            "shifts": self.shifts,
            "sums": self.sums,
            "elapsed_s": self.elapsed_s,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()` of a trainer with the same config: the same batches, weights
        and numbers follow as if training had never stopped."""
        examples = len(self.train_labels)
        check_position(state, self.epochs, self.steps_per_epoch, self.total_steps, examples)
        self.model.load_state_dict(state["model"])
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.load_state_dict(state["optimizer"])
        if self.static:  # the static step's learning-rate tensor stays in place
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        self.shuffle_generator.set_state(state["rng"]["shuffle"])
        self.epoch, self.batch = state["epoch"], state["batch"]
        self.order = None if state["order"] is None else state["order"].to(self.device)
        shifts = state.get("shifts")  # absent from checkpoints before shifts were drawn per epoch
        self.shifts = None if shifts is None else shifts.to(self.device)
        self.sums = state["sums"].to(self.device)
        self.elapsed_s, self.history = state["elapsed_s"], list(state["history"])

    def run(
        self,
        on_progress: Callable[[ProgressRecord], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_step: Callable[[int], None] | None = None,
    ) -> list[dict]:
        """Train until `self.epochs` are done or `should_stop()` turns true between two batches.

        Callbacks: `on_step(steps done)` after every optimizer step, `on_progress` every LOG_EVERY
        batches, `on_epoch(record)` after each epoch's evaluation. Returns the history: one record
        per finished epoch. Raises DivergedError on a non-finite loss.
        """
        while not self.finished:
            self._draw_epoch()
            if not self._train_epoch(on_progress, should_stop, on_step):
                break
            record = self._end_epoch()
            if on_epoch:
                on_epoch(record)
        return self.history

    def _draw_epoch(self) -> None:
        """A fresh shuffle (and shifts) at the start of every epoch, drawn on the CPU by the
        trainer's own generator; a resumed epoch keeps its own."""
        examples, augment = len(self.train_labels), self.cfg.augment
        if self.order is None:
            self.order = torch.randperm(examples, generator=self.shuffle_generator)
            self.order = self.order.to(self.device)
            self.shifts = None
        if augment and self.shifts is None:
            self.shifts = random_shifts(examples, augment, self.shuffle_generator).to(self.device)
        if self.static:
            step = self.epoch * self.steps_per_epoch + self.batch
            self.static.start(self.order, self.shifts, self.batch, step)

    def _step(self, index: torch.Tensor, offsets: torch.Tensor | None) -> None:
        """One optimizer step on the training rows `index` (B,), shifted by `offsets` (2, B)."""
        cfg = self.cfg
        images = self.train_images[index]  # (B, 1, 28, 28) uint8
        if offsets is not None:
            images = translate(images, offsets, cfg.augment)
        images = as_float(images, self.layout)  # pixels in [0, 1]
        labels = self.train_labels[index]  # (B,)
        # a captured step may not keep autocast's cache of bf16 weights between replays
        with autocast(self.precision, self.device, cache=self.static is None):
            logits = self.forward(images)  # (B, 10)
        loss, cross_entropy = smoothed_cross_entropy(logits, labels, cfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            dtype, count = self.sum_dtype, len(labels)
            correct = (logits.argmax(1) == labels).sum()
            self.sums += torch.stack(
                [
                    cross_entropy.detach().to(dtype) * count,
                    correct.to(dtype),
                    torch.full((), count, device=self.device, dtype=dtype),
                ]
            )

    def _train_epoch(self, on_progress, should_stop, on_step) -> bool:
        """Train the rest of the current epoch; False if stopped early."""
        cfg = self.cfg
        self.model.train()
        start, start_batch = time.perf_counter(), self.batch
        steps = steps_in_epoch(self.epoch, self.steps_per_epoch, self.total_steps)
        while self.batch < steps:
            if should_stop():
                self.elapsed_s += time.perf_counter() - start
                return False
            if self.static:
                self.static()
            else:
                step = self.epoch * self.steps_per_epoch + self.batch
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, step, self.total_steps, self.steps_per_epoch)
                rows = slice(self.batch * cfg.batch_size, (self.batch + 1) * cfg.batch_size)
                index = self.order[rows]
                self._step(index, None if self.shifts is None else self.shifts[:, index])
            self.batch += 1
            if on_step:
                on_step(self.epoch * self.steps_per_epoch + self.batch)
            if self.batch % LOG_EVERY == 0 or self.batch == steps:
                self._check_and_report(on_progress, start, start_batch, steps)
        self.elapsed_s += time.perf_counter() - start
        return True

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _check_and_report(self, on_progress, start: float, start_batch: int, steps: int) -> None:
        position = (self.epoch + 1, self.epochs, self.batch, steps)
        samples = (self.batch - start_batch) * self.cfg.batch_size
        seconds, lr = time.perf_counter() - start, self.current_lr()
        check_and_report(on_progress, position, self.sums.tolist(), samples, seconds, lr)

    def _end_epoch(self) -> dict:
        start = time.perf_counter()
        loss_sum, correct, count = self.sums.tolist()
        # Test-time augmentation costs five forward passes, so only the final evaluation uses it.
        tta = bool(self.cfg.tta) and self.epoch + 1 == self.epochs
        with autocast(self.precision, self.device):
            test_loss, test_acc = evaluate(
                self.forward, self.test_images, self.test_labels, tta=tta
            )
        self.elapsed_s += time.perf_counter() - start
        self.epoch, self.batch, self.order, self.shifts = self.epoch + 1, 0, None, None
        self.sums.zero_()
        sums, test = (loss_sum, correct, count), (test_loss, test_acc)
        record = epoch_record(self.epoch, sums, test, self.elapsed_s, self.current_lr(), tta=tta)
        self.history.append(record)
        return record
