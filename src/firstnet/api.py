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

import dataclasses
import json
import signal
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from firstnet import runs
from firstnet.config import TrainConfig
from firstnet.data import MNIST, load_dataset
from firstnet.evaluate import probabilities, test_report
from firstnet.figures import style
from firstnet.terminal import training_bar
from firstnet.trainer import Trainer
from firstnet.watched import train_watched


def _show_figures_in_notebooks() -> None:
    """In a Jupyter kernel, a returned Figure displays as a PNG (figures draw with the headless Agg
    backend, so nothing else shows them, and each shows once)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        select_figure_formats(shell, {"png"})


_show_figures_in_notebooks()


def load_mnist(data_dir: str | Path | None = None, dataset: str = "mnist") -> MNIST:
    """MNIST (or "fashion-mnist", "kmnist") as uint8 arrays, from the first source that has it
    (a folder, the cache, known copies, the mirrors; docs/datasets.md).

    >>> data = load_mnist()
    >>> data.train_images.shape, data.test_images.shape, data.train_images.dtype
    ((60000, 28, 28), (10000, 28, 28), dtype('uint8'))
    """
    return load_dataset(data_dir, dataset=dataset)


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

    def evaluate(self, data: MNIST | None = None) -> dict:
        """`firstnet eval`: accuracy, per-class accuracy, errors, the confusion matrix and the most
        confident mistakes on the test set of `data` (loaded when not given), as the model was
        evaluated in training (its precision and test-time augmentation).

        >>> run = train("linear", epochs=1, train_limit=2000, progress=False)
        >>> report = run.evaluate()
        >>> report["test_size"], abs(report["accuracy"] - run.history[-1]["test_acc"]) < 1e-4
        (10000, True)
        """
        data = data if data is not None else load_mnist(dataset=self.config.dataset)
        return test_report(self.config, self.model.eval(), data.test_images, data.test_labels)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) for images (N, 28, 28) or one image (28, 28): uint8
        pixels, or floats in [0, 1]; white digit on black, as MNIST
        (`firstnet.preprocess.mnist_like` makes a picture so).

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
        runs.write_config(path, self.config, device, self.source)
        runs.write_metrics(path, self.history)
        runs.save_model(path, self.config, self.model.state_dict())
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """A finished run directory (written by `firstnet train` or `Run.save`), on the CPU (an
        example: `Run.save`)."""
        config, model = runs.load_model(Path(path))
        history = runs.read_metrics(Path(path))
        return cls(config, model, history, source="a saved run", path=Path(path))


def train(
    model: str = "mlp",
    data: MNIST | None = None,
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
    cfg = TrainConfig(model=model, **config)
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    return _train(cfg, data, path, False, progress, on_epoch)


def resume(
    path: str | Path,
    data: MNIST | None = None,
    *,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> Run:
    """`firstnet train --resume`: continue a run directory that `train(path=...)` or `firstnet
    train` left unfinished, from its checkpoint, to the result it would have reached unstopped.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp() + "/mlp"
    >>> stopped = train("mlp", path=folder, epochs=2, hidden=32, train_limit=2000, progress=False,
    ...                 on_epoch=lambda record: _interrupt())
    >>> stopped.finished, len(stopped.history)
    (False, 1)
    >>> run = resume(folder, progress=False)
    >>> run.finished, [record["epoch"] for record in run.history]
    (True, [1, 2])
    """
    path = Path(path)
    cfg = runs.resumable_config(path)
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    return _train(cfg, data, path, True, progress, on_epoch)


def _interrupt() -> None:
    """What Ctrl-C does, for the examples: a SIGINT to this process."""
    signal.raise_signal(signal.SIGINT)


def _train(
    cfg: TrainConfig,
    data: MNIST,
    path: str | Path | None,
    resuming: bool,
    progress: bool,
    on_epoch: Callable[[dict], None] | None,
) -> Run:
    if path is not None:
        done = train_watched(cfg, data, Path(path), resuming, progress, on_epoch)
        return Run(cfg, done["model"], done["history"], data.source, Path(path), done["finished"])
    trainer = Trainer(cfg, data)
    with training_bar(cfg.model, progress) as show:
        trainer.run(show, on_epoch)
    return Run(cfg, trainer.model.eval(), trainer.history, source=data.source)


def train_numpy(
    data: MNIST | None = None,
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
    from firstnet.scratch import ScratchTrainer
    from firstnet.scratch.fit import FIXED_FIELDS
    from firstnet.scratch.parity import to_torch_mlp

    cfg = TrainConfig(**(FIXED_FIELDS | config))
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    trainer = ScratchTrainer(cfg, data)
    bar = training_bar("numpy mlp", progress)
    if path is None:
        with bar as show:
            trainer.run(show)
        model = to_torch_mlp(trainer.params, cfg.activation).eval()
        return Run(cfg, model, trainer.history, source=data.source)
    from firstnet.figures.curves import plot_curves

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with runs.claim(path, fresh=True):
        extra = {"trainer": "firstnet.scratch (NumPy)"}
        runs.write_config(path, cfg, torch.device("cpu"), data.source, extra=extra)
        with bar as show:
            trainer.run(show, on_epoch=lambda _record: runs.write_metrics(path, trainer.history))
        title = f"scratch (NumPy) MLP: {path.name}"
        plot_curves(trainer.history, path / "curves.png", title=title)
        # The torch MLP's full state: PReLU's slopes, which the NumPy MLP keeps fixed, saved at
        # that value.
        model = to_torch_mlp(trainer.params, cfg.activation).eval()
        runs.save_model(path, cfg, model.state_dict())
    return Run(cfg, model, trainer.history, source=data.source, path=path)


def gradcheck(seed: int = 0) -> dict:
    """`firstnet scratch --gradcheck`: the NumPy MLP's hand-derived gradients of W1, b1, W2, b2,
    W3, b3 for every activation, against finite differences (max relative error) and torch
    autograd (max absolute difference); `passed` when all are under their tolerances.

    >>> result = gradcheck()
    >>> result["passed"], result["finite_differences"]["relu"]["W1"] < 1e-6
    (True, True)
    """
    from firstnet.scratch import gradcheck as numeric
    from firstnet.scratch import parity

    differences = numeric.check_all_activations(seed)
    autograd = parity.check_all_activations(seed)
    passed = all(e < numeric.TOLERANCE for row in differences.values() for e in row.values())
    passed &= all(e < parity.PARITY_TOLERANCE for row in autograd.values() for e in row.values())
    return {"finite_differences": differences, "autograd": autograd, "passed": passed}


def _figure(fig, path: str | Path | None):
    """The API's figures: returned open; also written to `path` when one is given."""
    if path is not None:
        style.save(fig, Path(path), keep_open=True)
    return fig


