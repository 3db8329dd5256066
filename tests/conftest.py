"""Shared fixtures. The real MNIST comes through the normal data layer (the Makefile and .ci/run
point FIRSTNET_MIRRORS at the team's offline mirror); tests that need it fail loudly if it cannot be
found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs one worker per core), each worker and the processes its tests
# start compute on one thread: two workers of two threads each on two cores run slower than one
# worker alone. Set before NumPy or torch is imported, whose thread pools read it once.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["FIRSTNET_THREADS"] = "1"  # the command line's own choice (cli.use_threads)
    import torch  # in case a plugin loaded it already

    torch.set_num_threads(1)

from firstnet.config import TrainConfig  # noqa: E402 (after the threads are set)
from firstnet.data import LabelledData, load_dataset  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (marked `longest`), in their order: with several workers the
    others share the rest meanwhile, instead of one of them finishing alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture(scope="session")
def mnist() -> LabelledData:
    return load_dataset()


@pytest.fixture(scope="session")
def small_mnist(mnist: LabelledData) -> LabelledData:
    return mnist.subset(2000, 500)


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# Fashion-MNIST comes from Debian's dataset-fashion-mnist: .ci/run installs it, so in CI (CI set) a
# missing package fails these tests instead of skipping them.
needs_fashion = pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir() and not os.environ.get("CI"),
    reason="Debian's dataset-fashion-mnist is not installed",
)


@pytest.fixture(scope="session")
def fashion() -> LabelledData:
    if not DEBIAN_FASHION.is_dir() and not os.environ.get("CI"):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    return load_dataset(dataset="fashion-mnist")


def small_config(**overrides) -> TrainConfig:
    """A config that trains in well under a second on `small_mnist`."""
    values = {
        "model": "mlp",
        "hidden": 32,
        "epochs": 3,
        "batch_size": 100,
        "device": "cpu",
    } | overrides
    if values["model"] == "mlp":  # the recipe's 0.3 is for full batches of 60,000 images
        values.setdefault("lr", 0.2)
    return TrainConfig(**values)


def default_run(tmp_path_factory, model: str) -> Path:
    """`firstnet train --model MODEL` with every default, as a run directory, trained once per test
    run: with several workers (`pytest -n`), the first that needs it trains it, the others wait
    for it and read it."""
    from firstnet.cli import main

    shared = tmp_path_factory.getbasetemp()
    if WORKER:
        shared = shared.parent  # the session's folder, above each worker's own
    runs_dir = shared / f"default-{model}"
    import fcntl  # POSIX: the lock only matters with several workers

    with open(shared / f"default-{model}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (runs_dir / model / "model.safetensors").is_file():
            argv = ["train", "--model", model, "--runs-dir", str(runs_dir), "--name", model]
            assert main(argv) == 0
    return runs_dir / model


@pytest.fixture(scope="session")
def default_linear_run(tmp_path_factory, mnist: LabelledData) -> Path:
    """The default linear model (about a second on 2 idle cores, ~92.5% test)."""
    return default_run(tmp_path_factory, "linear")


@pytest.fixture(scope="session")
def default_mlp_run(tmp_path_factory, mnist: LabelledData) -> Path:
    """The default MLP (about 3 s on 2 idle cores, ~98.6% test)."""
    return default_run(tmp_path_factory, "mlp")


@pytest.fixture(scope="session")
def default_cnn_run(tmp_path_factory, mnist: LabelledData) -> Path:
    """The default CNN (about 13 s with bf16, ~99.6% test)."""
    return default_run(tmp_path_factory, "cnn")
