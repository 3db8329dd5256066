"""Accuracy gates: the default recipes, trained for real on the full MNIST."""

from __future__ import annotations

import pytest

from firstnet.config import TrainConfig
from firstnet.train import Trainer

pytestmark = pytest.mark.gate


def test_linear_model_default_reaches_92_3_percent(mnist):
    history = Trainer(TrainConfig(model="linear"), mnist).run()
    assert history[-1]["test_acc"] >= 0.923, history[-1]
    assert history[-1]["train_acc"] < 0.97  # and it does not fit the training set: not linearly separable


def test_mlp_default_reaches_98_3_percent(mnist):
    history = Trainer(TrainConfig(model="mlp"), mnist).run()
    assert history[-1]["test_acc"] >= 0.983, history[-1]