def figure_curves(run: Run, path: str | Path | None = None):
    """Loss and accuracy per epoch, train and test (`firstnet plot curves`).

    >>> run = train("linear", epochs=2, train_limit=2000, progress=False)
    >>> [axes.get_title() for axes in figure_curves(run).axes]
    ['Loss', 'Accuracy']
    """
    from firstnet.figures.curves import plot_curves

    return _figure(plot_curves(run.history, None, title=f"{run.config.model}"), path)


def figure_digits(data: MNIST | None = None, per_class: int = 4, path: str | Path | None = None):
    """The first `per_class` training images of each class, one column per class (`firstnet data`).

    >>> figure_digits(per_class=2).axes[0].get_title()
    '0'
    """
    from firstnet.figures.digits import sample_digits

    return _figure(sample_digits(data if data is not None else load_mnist(), None, per_class), path)


def figure_confusion(run: Run, data: MNIST | None = None, path: str | Path | None = None):
    """The confusion matrix of `run` on the test set (`firstnet eval`).

    >>> run = train("linear", epochs=1, train_limit=2000, progress=False)
    >>> figure_confusion(run).axes[0].get_xlabel()
    'predicted class'
    """
    from firstnet.figures.confusion import plot_confusion

    matrix = np.array(run.evaluate(data)["confusion_matrix"])
    title = f"{run.config.model}: confusion on the test set"
    return _figure(plot_confusion(matrix, None, title), path)


def figure_activations(family: str = "relu-family", path: str | Path | None = None):
    """One activation family (sigmoid-like, relu-family, smooth-modern): f and f' with their
    problems marked (`firstnet plot activations`).

    >>> len(figure_activations("sigmoid-like").axes) > 2
    True
    """
    from firstnet.figures.activation_families import plot_activation_family

    return _figure(plot_activation_family(family, None), path)


