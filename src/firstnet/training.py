"""A training, from config to `Run`: the one function that trains into a run directory.

`train_run` reads top to bottom: build the `Trainer`; claim the folder; write config.json, or load
the checkpoint of a stopped run; train with a bar per epoch, the metrics and a checkpoint written
after every epoch and Ctrl-C taken as a request to stop; then the weights (finished) or the
checkpoint (stopped), curves.png, and the `Run`. `firstnet train`, `firstnet scratch` (the NumPy
MLP), the Python API and the search's retraining of its best train through it. `firstnet.runs` only
stores what it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from firstnet import runs
from firstnet.config import TrainConfig
from firstnet.data import LabelledData, load_dataset
from firstnet.errors import CheckpointError, DivergedError
from firstnet.evaluate import probabilities, test_report
from firstnet.figures.curves import plot_curves
from firstnet.reporting import ProgressRecord
from firstnet.scratch.fit import ScratchTrainer
from firstnet.scratch.parity import to_torch_mlp
from firstnet.terminal import err, stop_on_sigint, training_bar
from firstnet.trainer import Trainer


@dataclass
class Run:
    """A trained model with its config and history (one record per epoch: train and test loss and
    accuracy, elapsed seconds, learning rate). `path` is the run directory it was saved to or loaded
    from, if any."""

    config: TrainConfig
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    source: str = "unknown"  # where the training data came from
    path: Path | None = None
    finished: bool = True  # False: stopped with a checkpoint in `path` (`resume` continues it)

    def evaluate(self, data: LabelledData | None = None) -> dict:
        """`firstnet eval`: accuracy, per-class accuracy, errors, the confusion matrix and the most
        confident mistakes on the test set of `data` (loaded when not given), as the model was
        evaluated in training (its precision and test-time augmentation).

        >>> from firstnet.api import train
        >>> run = train("linear", epochs=1, train_limit=2000, progress=False)
        >>> report = run.evaluate()
        >>> report["test_size"], abs(report["accuracy"] - run.history[-1]["test_acc"]) < 1e-4
        (10000, True)
        """
        data = data if data is not None else load_dataset(dataset=self.config.dataset)
        return test_report(self.config, self.model.eval(), data.test_images, data.test_labels)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) for images (N, 28, 28) or one image (28, 28): uint8
        pixels, or floats in [0, 1]; white digit on black, as MNIST
        (`firstnet.preprocess.mnist_like` makes a picture so).

        >>> from firstnet.api import load_mnist, train
        >>> run = train("linear", epochs=1, train_limit=2000, progress=False)
        >>> probabilities = run.predict(load_mnist().test_images[:3])
        >>> probabilities.shape, bool(abs(probabilities.sum(1) - 1).max() < 1e-4)
        ((3, 10), True)
        """
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            shape = images.shape
            raise ValueError(f"expected images of shape (N, 28, 28) or (28, 28), got {shape}")
        tensor = torch.from_numpy(images.copy()).unsqueeze(1)
        if tensor.dtype != torch.uint8:
            tensor = tensor.float()
        return probabilities(self.config, self.model.eval(), tensor).float().numpy()

    def save(self, path: str | Path) -> Path:
        """Write the run as a run directory (config.json, metrics.jsonl, model.safetensors) that
        `firstnet eval`, `predict`, `export` and `serve` read; the directory.

        >>> import tempfile
        >>> from firstnet.api import train
        >>> run = train("linear", epochs=1, train_limit=2000, progress=False)
        >>> folder = run.save(tempfile.mkdtemp() + "/linear")
        >>> sorted(path.name for path in folder.iterdir())
        ['config.json', 'metrics.jsonl', 'model.safetensors']
        >>> Run.load(folder).history == run.history
        True
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        device = next(self.model.parameters()).device
        weights = self.model.state_dict()
        runs.save_run(path, self.config, device, self.source, self.history, weights)
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path, history: bool = True) -> Run:
        """A finished run directory (written by `firstnet train` or `Run.save`), on the CPU (an
        example: `Run.save`); without its `history` (metrics.jsonl not read) when only the model
        is wanted."""
        config, model = runs.load_model(Path(path))
        records = runs.read_metrics(Path(path)) if history else []
        return cls(config, model, records, source="a saved run", path=Path(path))


def train_run(
    cfg: TrainConfig | None,
    data: LabelledData | None,
    path: Path | None = None,
    progress: bool | Callable[[ProgressRecord], None] = True,
    on_epoch: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    numpy: bool = False,
    model: torch.nn.Module | None = None,
) -> Run:
    """Train `cfg` on `data`: in memory, or into the run directory `path` (a new or empty folder).
    With `cfg` None, continue the stopped run in `path` with the config it started with, to the
    result it would have reached unstopped (`runs.resumable_config` refuses a finished one); with
    `data` None, on the data set the config names. Into a folder, Ctrl-C or `should_stop()`
    turning true stops it after the current batch, with its checkpoint kept and the Run's
    `finished` False. With `numpy`, the trainer is the NumPy MLP of `firstnet.scratch`
    (hand-derived gradients), its weights handed back in the torch MLP; it keeps no checkpoint, so
    a stopped NumPy run keeps its finished epochs' metrics and cannot resume. `progress`: the
    terminal's bar, none, or a function that gets each ProgressRecord (the lab); `model`: the
    model of `cfg` to train, built by the caller who watches it (the lab), else a fresh one."""
    resuming = cfg is None
    if resuming:
        cfg = runs.resumable_config(path)
    if data is None:
        data = load_dataset(dataset=cfg.dataset)
    trainer = ScratchTrainer(cfg, data) if numpy else Trainer(cfg, data, model=model)
    shown = bool(progress) and not callable(progress)  # the terminal's bar
    label = "numpy mlp" if numpy else cfg.model
    if path is None:
        with training_bar(label, shown) as bar:
            trainer.run(progress if callable(progress) else bar, on_epoch)
        return Run(cfg, trained_model(trainer), trainer.history, data.source)

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)  # a folder that holds anything else is refused
    checkpointed = not numpy  # the NumPy trainer keeps no checkpoint

    def keep(record: dict) -> None:  # after every epoch: its metrics and a checkpoint
        runs.keep_epoch(path, trainer.history, trainer.state_dict() if checkpointed else None)
        if on_epoch:
            on_epoch(record)

    # what "auto" became on this machine, or which trainer ran
    extra = (
        {"trainer": "firstnet.scratch (NumPy)"} if numpy else {"precision_used": trainer.precision}
    )
    device = torch.device("cpu") if numpy else trainer.device
    error = None
    fitting = None if numpy else trainer.model.state_dict()  # what a checkpoint must fit
    with runs.opened(path, cfg, device, data.source, extra, resuming, fitting) as checkpoint:
        if checkpoint is not None:  # a second process is refused; a resumed run continues
            restore(trainer, checkpoint, path)
        with training_bar(label, shown) as bar, stop_on_sigint() as interrupted:
            stop = should_stop or (lambda: False)
            reporter = progress if callable(progress) else bar
            try:
                trainer.run(reporter, keep, lambda: interrupted() or stop())
            except DivergedError as diverged:  # the folder keeps the finished epochs and the error
                error = diverged
            model = trained_model(trainer)  # written while Ctrl-C is still only a request
            runs.close(path, cfg, trainer.history, **ending(trainer, model, checkpointed, error))
    if error is not None:
        raise error
    if trainer.history:
        title = f"{'scratch (NumPy) MLP' if numpy else cfg.model}: {path.name}"
        plot_curves(trainer.history, path / "curves.png", title=title)
    if not trainer.finished and not callable(progress):  # the lab says it its own way
        err.print(
            f"Stopped: the metrics of {len(trainer.history)} finished epochs are in {path}; "
            "NumPy runs do not resume."
            if numpy
            else f"Checkpoint saved. Continue with: firstnet train --resume {path} "
            f"(from Python: firstnet.resume({str(path)!r}))",
            highlight=False,
        )
    return Run(cfg, model, trainer.history, data.source, path, trainer.finished)


def trained_model(trainer: Trainer | ScratchTrainer) -> torch.nn.Module:
    """The trained model in eval mode; the NumPy MLP's weights in the torch MLP (PReLU's slopes,
    which NumPy keeps fixed, at that value)."""
    if isinstance(trainer, ScratchTrainer):
        return to_torch_mlp(trainer.params, trainer.cfg.activation).eval()
    return trainer.model.eval()


def ending(
    trainer: Trainer | ScratchTrainer,
    model: torch.nn.Module,
    checkpointed: bool,
    error: DivergedError | None,
) -> dict:
    """What `runs.close` keeps of a training that ended: the error of a diverged one, the weights
    of a finished one, the checkpoint of a stopped one (none for the NumPy trainer)."""
    if error is not None:
        return {"error": str(error)}
    if trainer.finished:  # the weights replace the checkpoint
        return {"weights": model.state_dict()}
    return {"checkpoint": trainer.state_dict()} if checkpointed else {}


def restore(trainer: Trainer, state: dict, run_dir: Path) -> None:
    """The checkpoint of a stopped run (`runs.read_checkpoint`, which checked its model) into a
    freshly built trainer of its config."""
    path = Path(run_dir) / runs.CHECKPOINT
    try:
        trainer.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise CheckpointError(f"{path}: checkpoint does not fit this run ({error})") from error
