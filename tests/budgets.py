"""Small budgets for tests that run the product's own code paths: the experiments' TINY budgets
(tests of the experiments, the report and the notebooks use them) and smaller trainings for the
notebooks, whose claims the accuracy gates prove at full budget, and a smaller search for them."""

from __future__ import annotations

import functools

from firstnet.experiments import (
    EXPERIMENTS,
    activation_choice,
    depth_width,
    handmade_features,
    no_activation,
    search_strategies,
    universal,
)
from firstnet.experiments.runner import experiment_module

# (depth, width) of the depth-width experiment under its TINY budget
TINY_GRID = [(0, 0), (1, 8), (1, 16), (2, 8), (2, 16)]
TINY = {
    "activations": activation_choice.Budget(
        hidden=16,
        epochs=1,
        train_limit=500,
        deep_hidden=8,
        deep_depth=4,
        deep_activations=("sigmoid", "relu"),
        activations=("identity", "relu", "sigmoid"),
        measure_batch=200,
    ),
    "no-activation": no_activation.Budget(hidden=16, epochs=1, train_limit=500),
    "depth-width": depth_width.Budget(epochs=1, train_limit=500, depths=(0, 1, 2), widths=(8, 16)),
    "handmade-features": handmade_features.Budget(
        train_limit=500, iterations=20, l2=1e-2, random_features=50, pca_components=5, epochs=1
    ),
    "universal": universal.Budget(
        steps=30,
        widths=(1, 2, 4),
        memorise_images=200,
        memorise_test=200,
        memorise_hidden=32,
        memorise_epochs=2,
    ),
    "search": search_strategies.Budget(trials=4, epochs=1, train_limit=400, validation=500),
}
MODULES = {name: experiment_module(name) for name in EXPERIMENTS}  # the registry's order


def use_tiny_budgets() -> None:
    """Every experiment's QUICK budget replaced by its TINY one, in this process (a notebook's
    kernel; pytest's tests use monkeypatch instead)."""
    for name, budget in TINY.items():
        MODULES[name].QUICK = budget


def use_smaller_trainings(**limits) -> None:
    """`firstnet.train` and `train_numpy` with `limits` (e.g. train_limit=10_000) as defaults, in
    this process (a notebook's kernel)."""
    import firstnet

    for name in ("train", "train_numpy"):
        setattr(firstnet, name, functools.partial(getattr(firstnet, name), **limits))


def use_trained_runs(**run_dirs: str) -> None:
    """`firstnet.train(MODEL)` with every default (a `data` and `progress` aside) answered by the
    run directory of MODEL in `run_dirs` -- the session's default run, which the accuracy gate
    trained and checks -- instead of training it again, in this process (a notebook's kernel)."""
    import firstnet

    train = firstnet.train

    def trained(model: str = "mlp", **options):
        if model in run_dirs and set(options) <= {"data", "progress"}:
            return firstnet.Run.load(run_dirs[model])
        return train(model, **options)

    firstnet.train = trained


def use_smaller_searches(train_images: int) -> None:
    """`firstnet.architecture_search` on the first `train_images` training images (its held-out
    split drawn from them, its best retrained on them), in this process (a notebook's kernel)."""
    from firstnet.search import coordinator

    load = coordinator.load_data
    coordinator.load_data = lambda *args, **kwargs: load(*args, **kwargs).subset(train_images)


assert set(TINY) == set(EXPERIMENTS), "every experiment needs a TINY budget here"