def figure_loss_surface(path: str | Path | None = None):
    """A loss over two weights as a 3-D surface and as contours with the negative gradient and
    three descent paths (`firstnet plot landscape --part a`).

    >>> len(figure_loss_surface().axes) >= 2
    True
    """
    from firstnet.figures.loss_surface import gradient_intuition, plot_two_weight_landscape

    return _figure(plot_two_weight_landscape(gradient_intuition(), None), path)


def bench(
    model: str = "cnn",
    data: MNIST | None = None,
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
    (`firstnet.reference`; stopped after `reference_cap` seconds when given).

    >>> result = bench("linear", seeds=2, epochs=1, train_limit=2000, progress=False)
    >>> result["runs"], result["time_to"][0.995]["reached"]
    (2, 0)
    """
    from firstnet import stats
    from firstnet.device import environment
    from firstnet.reference import examples_run
    from firstnet.terminal import err

    cfg = TrainConfig(model=model, **config)
    data = data if data is not None else load_mnist(dataset=cfg.dataset)
    histories = []
    for seed in range(seeds):
        trainer = Trainer(dataclasses.replace(cfg, seed=seed), data)
        with training_bar(f"{model} seed {seed}", progress) as show:
            histories.append(trainer.run(show))
    result = stats.summarize(histories) | {
        "model": model,
        "precision": trainer.precision,
        "graph": trainer.static is not None,
        "time_to": stats.times_to(histories),
        "config": cfg.to_dict(),
        "environment": environment(trainer.device),
    }
    if reference:
        spinner = err.status("pytorch/examples' recipe (14 epochs)") if progress else None
        with spinner if spinner else nullcontext() as status:

            def show(record: dict) -> None:
                if status:
                    accuracy, seconds = 100 * record["test_acc"], record["elapsed_s"]
                    status.update(f"pytorch/examples epoch {record['epoch']}: {accuracy:.2f}% "
                                  f"at {seconds:.0f} s")  # fmt: skip

            subset = data.subset(cfg.train_limit, cfg.test_limit)  # the images firstnet had
            history = examples_run(subset, 0, trainer.device, reference_cap, show)
        result["reference"] = {"history": history, "time_to": stats.times_to([history])}
    return result


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
    from firstnet.search.coordinator import search as run_study

    fixed = [f"{name}={json.dumps(value)}" for name, value in (fix or {}).items()]
    return run_study(
        out_dir=out_dir, quick=quick, trials=trials, fix=fixed, retrain=retrain, **options
    )


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
) -> dict:
    """`firstnet plot boundary`: models trained side by side on 2-D toy data ("spirals", "moons",
    "circles", "xor", "blobs"), their decision regions drawn at `frames` moments beside their loss
    and accuracy curves. Returns the frames (RGB arrays), the animation as GIF bytes, the last frame
    as PNG bytes, and each model's label and history (one record per step).

    >>> result = decision_boundary(steps=60, frames=3, grid=40, dpi=40, progress=False)
    >>> len(result["frames"]), result["gif"][:3], [run["label"] for run in result["runs"]]
    (3, b'GIF', ['linear', 'MLP 2x32 relu'])
    """
    from firstnet.data.toy import make_toy
    from firstnet.figures import boundary
    from firstnet.terminal import task_bar

    data = make_toy(dataset, points, noise, seed, classes)
    shape = {"hidden": 32, "depth": 2, "activation": "relu"} | (mlp or {})
    configs = boundary.boundary_configs(list(compare), steps, seed, data, shape, lr)
    cells = boundary.make_grid(data, grid)
    trained = []
    with task_bar("training", steps * len(configs)) if progress else nullcontext(None) as advance:
        for cfg in configs:
            trained.append(boundary.train_with_snapshots(cfg, data, cells, frames, on_step=advance))
    images = boundary.render_frames(trained, data, cells, f"Decision regions on {data.source}", dpi)
    gif, png = boundary.gif_bytes(images), boundary.png_bytes(images[-1])
    runs_ = [{"label": run.label, "history": run.history} for run in trained]
    return {"frames": images, "gif": gif, "png": png, "runs": runs_, "source": data.source}


def experiment(
    name: str,
    data: MNIST | None = None,
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
    from firstnet.experiments.runner import run_experiment

    data = data if data is not None else load_mnist()
    with tempfile.TemporaryDirectory() if out_dir is None else nullcontext(out_dir) as folder:
        return run_experiment(name, data, Path(folder), quick, seeds)
