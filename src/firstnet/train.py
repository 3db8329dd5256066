"""The one training loop, for every model.

The whole data set lives on the device as uint8 (4x smaller than float32, so cheaper to hold and to
index); each step slices a batch by shuffled indices and converts only that batch to float. No
per-sample Dataset or DataLoader: for MNIST-sized data their Python overhead dominates the arithmetic.
The loop prints nothing: progress goes to callbacks, results come back as a history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from firstnet.config import TrainConfig
from firstnet.data import MNIST
from firstnet.errors import ConfigError, DivergedError
from firstnet.evaluate import evaluate
from firstnet.models import build_model

LOG_EVERY = 10  # batches between progress callbacks (each one synchronises with the device)


@dataclass
class Progress:
    epoch: int  # 1-based
    epochs: int
    batch: int  # batches done in this epoch
    batches: int
    train_loss: float  # running mean over this epoch
    train_acc: float
    samples_per_s: float


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available (use --device cpu or auto)")
    return torch.device(name)


def to_device_tensors(images, labels, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 1, 28, 28) and int64 labels (N,) on `device`."""
    images = torch.tensor(images, dtype=torch.uint8).unsqueeze(1)
    return images.to(device), torch.tensor(labels, dtype=torch.int64).to(device)


def learning_rate(cfg: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """The learning rate at `step` (0-based) for the configured schedule."""
    progress = step / max(1, total_steps)
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** (step // steps_per_epoch // cfg.step_every)
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * progress))
    # One-cycle (Smith & Topin, 2018): cosine rise from lr/25 to lr, then cosine fall to lr/1e4.
    low, final = cfg.lr / 25, cfg.lr / 1e4
    if progress < cfg.warmup:
        return low + (cfg.lr - low) * 0.5 * (1 - math.cos(math.pi * progress / cfg.warmup))
    fall = (progress - cfg.warmup) / (1 - cfg.warmup)
    return final + (cfg.lr - final) * 0.5 * (1 + math.cos(math.pi * fall))


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                           smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(training loss, plain cross-entropy): the loss optimised and the one reported, in one pass.

    Label smoothing (Szegedy et al., 2016) mixes in the cross-entropy against a uniform target.
    """
    log_probs = logits.float().log_softmax(1)  # (B, 10)
    cross_entropy = F.nll_loss(log_probs, labels)
    return (1 - smoothing) * cross_entropy - smoothing * log_probs.mean(), cross_entropy


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        nesterov = cfg.nesterov and cfg.momentum > 0
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def autocast(cfg: TrainConfig, device: torch.device):
    if cfg.precision == "fp32":
        return nullcontext()
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device; on the CPU use bf16")
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


class Trainer:
    """Holds everything a run needs to continue exactly where it stopped: model, optimizer, batch order,
    position in the epoch, running sums and history. `runs` saves and restores it."""

    def __init__(self, cfg: TrainConfig, data: MNIST) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        data = data.subset(cfg.train_limit, cfg.test_limit)
        self.train_images, self.train_labels = to_device_tensors(data.train_images, data.train_labels, self.device)
        self.test_images, self.test_labels = to_device_tensors(data.test_images, data.test_labels, self.device)
        self.model = build_model(cfg.model, cfg.hidden, cfg.depth, cfg.activation, cfg.init).to(self.device)
        self.optimizer = build_optimizer(cfg, self.model)
        # A generator of its own, on the CPU, so batch order depends only on the seed and the epoch.
        self.shuffle_generator = torch.Generator().manual_seed(cfg.seed)
        self.steps_per_epoch = math.ceil(len(self.train_labels) / cfg.batch_size)
        self.epoch = 0  # completed epochs
        self.batch = 0  # completed batches of the current epoch
        self.order: torch.Tensor | None = None  # this epoch's permutation of the training set
        self.sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss*n, correct, n
        self.elapsed_s = 0.0
        self.history: list[dict] = []

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def run(self, on_progress: Callable[[Progress], None] | None = None,
            on_epoch: Callable[[dict], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> list[dict]:
        """Train until `cfg.epochs` are done or `should_stop()` turns true between two batches.

        Returns the history: one record per finished epoch. Raises DivergedError on a non-finite loss.
        """
        while not self.finished:
            if self.order is None:  # a fresh shuffle at the start of every epoch
                self.order = torch.randperm(len(self.train_labels), generator=self.shuffle_generator)
                self.order = self.order.to(self.device)
            if not self._train_epoch(on_progress, should_stop):
                break
            record = self._end_epoch()
            if on_epoch:
                on_epoch(record)
        return self.history

    def _train_epoch(self, on_progress, should_stop) -> bool:
        """Train the rest of the current epoch; False if stopped early."""
        cfg, model = self.cfg, self.model
        model.train()
        total_steps = cfg.epochs * self.steps_per_epoch
        start, start_batch = time.perf_counter(), self.batch
        while self.batch < self.steps_per_epoch:
            if should_stop():
                self.elapsed_s += time.perf_counter() - start
                return False
            step = self.epoch * self.steps_per_epoch + self.batch
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step, total_steps, self.steps_per_epoch)
            index = self.order[self.batch * cfg.batch_size : (self.batch + 1) * cfg.batch_size]
            images = self.train_images[index].float().div_(255)  # (B, 1, 28, 28) in [0, 1]
            labels = self.train_labels[index]  # (B,)
            with autocast(cfg, self.device):
                logits = model(images)  # (B, 10)
            loss, cross_entropy = smoothed_cross_entropy(logits, labels, cfg.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():
                correct = (logits.argmax(1) == labels).sum()
                self.sums += torch.stack([cross_entropy.detach().double() * len(labels), correct.double(),
                                          torch.tensor(float(len(labels)), device=self.device, dtype=torch.float64)])
            self.batch += 1
            if self.batch % LOG_EVERY == 0 or self.batch == self.steps_per_epoch:
                self._check_and_report(on_progress, start, start_batch)
        self.elapsed_s += time.perf_counter() - start
        return True

    def _check_and_report(self, on_progress, start: float, start_batch: int) -> None:
        loss_sum, correct, count = self.sums.tolist()
        if not math.isfinite(loss_sum):
            raise DivergedError(
                f"training diverged: the loss became {loss_sum / count} in epoch {self.epoch + 1}, batch "
                f"{self.batch} (lr {self.optimizer.param_groups[0]['lr']:.3g}); try a smaller --lr"
            )
        if on_progress:
            seconds = time.perf_counter() - start
            samples = (self.batch - start_batch) * self.cfg.batch_size
            on_progress(Progress(self.epoch + 1, self.cfg.epochs, self.batch, self.steps_per_epoch,
                                 loss_sum / count, correct / count, samples / max(seconds, 1e-9)))

    def _end_epoch(self) -> dict:
        start = time.perf_counter()
        loss_sum, correct, count = self.sums.tolist()
        with autocast(self.cfg, self.device):
            test_loss, test_acc = evaluate(self.model, self.test_images, self.test_labels)
        self.elapsed_s += time.perf_counter() - start
        self.epoch, self.batch, self.order = self.epoch + 1, 0, None
        self.sums.zero_()
        record = {"epoch": self.epoch, "train_loss": loss_sum / count, "train_acc": correct / count,
                  "test_loss": test_loss, "test_acc": test_acc, "elapsed_s": round(self.elapsed_s, 3),
                  "lr": self.optimizer.param_groups[0]["lr"]}
        self.history.append(record)
        return record
