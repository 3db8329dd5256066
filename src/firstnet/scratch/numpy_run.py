"""The NumPy MLP trained as a `Run`: in memory, or into a run directory (config.json, the metrics
after every epoch, curves.png, the weights under the torch MLP's names at the end) that `firstnet
eval`, `predict`, `export` and `serve` read like any other. Unlike the rest of `scratch/`, this
module loads torch: it hands the weights to the torch MLP."""

from __future__ import annotations

from pathlib import Path

import torch

from firstnet import runs
from firstnet.config import TrainConfig
from firstnet.data import MNIST
from firstnet.figures.curves import plot_curves
from firstnet.scratch.fit import ScratchTrainer
from firstnet.scratch.parity import to_torch_mlp
from firstnet.terminal import training_bar
from firstnet.training import Run


def train_numpy_run(
    cfg: TrainConfig, data: MNIST, path: Path | None = None, progress: bool = True
) -> Run:
    """Train the NumPy MLP of `cfg`; with `path` (a new or empty folder), into a run directory (a
    Ctrl-C leaves the finished epochs' metrics and no model: NumPy runs do not resume)."""
    trainer = ScratchTrainer(cfg, data)
    if path is None:
        with training_bar("numpy mlp", progress) as show:
            trainer.run(show)
        model = to_torch_mlp(trainer.params, cfg.activation).eval()
        return Run(cfg, model, trainer.history, source=data.source)

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with runs.claim(path, fresh=True):
        extra = {"trainer": "firstnet.scratch (NumPy)"}
        runs.write_config(path, cfg, torch.device("cpu"), data.source, extra=extra)
        with training_bar("numpy mlp", progress) as show:
            trainer.run(show, on_epoch=lambda _record: runs.write_metrics(path, trainer.history))
        title = f"scratch (NumPy) MLP: {path.name}"
        plot_curves(trainer.history, path / "curves.png", title=title)
        # The torch MLP's full state: PReLU's slopes, which the NumPy MLP keeps fixed, saved at
        # that value.
        model = to_torch_mlp(trainer.params, cfg.activation).eval()
        runs.save_model(path, cfg, model.state_dict())
    return Run(cfg, model, trainer.history, source=data.source, path=path)
