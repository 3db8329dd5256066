"""The learning-rate schedules, shared by the torch `Trainer` and the NumPy MLP of
`firstnet.scratch` (torch-free)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firstnet.config import TrainConfig


def epoch_plan(epochs: float, steps_per_epoch: int) -> tuple[int, int]:
    """(epochs begun, total steps) of a run of `epochs` passes: 1.5 epochs of 235 steps are 2
    epochs, the second cut after 117 of its steps, 352 steps in all."""
    total = max(1, round(epochs * steps_per_epoch))
    return math.ceil(total / steps_per_epoch), total


def steps_in_epoch(epoch: int, steps_per_epoch: int, total_steps: int) -> int:
    """Steps of epoch `epoch` (0-based): all of them but in a fractional last epoch."""
    return min(steps_per_epoch, total_steps - epoch * steps_per_epoch)


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
