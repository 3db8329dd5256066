"""The parts of a training loop that need no torch, shared by the torch `Trainer` and the NumPy MLP
of `firstnet.scratch`: the learning-rate schedules, the progress record a progress bar shows, and
how often the loops report and in what batches they evaluate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firstnet.config import TrainConfig


LOG_EVERY = 10  # batches between progress reports (each one synchronises with the device)
EVAL_BATCH = (
    2000  # images per forward pass when evaluating: no gradients are kept, so memory stays small
)


@dataclass
class ProgressRecord:
    """What a training loop reports every LOG_EVERY batches (and at the end of each epoch)."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # batches done in this epoch
    batches: int
    train_loss: float  # running mean over this epoch
    train_acc: float
    samples_per_s: float


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
