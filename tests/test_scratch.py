"""The NumPy MLP's hand-derived gradients: finite differences, torch autograd, properties, torch MLP
parity."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from firstnet.activations import ACTIVATIONS, get_activation
from firstnet.config import INITS
from firstnet.errors import ConfigError
from firstnet.models import MLP
from firstnet.scratch import (
    PARAM_NAMES,
    SGD,
    backward,
    forward,
    from_torch_names,
    init_params,
    loss_and_gradients,
    normalise,
    predict_logits,
    softmax_cross_entropy,
)
from firstnet.scratch.gradcheck import TOLERANCE, check_gradients, relative_error
from firstnet.scratch.parity import PARITY_TOLERANCE, check_against_autograd, to_torch_mlp

ACTIVATION_NAMES = list(ACTIVATIONS)


def test_scratch_never_imports_torch():
    """Importing and using firstnet.scratch (every activation, training step, gradient check) loads
    no torch."""
    code = """
import sys
import numpy as np
from firstnet.activations import ACTIVATIONS
from firstnet.scratch import SGD, init_params, loss_and_gradients
from firstnet.scratch.gradcheck import check_gradients
for name in ACTIVATIONS:
    params = init_params((6, 5, 5, 3), ACTIVATIONS[name].gain, "kaiming", 0)
    images, labels = np.ones((4, 6), np.float32), np.array([0, 1, 2, 0])
    loss, grads = loss_and_gradients(params, images, labels, name, 0.1)
    SGD(params, 0.9, True, 1e-4).step(params, grads, 0.1)
    assert max(check_gradients(name, sizes=(4, 3, 3, 2), batch=2).values()) < 1e-6
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradients_match_finite_differences(activation):
    errors = check_gradients(activation)
    assert set(errors) == set(PARAM_NAMES)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_loss_and_gradients_match_torch_autograd(activation, smoothing):
    errors = check_against_autograd(activation, smoothing=smoothing)
    assert set(errors) == {"loss", *PARAM_NAMES}
    assert max(errors.values()) < PARITY_TOLERANCE, errors


def autograd(params, X, labels, activation, smoothing):
    """Loss and gradients of the same network written with torch.nn.functional, for any widths."""
    tensors = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    f = get_activation(activation).module().double()  # PReLU holds a (float32 by default) weight
    hidden = f(F.linear(torch.from_numpy(X), tensors["W1"], tensors["b1"]))
    hidden = f(F.linear(hidden, tensors["W2"], tensors["b2"]))
    logits = F.linear(hidden, tensors["W3"], tensors["b3"])
    loss = F.cross_entropy(logits, torch.from_numpy(labels), label_smoothing=smoothing)
    loss.backward()
    return loss.item(), {name: tensor.grad.numpy() for name, tensor in tensors.items()}


