"""The Python API: the lecture's work as functions, for scripts and notebooks.

`import firstnet` exposes these (the names in `firstnet.__all__`) and loads none of them, nor torch,
until one is used.
Each function is what a command of the command line does, with numbers coming back as data and
figures as matplotlib Figures (files only when a path is given). docs/api.md lists them all.

>>> import firstnet
>>> data = firstnet.load_mnist()
>>> run = firstnet.train("linear", data=data, epochs=1, progress=False)
>>> run.evaluate(data)["accuracy"] > 0.85
True
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from inspect import signature
from pathlib import Path

from firstnet.benchmark import bench_seeds
from firstnet.config import TrainConfig
from firstnet.data import LabelledData, load_dataset
from firstnet.data.toy import make_toy
from firstnet.device import recipe_device
from firstnet.experiments.runner import run_experiment
from firstnet.figures import boundary, style
from firstnet.figures.activation_families import plot_activation_family
from firstnet.figures.confusion import plot_confusion
from firstnet.figures.curves import plot_curves
from firstnet.figures.digits import sample_digits
from firstnet.figures.loss_surface import gradient_intuition, plot_two_weight_landscape
from firstnet.homework.check import check as check  # `firstnet check` for a notebook's backward
from firstnet.scratch.fit import FIXED_FIELDS
from firstnet.scratch.parity import check_gradients
from firstnet.search import coordinator
from firstnet.training import Run, train_run


def load_mnist(data_dir: str | Path | None = None, dataset: str = "mnist") -> LabelledData:
    """MNIST (or "fashion-mnist", "kmnist") as uint8 arrays, from the first source that has it
    (a folder, the cache, known copies, the mirrors; docs/datasets.md).

    >>> data = load_mnist()
    >>> data.train_images.shape, data.test_images.shape, data.train_images.dtype
    ((60000, 28, 28), (10000, 28, 28), dtype('uint8'))
    """
    return load_dataset(data_dir, dataset=dataset)


def train(
    model: str = "mlp",
    data: LabelledData | None = None,
    *,
    path: str | Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    **config,
) -> Run:
    """`firstnet train`: train `model` ("linear", "mlp" or "cnn") with its recipe; any
    TrainConfig field (epochs, hidden, lr, seed, device, ...) can be given. A progress bar per epoch
    in the terminal or the notebook unless `progress` is False; `on_epoch(record)` after each epoch.

    With `path` (a new or empty folder) it trains in a run directory as `firstnet train` does: the
    metrics and a checkpoint after every epoch, curves.png, the weights at the end. Ctrl-C (in
    Jupyter: interrupt the kernel) then stops it after the current batch with its checkpoint saved:
    the Run comes back with `finished` False, and `resume(path)` continues it.

    >>> run = train("mlp", epochs=1, hidden=64, train_limit=5000, progress=False)
    >>> len(run.history), run.history[-1]["test_acc"] > 0.8
    (1, True)
    """
    device = recipe_device(config.pop("device", "auto"))  # a GPU's own recipe, as the CLI does
    cfg = TrainConfig(model=model, device=device, **config)
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    return train_run(cfg, data, path, progress, on_epoch)


def resume(
    path: str | Path,
    data: LabelledData | None = None,
    *,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> Run:
    """`firstnet train --resume`: continue a run directory that `train(path=...)` or `firstnet
    train` left unfinished, from its checkpoint, to the result it would have reached unstopped.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp() + "/mlp"
    >>> import signal  # Ctrl-C after the first epoch:
    >>> stopped = train("mlp", path=folder, epochs=2, hidden=32, train_limit=2000, progress=False,
    ...                 on_epoch=lambda record: signal.raise_signal(signal.SIGINT))
    >>> stopped.finished, len(stopped.history)
    (False, 1)
    >>> run = resume(folder, progress=False)
    >>> run.finished, [record["epoch"] for record in run.history]
    (True, [1, 2])
    """
    return train_run(None, data, Path(path), progress, on_epoch)


def train_numpy(
    data: LabelledData | None = None,
    *,
    path: str | Path | None = None,
    progress: bool = True,
    **config,
) -> Run:
    """`firstnet scratch`: the lecture's homework, the 784-H-H-10 MLP trained by NumPy code with
    hand-derived gradients (docs/gradients.md); the Run holds the same weights in the torch MLP, so
    `evaluate`, `predict` and `save` work as for `train`. With `path` (a new or empty folder) it
    trains in a run directory as `firstnet scratch` does: config.json, the metrics after every
    epoch, curves.png, and the weights under the torch MLP's names at the end (a Ctrl-C leaves the
    finished epochs' metrics and no model: NumPy runs do not resume).

    >>> run = train_numpy(epochs=2, hidden=64, train_limit=10000, progress=False)
    >>> run.history[-1]["test_acc"] > 0.8
    True
    """
    cfg = TrainConfig(**(FIXED_FIELDS | config))
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    return train_run(cfg, data, path, progress=progress, numpy=True)


def gradcheck(seed: int = 0) -> dict:
    """`firstnet scratch --gradcheck`: the NumPy MLP's hand-derived gradients of W1, b1, W2, b2,
    W3, b3 for every activation, against finite differences (max relative error) and torch
    autograd (max absolute difference); `passed` when all are under their tolerances.

    >>> result = gradcheck()
    >>> result["passed"], result["finite_differences"]["relu"]["W1"] < 1e-6
    (True, True)
    """
    return check_gradients(seed)


def figure_curves(run: Run, path: str | Path | None = None):
    """Loss and accuracy per epoch, train and test (`firstnet plot curves`).

    >>> run = train("linear", epochs=2, train_limit=2000, progress=False)
    >>> [axes.get_title().split(" (")[0] for axes in figure_curves(run).axes]
    ['Loss', 'Accuracy']
    """
    return style.handed_out(plot_curves(run.history, None, title=f"{run.config.model}"), path)


def figure_digits(
    data: LabelledData | None = None, per_class: int = 4, path: str | Path | None = None
):
    """The first `per_class` training images of each class, one column per class (`firstnet data`).

    >>> figure_digits(per_class=2).axes[0].get_title()
    '0'
    """
    data = data if data is not None else load_mnist()
    return style.handed_out(sample_digits(data, None, per_class), path)


def figure_confusion(run: Run, data: LabelledData | None = None, path: str | Path | None = None):
    """The confusion matrix of `run` on the test set (`firstnet eval`).

    >>> run = train("linear", epochs=1, train_limit=2000, progress=False)
    >>> figure_confusion(run).axes[0].get_xlabel()
    'predicted class'
    """
    matrix = run.evaluate(data)["confusion_matrix"]
    title = f"{run.config.model}: confusion on the test set"
    return style.handed_out(plot_confusion(matrix, None, title), path)


def figure_activations(family: str = "relu-family", path: str | Path | None = None):
    """One activation family (sigmoid-like, relu-family, smooth-modern): f and f' with their
    problems marked (`firstnet plot activations`).

    >>> len(figure_activations("sigmoid-like").axes) > 2
    True
    """
    return style.handed_out(plot_activation_family(family, None), path)


def figure_loss_surface(path: str | Path | None = None):
    """A loss over two weights as a 3-D surface and as contours with the negative gradient and
    three descent paths (`firstnet plot landscape --part a`).

    >>> len(figure_loss_surface().axes) >= 2
    True
    """
    return style.handed_out(plot_two_weight_landscape(gradient_intuition(), None), path)


def bench(
    model: str = "cnn",
    data: LabelledData | None = None,
    seeds: int = 5,
    reference: bool = False,
    reference_cap: float | None = None,
    *,
    progress: bool = True,
    **config,
) -> dict:
    """`firstnet bench`: `seeds` runs (seeds 0 .. seeds-1) of a model's recipe; accuracy mean,
    std, min and max, median seconds, the median time to 98/99/99.5% (`time_to`), the precision,
    the hardware. With `reference`, pytorch/examples' MNIST recipe trained once beside it
    (`firstnet.reference`; stopped after `reference_cap` seconds and one epoch, when given).

    >>> result = bench("linear", seeds=2, epochs=1, train_limit=2000, progress=False)
    >>> result["runs"], result["time_to"][0.995]["reached"]
    (2, 0)
    """
    device = recipe_device(config.pop("device", "auto"))  # a GPU's own recipe, as the CLI does
    cfg = TrainConfig(model=model, device=device, **config)
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    return bench_seeds(cfg, data, seeds, reference, reference_cap, progress)


def architecture_search(
    *,
    out_dir: str | Path | None = None,
    quick: bool = False,
    trials: int | None = None,
    fix: dict | None = None,
    retrain: bool = True,
    **options,
) -> dict:
    """`firstnet search` (`firstnet.search` is the package that runs it, hence the name): an Optuna
    study of models and recipes scored on 10,000 held-out training images (docs/search.md), its
    files in `out_dir` (trials.csv, pareto.png, best.json, ...). `fix` holds fields every trial
    keeps, e.g. {"model": "mlp"}; the other options are the command's flags (objective, sampler,
    pruner, space, timeout, workers, storage, resume, seed, device, dataset, ...). With `retrain`,
    the best config is trained on all training images and tested once. Returns `rows` (every
    trial), `front` (the Pareto front), `best` (its config and validation accuracy) and `final`
    (the retrained best's test accuracy).

    >>> import tempfile
    >>> found = architecture_search(trials=2, fix={"model": "linear", "epochs": 1},
    ...                             out_dir=tempfile.mkdtemp(), retrain=False)
    >>> len(found["rows"]), found["best"]["config"]["model"], found["best"]["val_acc"] > 0.85
    (2, 'linear', True)
    """
    fixed = [f"{name}={json.dumps(value)}" for name, value in (fix or {}).items()]
    what = signature(coordinator.study_settings).parameters  # the rest: how the study runs
    asked = {key: options.pop(key) for key in what & options.keys()}
    settings = None  # a resumed study's are the stored ones
    if options.get("resume") is None:
        settings = coordinator.study_settings(quick=quick, trials=trials, fix=fixed, **asked)
    return coordinator.search(settings, out_dir=out_dir, trials=trials, retrain=retrain, **options)


def decision_boundary(
    dataset: str = "spirals",
    compare: tuple[str, ...] = ("linear", "mlp"),
    mlp: dict | None = None,
    steps: int = 600,
    frames: int = 60,
    points: int = 800,
    noise: float = 0.05,
    classes: int | None = None,
    lr: float = 0.3,
    seed: int = 0,
    grid: int = 150,
    dpi: int = 80,
    progress: bool = True,
):
    """`firstnet plot boundary`: models trained side by side on 2-D toy data ("spirals", "moons",
    "circles", "xor", "blobs"), their decision regions drawn at `frames` moments beside their loss
    and accuracy curves. Returns an `Animation`: the frames (RGB arrays), the GIF and the last
    frame's PNG as bytes, and each model's run (its label, history and trained model).

    >>> result = decision_boundary(steps=60, frames=3, grid=40, dpi=40, progress=False)
    >>> len(result.frames), result.gif[:3], [run.label for run in result.runs]
    (3, b'GIF', ['linear', 'MLP 2x32 relu'])
    """
    data = make_toy(dataset, points, noise, seed, classes)
    shape = {"hidden": 32, "depth": 2, "activation": "relu"} | (mlp or {})
    configs = boundary.boundary_configs(list(compare), steps, seed, data, shape, lr)
    return boundary.animate(data, configs, frames, grid, dpi, progress)


def experiment(
    name: str,
    data: LabelledData | None = None,
    quick: bool = True,
    seeds: int | None = None,
    out_dir: str | Path | None = None,
) -> dict:
    """`firstnet experiment NAME`: one of the lecture's open questions measured; its results as
    data (the rows of its table among them). Cells are kept in `out_dir` (a temporary folder when
    not given), so a second call there reuses them.

    >>> results = experiment("no-activation", quick=True, seeds=1)
    >>> [row["model"] for row in results["rows"]]
    ['linear', 'identity', 'relu']
    """
    data = data if data is not None else load_mnist()
    with tempfile.TemporaryDirectory() as scratch:  # the cells' folder when none is given
        return run_experiment(name, data, Path(out_dir or scratch), quick, seeds)
