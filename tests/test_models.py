"""Models: shapes, depth, activations from the registry, initialisation."""

from __future__ import annotations

import pytest
import torch

from firstnet.activations import ACTIVATIONS
from firstnet.errors import ConfigError
from firstnet.models import MLP, build_model


@pytest.mark.parametrize("depth", [0, 1, 2, 5])
def test_mlp_shapes(depth):
    model = MLP(hidden=16, depth=depth)
    images = torch.rand(3, 1, 28, 28)
    assert model(images).shape == (3, 10)
    assert model(images.flatten(1)).shape == (3, 10)  # (B, 784) works too
    assert len(model.hidden) == depth
    features = model.features(images)
    assert len(features) == max(depth, 1)
    assert features[-1].shape == ((3, 16) if depth else (3, 784))


def test_lecture_network_is_784_h_h_10():
    model = MLP(hidden=100, depth=2)
    shapes = [tuple(p.shape) for name, p in model.named_parameters() if name.endswith("weight")]
    assert shapes == [(100, 784), (100, 100), (10, 100)]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_registry_activation_builds_and_runs(name):
    out = MLP(hidden=8, activation=name)(torch.rand(2, 784))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_relu_mlp_prediction_is_argmax_of_logits():
    model = build_model("mlp", hidden=8)
    logits = model(torch.rand(5, 784))
    assert torch.equal(logits.softmax(1).argmax(1), logits.argmax(1))


def test_kaiming_init_scale():
    torch.manual_seed(0)
    model = MLP(hidden=512, init="kaiming")
    std = model.hidden[0].weight.std().item()
    assert abs(std - (2 / 784) ** 0.5) < 0.05 * (2 / 784) ** 0.5
    assert torch.count_nonzero(model.hidden[0].bias) == 0
    # The output layer feeds softmax, not ReLU: gain 1.
    assert abs(model.out.weight.std().item() - (1 / 512) ** 0.5) < 0.15 * (1 / 512) ** 0.5


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ConfigError, match="unknown init"):
        MLP(init="orthogonal")
    with pytest.raises(ConfigError, match="unknown activation"):
        MLP(activation="swish2")


def test_cnn_shapes_layout_and_size():
    model = build_model("cnn", channels=16)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert model(torch.rand(3, 784)).shape == (3, 10)
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 100_000
    wider = build_model("cnn", channels=32)
    assert sum(p.numel() for p in wider.parameters()) > 3 * sum(
        p.numel() for p in model.parameters()
    )


def test_cnn_uses_the_activation_registry():
    model = build_model("cnn", activation="gelu")
    assert any(isinstance(m, torch.nn.GELU) for m in model.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
