"""The parts of a training loop that need no torch, shared by the torch `Trainer` and the NumPy MLP
of `firstnet.scratch`: the learning-rate schedules, the progress record a progress bar shows, and
how often the loops report and in what batches they evaluate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firstnet.errors import DivergedError

if TYPE_CHECKING:
    from firstnet.config import TrainConfig


LOG_EVERY = 10  # batches between progress reports (each one synchronises with the device)
# Images per forward pass when evaluating: no gradients are kept, so memory stays small.
EVAL_BATCH = 2000


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


def epoch_record(epoch: int, sums, test: tuple[float, float], elapsed_s: float, lr: float, **extra):
    """One record of a loop's history, the same keys for both loops. `sums`: the epoch's summed
    training cross-entropy, correct predictions and examples; `test`: (loss, accuracy)."""
    loss_sum, correct, count = sums
    train = {"train_loss": loss_sum / count, "train_acc": correct / count}
    test_loss, test_acc = test
    timing = {"elapsed_s": round(elapsed_s, 3), "lr": lr}
    return {
        "epoch": epoch,
        **train,
        "test_loss": test_loss,
        "test_acc": test_acc,
        **timing,
        **extra,
    }


def check_and_report(on_progress, position: tuple, sums, samples: int, seconds: float, lr: float):
    """What both loops do every LOG_EVERY batches: raise DivergedError if the summed loss is no
    longer finite, else send a ProgressRecord to `on_progress` (when given).

    `position` is (epoch, epochs, batch, batches), 1-based epoch; `sums` the epoch's summed
    cross-entropy, correct predictions and examples so far; `samples` trained in `seconds`.
    """
    epoch, epochs, batch, batches = position
    loss_sum, correct, count = sums
    if not math.isfinite(loss_sum):
        raise DivergedError(
            f"training diverged: the loss became {loss_sum / count} in epoch {epoch}, "
            f"batch {batch} (lr {lr:.3g}); try a smaller --lr"
        )
    if on_progress:
        speed = samples / max(seconds, 1e-9)
        on_progress(ProgressRecord(*position, loss_sum / count, correct / count, speed))
