"""The data sets besides MNIST: their table, their sources and checksums, a set given for another
refused, KMNIST's loader on IDX files written here, and a Fashion-MNIST run that eval, predict and
serve label by class name. The real Fashion-MNIST is Debian's package dataset-fashion-mnist
(.ci/run installs it; elsewhere these tests skip without it)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from firstnet.cli import main
from firstnet.config import TrainConfig
from firstnet.data import load_dataset
from firstnet.data.datasets import DATASETS, FILE_NAMES, whose
from firstnet.data.idx import encode_idx, sha256
from firstnet.errors import ConfigError, DataFormatError, DataNotFoundError
from firstnet.runs import default_name
from tests.conftest import DEBIAN_FASHION, needs_fashion

NO_MIRROR = "file:///nonexistent-mirror"


def idx_files(folder: Path, seed: int = 0, train: int = 30, test: int = 10) -> dict[str, bytes]:
    """Four small IDX files of a 10-class set of 28x28 images in `folder`; their contents."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    contents = {key: encode_idx(array) for key, array in arrays.items()}
    for key, content in contents.items():
        (folder / FILE_NAMES[key]).write_bytes(content)
    return contents


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user cache, no home folder copies, no environment variables, no network."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for spec in DATASETS.values():
        monkeypatch.setenv(f"{spec.env}_MIRRORS", NO_MIRROR)
        monkeypatch.delenv(f"{spec.env}_DATA_DIR", raising=False)
    monkeypatch.delenv("FIRSTNET_TORCHVISION_ROOT", raising=False)


# --- the table -----------------------------------------------------------------------------------


def test_every_set_has_ten_named_classes_https_mirrors_and_its_own_cache_and_variables():
    assert list(DATASETS) == ["mnist", "fashion-mnist", "kmnist"]
    for name, spec in DATASETS.items():
        assert spec.name == name and len(spec.classes) == 10 == len(set(spec.classes))
        assert spec.mirrors and all(m.startswith("https://") for m in spec.mirrors)
        assert set(spec.checksums) <= set(FILE_NAMES)
    assert len({spec.cache_subdir for spec in DATASETS.values()}) == 3
    assert len({spec.env for spec in DATASETS.values()}) == 3
    assert DATASETS["mnist"].digits and not DATASETS["fashion-mnist"].digits
    # pinned checksums are SHA-256 hex digests and no two sets share one
    pinned = [sha for spec in DATASETS.values() for sha in spec.checksums.values()]
    assert len(pinned) == len(set(pinned)) == 8
    assert all(len(sha) == 64 and int(sha, 16) >= 0 for sha in pinned)


def test_the_dataset_is_part_of_a_runs_config_and_its_default_name():
    assert TrainConfig().dataset == "mnist"
    cfg = TrainConfig(dataset="fashion-mnist", model="cnn")
    assert TrainConfig.from_dict(cfg.to_dict()).dataset == "fashion-mnist"
    assert default_name(cfg).startswith("fashion-mnist-cnn-")
    assert default_name(TrainConfig(model="cnn")).startswith("cnn-")
    with pytest.raises(ConfigError, match="did you mean 'fashion-mnist'"):
        TrainConfig(dataset="fashion_mnist")


def test_an_unknown_dataset_on_the_command_line_suggests_the_nearest(capsys):
    with pytest.raises(SystemExit):
        main(["data", "--dataset", "kmnst"])
    assert "did you mean 'kmnist'?" in capsys.readouterr().err


# --- KMNIST on IDX files written here ------------------------------------------------------------


def test_kmnist_loads_from_a_folder_the_environment_and_a_mirror_with_its_class_names(tmp_path):
    contents = idx_files(tmp_path / "kmnist-files")
    data = load_dataset(tmp_path / "kmnist-files", dataset="kmnist")
    assert data.dataset == "kmnist" and data.classes == DATASETS["kmnist"].classes
    assert data.train_images.shape == (30, 28, 28) and data.test_labels.tolist() == list(range(10))

    os.environ["FIRSTNET_KMNIST_DATA_DIR"] = str(tmp_path / "kmnist-files")
    try:
        assert load_dataset(dataset="kmnist").source == str(tmp_path / "kmnist-files")
    finally:
        del os.environ["FIRSTNET_KMNIST_DATA_DIR"]

    # from a mirror into the cache's own kmnist folder, not MNIST's
    (tmp_path / "mirror").mkdir()
    for name in FILE_NAMES.values():  # a mirror serves NAME.gz
        raw = (tmp_path / "kmnist-files" / name).read_bytes()
        (tmp_path / "mirror" / f"{name}.gz").write_bytes(gzip.compress(raw))
    mirror = (tmp_path / "mirror").as_uri()
    cache = tmp_path / "cache"
    data = load_dataset(dataset="kmnist", cache=cache, mirrors=(mirror,))
    assert data.source == str(cache / "kmnist")
    assert sorted(p.name for p in (cache / "kmnist").iterdir()) == sorted(FILE_NAMES.values())
    assert not any(p.is_file() for p in cache.iterdir())  # nothing at MNIST's level
    assert sha256((cache / "kmnist" / FILE_NAMES["test_images"]).read_bytes()) == sha256(
        contents["test_images"]
    )


def test_kmnist_files_that_are_not_idx_are_refused(tmp_path):
    idx_files(tmp_path / "bad")
    (tmp_path / "bad" / FILE_NAMES["train_labels"]).write_bytes(b"not an IDX file at all")
    with pytest.raises(DataFormatError, match="train-labels-idx1-ubyte"):
        load_dataset(tmp_path / "bad", dataset="kmnist")


