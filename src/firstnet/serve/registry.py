"""The models a server holds: found in run directories, loaded once at start-up, asked for
predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import torch

from firstnet import runs
from firstnet.config import MODELS, TrainConfig
from firstnet.data.datasets import DATASETS
from firstnet.device import inference_precision
from firstnet.errors import CheckpointError, FirstnetError, ServeError
from firstnet.evaluate import probabilities
from firstnet.models import MLP
from firstnet.preprocess import mnist_like

TRAIN_HINT = "train one with: firstnet train --model mlp"


@dataclass
class ServedModel:
    """One loaded run. `name` is the run directory's name, `kind` the model (linear, mlp or cnn)."""

    name: str
    kind: str
    run_dir: Path
    cfg: TrainConfig
    model: torch.nn.Module
    test_acc: float | None = None
    info: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """What /api/models says about this model."""
        dataset = DATASETS[self.cfg.dataset]
        return {
            "name": self.name,
            "kind": self.kind,
            "test_acc": self.test_acc,
            "has_hidden": self.has_hidden,
            "dataset": dataset.name,
            "dataset_title": dataset.title,
            "classes": list(dataset.classes),
            "digits": dataset.digits,
            **self.info,
        }

    @property
    def has_hidden(self) -> bool:
        return isinstance(self.model, MLP) and self.cfg.depth > 0

    @cached_property
    def single_pass(self) -> bool:
        """Whether the probabilities can come from the hidden activations' pass (fp32, no TTA)."""
        cpu = torch.device("cpu")
        return not self.cfg.tta and inference_precision(self.cfg.precision, cpu) == "fp32"


def load_served(run_dir: Path) -> ServedModel:
    """Load one finished run for serving and answer one prediction with it, so that neither a bad
    run nor the first visitor finds out later; a CheckpointError says what is wrong with it."""
    cfg, model = runs.load_model(run_dir, "cpu")
    metrics = runs.read_metrics(run_dir)
    test_acc = metrics[-1].get("test_acc") if metrics else None
    if not (isinstance(test_acc, int | float) and 0 <= test_acc <= 1):
        test_acc = None
    info = {"hidden": cfg.hidden, "depth": cfg.depth, "activation": cfg.activation}
    if cfg.model != "mlp":
        info = (
            {"channels": cfg.channels, "activation": cfg.activation} if cfg.model == "cnn" else {}
        )
    info["label_smoothing"] = cfg.label_smoothing  # the page explains the confidence it causes
    served = ServedModel(Path(run_dir).name, cfg.model, Path(run_dir), cfg, model, test_acc, info)
    try:
        answer = predict(served, warm_up_image())
    except (RuntimeError, ValueError, FirstnetError) as err:
        raise CheckpointError(f"{run_dir}: its model cannot answer a prediction ({err})") from err
    if not np.isfinite(answer["probabilities"]).all():  # as served: its precision, its TTA
        raise CheckpointError(f"{run_dir}: its model answers with non-finite probabilities")
    return served


def try_loading(run_dirs: list[Path]) -> tuple[list[ServedModel], list[str]]:
    """The runs that load, and a warning naming each one that does not and why."""
    models, warnings = [], []
    for run_dir in run_dirs:
        try:
            models.append(load_served(run_dir))
        except FirstnetError as err:
            warnings.append(f"skipped {run_dir}: {err}")
    return models, warnings


def finished_runs(runs_dir: Path) -> list[Path]:
    """Run directories under `runs_dir` that hold final weights, newest first (by the weights'
    time)."""
    runs_dir = Path(runs_dir)
    found = [
        path.parent
        for path in runs_dir.glob(f"*/{runs.MODEL}")
        if (path.parent / runs.CONFIG).is_file()
    ]
    return sorted(found, key=lambda run: (run / runs.MODEL).lstat().st_mtime, reverse=True)


def newest_of_each_kind(runs_dir: Path) -> tuple[list[ServedModel], list[str]]:
    """The newest loadable run of each model kind and data set under `runs_dir` (MNIST's first),
    and a warning for each run skipped (an older run of the same kind takes the place of one that
    does not load)."""
    chosen: dict[tuple[str, str], ServedModel] = {}
    warnings: list[str] = []
    for run_dir in finished_runs(runs_dir):
        try:
            cfg = runs.read_config(run_dir)
            kind = (cfg.dataset, cfg.model)
        except FirstnetError as err:
            warnings.append(f"skipped {run_dir}: {err}")
            continue
        if kind not in chosen:
            try:
                chosen[kind] = load_served(run_dir)
            except FirstnetError as err:
                warnings.append(f"skipped {run_dir}: {err}")
    if not chosen:
        raise ServeError(f"no finished run found in {runs_dir}; {TRAIN_HINT}")
    order = [(dataset, model) for dataset in DATASETS for model in MODELS]
    return [chosen[kind] for kind in order if kind in chosen], warnings


def load_all(run_dirs: list[Path], runs_dir: Path) -> tuple[list[ServedModel], list[str]]:
    """The runs named on the command line, or the newest of each kind under `runs_dir`; runs that do
    not load are skipped with a warning, and only when none is left is it an error."""
    if not run_dirs:
        return newest_of_each_kind(runs_dir)
    models, warnings = try_loading(run_dirs)
    if not models:
        raise ServeError("none of the runs given can be served:\n  " + "\n  ".join(warnings))
    names = [model.name for model in models]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CheckpointError(
            f"two runs are named {duplicates[0]}; serve runs whose directory names differ"
        )
    return models, warnings


def pick(models: list[ServedModel], wanted: str | None) -> ServedModel:
    """The model a request names by run name or kind; the first MLP (else the first model) if it
    names none."""
    if wanted is None:
        return next((model for model in models if model.kind == "mlp"), models[0])
    for model in models:
        if wanted in (model.name, model.kind):
            return model
    raise KeyError(wanted)


def predict_batch(served: ServedModel, images: np.ndarray) -> list[dict]:
    """Class, probabilities and (MLP) hidden activations of each MNIST-like image (B, 28, 28) in [0,
    1].

    An fp32 MLP without test-time augmentation takes one pass: its hidden layers, then its output
    layer on the last of them, which is `MLP.forward`, so the probabilities are those of
    `firstnet.evaluate.probabilities` (a test checks it) at a third of the cost. Every other model
    goes through `firstnet.evaluate.probabilities`.
    """
    batch = torch.from_numpy(images).reshape(-1, 1, 28, 28)  # (B, 1, 28, 28)
    hidden = None
    with torch.inference_mode():
        if served.has_hidden:
            hidden = served.model.features(batch)  # one (B, H) tensor per hidden layer
        if hidden is not None and served.single_pass:
            probs = served.model.out(hidden[-1]).softmax(1)
        else:
            probs = probabilities(served.cfg, served.model, batch)
    probs = probs.float().numpy()  # (B, 10)
    layers = [layer.float().numpy().round(4) for layer in hidden] if hidden is not None else None
    return [
        {
            "class": int(row.argmax()),
            "probabilities": row,
            "hidden": [layer[index] for layer in layers] if layers is not None else None,
        }
        for index, row in enumerate(probs)
    ]


def predict(served: ServedModel, image: np.ndarray) -> dict:
    """`predict_batch` for one image (28, 28)."""
    return predict_batch(served, image[None])[0]


@cache  # the same picture for every run: made once
def warm_up_image() -> np.ndarray:
    """A "1" as the page would send it, made MNIST-like: the prediction each run answers when it
    is loaded."""
    stroke = np.zeros((64, 64), dtype=np.float32)
    stroke[10:54, 30:34] = 1.0
    return mnist_like(stroke)
