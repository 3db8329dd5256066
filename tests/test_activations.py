"""The activation registry: each NumPy function and derivative against its torch module and
autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from firstnet.activations import ACTIVATIONS, SOFTPLUS_THRESHOLD, erf, get_activation
from firstnet.errors import ConfigError

# Both signs, zero, the kinks' neighbourhood, saturation, and both sides of softplus's threshold.
GRID = np.concatenate(
    [np.linspace(-40, 40, 801), [0.0, 1e-9, -1e-9, 1e-3, -1e-3, 19.99, 20.0, 20.01, 60.0, -60.0]]
)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_numpy_function_matches_the_torch_module(name):
    activation = get_activation(name)
    # PReLU holds a weight
    expected = activation.module().double()(torch.from_numpy(GRID)).detach().numpy()
    np.testing.assert_allclose(activation.function(GRID), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_numpy_derivative_matches_autograd(name):
    activation = get_activation(name)
    z = torch.from_numpy(GRID.copy()).requires_grad_()
    activation.module().double()(z).sum().backward()
    derivative = activation.derivative(GRID, activation.function(GRID))
    np.testing.assert_allclose(derivative, z.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functions_keep_the_dtype(name, dtype):
    activation = get_activation(name)
    z = np.linspace(-3, 3, 7, dtype=dtype).reshape(7, 1)
    a = activation.function(z)
    assert a.dtype == dtype and a.shape == z.shape
    assert activation.derivative(z, a).dtype == dtype


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gain_matches_torch_calculate_gain(name):
    activation = get_activation(name)
    assert activation.gain == pytest.approx(
        nn.init.calculate_gain(activation.kaiming_nonlinearity, 0.01), rel=1e-12
    )


def test_module_builds_the_registered_torch_class_fresh_each_time():
    leaky = get_activation("leaky_relu")
    first, second = leaky.module(), leaky.module()
    assert isinstance(first, nn.LeakyReLU) and first.negative_slope == 0.01 and first is not second
    assert isinstance(get_activation("softplus").module(), nn.Softplus)
    assert get_activation("softplus").module().threshold == SOFTPLUS_THRESHOLD


def test_erf_matches_math_and_torch():
    x = np.linspace(-7, 7, 1401)
    np.testing.assert_array_equal(erf(x), [math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), torch.erf(torch.from_numpy(x)).numpy(), rtol=0, atol=1e-15)
    assert erf(np.zeros((2, 3), np.float32)).dtype == np.float32


def test_sigmoid_and_softplus_do_not_overflow():
    z = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        sigmoid = get_activation("sigmoid").function(z)
        softplus = get_activation("softplus").function(z)
    np.testing.assert_allclose(sigmoid, [0, 3.720075976020836e-44, 0.5, 1, 1], rtol=1e-12)
    np.testing.assert_allclose(
        softplus, [0, 3.720075976020836e-44, math.log(2), 100, 1000], rtol=1e-12
    )


def test_unknown_activation_is_a_config_error():
    with pytest.raises(
        ConfigError, match="unknown activation 'swish2'; choose from identity, sigmoid"
    ):
        get_activation("swish2")