def test_kmnist_not_found_names_its_own_variables_and_files(tmp_path):
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset(dataset="kmnist", cache=tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith("KMNIST not found")
    assert "FIRSTNET_KMNIST_DATA_DIR" in message and "FIRSTNET_KMNIST_MIRRORS" in message
    with pytest.raises(DataNotFoundError, match="KMNIST not found in .*empty"):
        load_dataset(tmp_path / "empty", dataset="kmnist")


# --- a set given for another ---------------------------------------------------------------------


def test_files_of_one_set_given_for_another_are_refused_by_name(tmp_path, monkeypatch):
    """Checksums know whose file it is: the error names the set and the --dataset to pass."""
    contents = idx_files(tmp_path / "other")
    sums = {key: sha256(content) for key, content in contents.items()}
    other = dataclasses.replace(DATASETS["kmnist"], checksums=sums)
    monkeypatch.setitem(DATASETS, "kmnist", other)
    assert whose("test_images", sums["test_images"]) == "KMNIST"
    with pytest.raises(
        DataFormatError, match="this is KMNIST.s file, not MNIST.s -- pass dataset=kmnist"
    ):
        load_dataset(tmp_path / "other")
    assert load_dataset(tmp_path / "other", dataset="kmnist").dataset == "kmnist"


@needs_fashion
def test_fashion_mnist_given_for_mnist_is_refused_not_trained_on(tmp_path, capsys):
    code = main(["train", "--model", "linear", "--data-dir", str(DEBIAN_FASHION), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "this is Fashion-MNIST's file, not MNIST's -- pass --dataset=fashion-mnist" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@needs_fashion
def test_real_fashion_mnist_from_debians_copy_with_pinned_checksums():
    data = load_dataset(dataset="fashion-mnist")
    assert data.source == str(DEBIAN_FASHION)
    assert data.dataset == "fashion-mnist" and data.classes[9] == "Ankle boot"
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert np.bincount(data.train_labels).tolist() == [6000] * 10
    assert np.bincount(data.test_labels).tolist() == [1000] * 10
    # the Zalando README's first test label is 9 (ankle boot); the first training label too
    assert data.test_labels[0] == 9 and data.train_labels[0] == 9


# --- a Fashion-MNIST run, end to end -------------------------------------------------------------


@pytest.fixture
def fashion_run(tmp_path):
    runs_dir = tmp_path / "runs"
    args = ["train", "--dataset", "fashion-mnist", "--model", "linear", "--epochs", "1"]
    limits = ["--train-limit", "3000", "--test-limit", "500", "--device", "cpu"]
    assert main([*args, *limits, "--runs-dir", str(runs_dir), "--name", "fashion"]) == 0
    return runs_dir / "fashion"


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


@needs_fashion
def test_a_fashion_run_knows_its_set_in_eval_predict_and_serve(fashion_run, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from firstnet.serve.app import create_app
    from firstnet.serve.registry import load_all

    config = json.loads((fashion_run / "config.json").read_text())["config"]
    assert config["dataset"] == "fashion-mnist"
    capsys.readouterr()

    assert main(["eval", str(fashion_run), "--out-dir", str(tmp_path / "figs")]) == 0
    text = capsys.readouterr().out
    assert "linear on the Fashion-MNIST test set" in text and "Ankle boot" in text
    accuracy = float(text.split("test set: ")[1].split("%")[0])
    assert accuracy > 60  # a linear model after one epoch on 3,000 images; chance is 10%

    test = load_dataset(dataset="fashion-mnist")
    boot = test.test_images[0]  # label 9, an ankle boot
    (tmp_path / "boot.png").write_bytes(png_bytes(boot))
    assert main(["predict", str(fashion_run), str(tmp_path / "boot.png"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert answer["class"] == DATASETS["fashion-mnist"].classes[answer["prediction"]]

    models, warnings = load_all([fashion_run], tmp_path / "runs")
    client = TestClient(create_app(models), base_url="http://localhost")
    listed = client.get("/api/models").json()["models"][0]
    assert listed["dataset"] == "fashion-mnist" and listed["digits"] is False
    assert listed["classes"] == list(DATASETS["fashion-mnist"].classes)
    got = client.post(
        "/api/predict?preprocess=false",
        content=png_bytes(boot),
        headers={"Content-Type": "image/png"},
    ).json()
    assert got["label"] == listed["classes"][got["class"]]
    assert got["class"] == int(np.argmax(got["probabilities"]))


@needs_fashion
def test_plot_digits_and_landscape_of_fashion_mnist(tmp_path, capsys):
    grid = tmp_path / "samples.png"
    assert main(["plot", "digits", "--dataset", "fashion-mnist", "--out", str(grid)]) == 0
    args = ["plot", "landscape", "--part", "b", "--dataset", "fashion-mnist", "--hidden", "16"]
    small = ["--epochs", "1", "--grid", "5", "--out-dir", str(tmp_path)]
    assert main([*args, *small]) == 0
    assert "pca directions: loss" in capsys.readouterr().out
    for path in (grid, tmp_path / "landscape-fashion-mnist.png"):
        with Image.open(path) as image:
            assert image.width > 300 and np.asarray(image.convert("L")).std() > 10
    assert not (tmp_path / "landscape-mnist.png").exists()