def random_problem(seed, batch, inputs, hidden, classes):
    rng = np.random.default_rng(seed)
    params = init_params(
        (inputs, hidden, hidden, classes), init="default", rng=rng, dtype=np.float64
    )
    return params, rng.normal(size=(batch, inputs)), rng.integers(0, classes, batch)


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 16),
    inputs=st.integers(1, 20),
    hidden=st.integers(1, 12),
    classes=st.integers(2, 10),
    activation=st.sampled_from(ACTIVATION_NAMES),
    smoothing=st.sampled_from([0.0, 0.1, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_match_autograd_for_any_shape(
    batch, inputs, hidden, classes, activation, smoothing, seed
):
    params, X, labels = random_problem(seed, batch, inputs, hidden, classes)
    loss, grads = loss_and_gradients(params, X, labels, activation, smoothing)
    torch_loss, torch_grads = autograd(params, X, labels, activation, smoothing)
    assert abs(loss - torch_loss) < 1e-10
    for name in PARAM_NAMES:
        assert grads[name].shape == params[name].shape
        np.testing.assert_allclose(
            grads[name], torch_grads[name], rtol=1e-9, atol=1e-12, err_msg=name
        )


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 12),
    classes=st.integers(2, 10),
    scale=st.sampled_from([1.0, 100.0, 1e4]),
    shift=st.floats(-1e4, 1e4),
    smoothing=st.sampled_from([0.0, 0.2]),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_cross_entropy_is_stable_and_shift_invariant(
    batch, classes, scale, shift, smoothing, seed
):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, classes)) * scale  # up to 1e4: a naive exp() would overflow
    labels = rng.integers(0, classes, batch)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, cross_entropy, P = softmax_cross_entropy(logits, labels, smoothing)
        shifted_loss, _, shifted_P = softmax_cross_entropy(logits + shift, labels, smoothing)
    assert np.isfinite(loss) and cross_entropy >= 0
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-12)
    assert shifted_loss == pytest.approx(loss, rel=1e-9, abs=1e-9 * max(1.0, abs(shift)))
    np.testing.assert_allclose(shifted_P, P, atol=1e-9 * max(1.0, abs(shift)))
    if smoothing == 0 and scale == 1.0:  # then the definition can be evaluated directly
        direct = -np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))[
            np.arange(batch), labels
        ].mean()
        assert loss == pytest.approx(direct, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(2, 10),
    hidden=st.integers(1, 8),
    activation=st.sampled_from(ACTIVATION_NAMES),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_gradient_is_the_mean_of_example_gradients(batch, hidden, activation, seed):
    params, X, labels = random_problem(seed, batch, 7, hidden, 4)
    _, grads = loss_and_gradients(params, X, labels, activation)
    singles = [
        loss_and_gradients(params, X[i : i + 1], labels[i : i + 1], activation)[1]
        for i in range(batch)
    ]
    for name in PARAM_NAMES:
        np.testing.assert_allclose(
            grads[name], np.mean([s[name] for s in singles], axis=0), atol=1e-12
        )
    # Softmax outputs sum to 1 whatever the logits, so the output-bias gradient sums to 0 over the
    # classes.
    assert abs(grads["b3"].sum()) < 1e-12


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_forward_matches_the_torch_mlp_with_copied_weights(activation, init):
    torch.manual_seed(0)
    model = MLP(hidden=32, depth=2, activation=activation, init=init)
    params = from_torch_names({key: value.numpy() for key, value in model.state_dict().items()})
    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.from_numpy(images).float().div(255).unsqueeze(1)).numpy()  # (50, 10)
    np.testing.assert_allclose(
        predict_logits(params, images, activation), expected, rtol=1e-5, atol=1e-5
    )
    double = {name: value.astype(np.float64) for name, value in params.items()}
    with torch.no_grad():
        expected = to_torch_mlp(double, activation)(
            torch.from_numpy(images.reshape(50, -1) / 255)
        ).numpy()
    np.testing.assert_allclose(
        predict_logits(double, images / 255, activation), expected, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu", "sigmoid"])
def test_initialisation_has_the_torch_mlp_statistics(activation, init):
    torch.manual_seed(0)
    model = MLP(hidden=512, depth=2, activation=activation, init=init)
    params = init_params((784, 512, 512, 10), get_activation(activation).gain, init, rng=0)
    for name, key in (("W1", "hidden.0.weight"), ("W2", "hidden.1.weight"), ("W3", "out.weight")):
        reference = model.state_dict()[key].numpy()
        assert params[name].shape == reference.shape and params[name].dtype == np.float32
        assert params[name].std() == pytest.approx(reference.std(), rel=0.08), name
        if init == "default":  # uniform in +-1/sqrt(fan_in)
            bound = 1 / np.sqrt(reference.shape[1])
            assert bound * 0.99 < abs(params[name]).max() <= bound
    biases_are_zero = not np.any(params["b1"])
    assert biases_are_zero == (init != "default")


@pytest.mark.parametrize("gain", ["tanh", 0.0, -1.0, float("nan"), float("inf"), True, None])
def test_initialisation_refuses_a_gain_that_is_not_a_finite_positive_number(gain):
    with pytest.raises(ConfigError, match=r"gain must be a finite positive number .*got"):
        init_params((784, 16, 16, 10), gain)


def test_initialisation_takes_numpy_and_integer_gains_and_names_an_activation_given_instead():
    weights = [init_params((6, 5, 5, 3), gain)["W1"] for gain in (2, np.float32(2), 2.0)]
    assert all(np.array_equal(weights[0], other) for other in weights[1:])
    with pytest.raises(ConfigError, match=r"get_activation\(name\)\.gain\), got tanh$"):
        init_params((6, 5, 5, 3), get_activation("tanh"))


@pytest.mark.parametrize(
    "momentum,nesterov,weight_decay", [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 5e-4)]
)
def test_sgd_matches_torch_optimizer(momentum, nesterov, weight_decay):
    params, X, labels = random_problem(3, 16, 12, 8, 5)
    tensors = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    reference = torch.optim.SGD(
        list(tensors.values()),
        lr=0.1,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
    )
    optimizer = SGD(params, momentum, nesterov, weight_decay)
    for step, lr in enumerate([0.1, 0.3, 0.05, 0.2]):
        _, grads = loss_and_gradients(params, X, labels, "tanh", 0.1)
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(grads[name].copy())
        reference.param_groups[0]["lr"] = lr
        reference.step()
        optimizer.step(params, grads, lr)
        for name, tensor in tensors.items():
            np.testing.assert_allclose(
                params[name], tensor.detach().numpy(), atol=1e-13, err_msg=f"{name} {step}"
            )


def test_float32_training_step_stays_float32():
    params = init_params((784, 16, 16, 10), get_activation("gelu").gain, "kaiming", 0)
    X = normalise(np.random.default_rng(0).integers(0, 256, (8, 784), dtype=np.uint8))
    cache = forward(params, X, "gelu")
    _, _, P = softmax_cross_entropy(cache.Z3, np.arange(8) % 10)
    grads = backward(params, cache, P, np.arange(8) % 10, "gelu")
    assert X.dtype == cache.Z3.dtype == np.float32
    assert all(
        grads[name].dtype == np.float32 and grads[name].shape == params[name].shape
        for name in PARAM_NAMES
    )


def test_relative_error_is_scale_free_and_zero_for_equal_gradients():
    a = np.array([1e-3, -2e-3, 0.0])
    assert relative_error(a, a) == 0.0 and relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, a * (1 + 1e-7)) == pytest.approx(1e-7, rel=1e-3)
    assert relative_error(1e6 * a, 1e6 * a * (1 + 1e-7)) == pytest.approx(1e-7, rel=1e-3)
