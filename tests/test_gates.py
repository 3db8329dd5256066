"""Accuracy gates: the default recipes, trained for real on the full MNIST."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firstnet.cli.cmd_demo import MINIMAL_LINES
from firstnet.config import TrainConfig
from firstnet.data.idx import encode_idx
from firstnet.train import Trainer

pytestmark = pytest.mark.gate


def test_linear_model_default_reaches_92_3_percent(mnist):
    history = Trainer(TrainConfig(model="linear"), mnist).run()
    assert history[-1]["test_acc"] >= 0.923, history[-1]
    # and it does not fit the training set: not linearly separable
    assert history[-1]["train_acc"] < 0.97


def test_mlp_default_reaches_98_3_percent(mnist):
    history = Trainer(TrainConfig(model="mlp"), mnist).run()
    assert history[-1]["test_acc"] >= 0.983, history[-1]


def test_cnn_default_reaches_99_5_percent(mnist):
    history = Trainer(TrainConfig(model="cnn"), mnist).run()
    assert history[-1]["test_acc"] >= 0.995, history[-1]


def test_minimal_example_reaches_99_5_percent_and_its_line_count_is_quoted(mnist, tmp_path):
    """examples/minimal.py is its own gate (exit status); it reads the IDX files the data layer
    verified."""
    script = Path(__file__).resolve().parents[1] / "examples" / "minimal.py"
    assert len(script.read_text().splitlines()) == MINIMAL_LINES
    for key, array in [
        ("train-images-idx3-ubyte", mnist.train_images),
        ("train-labels-idx1-ubyte", mnist.train_labels),
        ("t10k-images-idx3-ubyte", mnist.test_images),
        ("t10k-labels-idx1-ubyte", mnist.test_labels),
    ]:
        (tmp_path / key).write_bytes(encode_idx(np.ascontiguousarray(array)))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert float(result.stdout.split(":")[1].strip().rstrip("%")) >= 99.5
