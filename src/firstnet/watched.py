"""A training a person watches, into a run directory: a progress bar per epoch, Ctrl-C as a request
to stop with the checkpoint kept (and the command that continues it said once), curves.png at the
end. What `firstnet train`, the Python API's `train(path=...)` and the search's retraining share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from firstnet import runs
from firstnet.config import TrainConfig
from firstnet.data import MNIST
from firstnet.figures.curves import plot_curves
from firstnet.terminal import err, stop_on_sigint, training_bar
from firstnet.trainer import Trainer


def train_watched(
    cfg: TrainConfig,
    data: MNIST,
    run_dir: Path,
    resuming: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train `cfg` in `run_dir` (a new or empty folder, or, `resuming`, a stopped run); the model
    (in eval mode), its history and whether it finished."""
    trainer = Trainer(cfg, data)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # a folder that holds anything else is refused
    with training_bar(cfg.model, progress) as show, stop_on_sigint() as stop:
        finished = runs.train_run(trainer, run_dir, resuming, data.source, show, stop, on_epoch)
    if trainer.history:
        plot_curves(trainer.history, run_dir / "curves.png", title=f"{cfg.model}: {run_dir.name}")
    if not finished:
        err.print(
            f"Checkpoint saved. Continue with: firstnet train --resume {run_dir} "
            f"(from Python: firstnet.resume({str(run_dir)!r}))",
            highlight=False,
        )
    return {"model": trainer.model.eval(), "history": trainer.history, "finished": finished}
