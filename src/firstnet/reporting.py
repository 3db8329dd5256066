"""What a training loop reports, the same for the torch `Trainer` and the NumPy MLP of
`firstnet.scratch` (torch-free): the progress record a bar shows every LOG_EVERY batches, the
divergence check made with it, the record of each epoch, and the batch size of the evaluation that
fills it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from firstnet.errors import DivergedError

LOG_EVERY = 10  # batches between progress reports (each one synchronises with the device)
# Images per forward pass when evaluating on a CPU: the CNN runs 2.2x faster at 500 than at 2,000,
# its activations then fitting the caches (2-core AMD EPYC, bf16: 0.22 s against 0.48 s for 10,000).
# A GPU keeps the 2,000 its figures were measured with.
EVAL_BATCH, EVAL_BATCH_GPU = 500, 2000


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
            f"batch {batch} (at a rate of {lr:.3g}); try a smaller lr",
            ("lr",),
        )
    if on_progress:
        speed = samples / max(seconds, 1e-9)
        on_progress(ProgressRecord(*position, loss_sum / count, correct / count, speed))
