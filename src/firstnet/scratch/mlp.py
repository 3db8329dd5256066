"""The lecture's network in NumPy: 784 -> H -> H -> 10, forward and hand-derived backward side by
side.

Names follow docs/gradients.md: X (B, D) the normalised inputs, Z1 = X W1^T + b1 and A1 = f(Z1) the
first hidden layer, Z2 and A2 the second, Z3 the logits, P = softmax(Z3). Weights are laid out as in
torch.nn.Linear -- W of shape (out, in), so z = x @ W.T + b -- which lets a checkpoint move between
this code and the torch MLP of `firstnet.models` without transposes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

from firstnet.activations import GAINS, Activation, get_activation
from firstnet.config import INITS, INPUT_DIM, MNIST_MEAN, MNIST_STD, NUM_CLASSES
from firstnet.errors import ConfigError
from firstnet.reporting import EVAL_BATCH

Params = dict[str, np.ndarray]  # "W1", "b1", "W2", "b2", "W3", "b3"
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
# The same tensors in the torch MLP's state dict (firstnet.models.MLP with depth 2).
TORCH_NAMES = {
    "W1": "hidden.0.weight",
    "b1": "hidden.0.bias",
    "W2": "hidden.1.weight",
    "b2": "hidden.1.bias",
    "W3": "out.weight",
    "b3": "out.bias",
}


@dataclass
class Cache:
    """Everything the backward pass needs from the forward pass, for a batch of B examples."""

    X: np.ndarray  # (B, D) normalised inputs
    Z1: np.ndarray  # (B, H) pre-activations of hidden layer 1
    A1: np.ndarray  # (B, H) = f(Z1)
    Z2: np.ndarray  # (B, H)
    A2: np.ndarray  # (B, H) = f(Z2)
    Z3: np.ndarray  # (B, K) logits


def as_activation(activation: str | Activation) -> Activation:
    return activation if isinstance(activation, Activation) else get_activation(activation)


def init_params(
    sizes: tuple[int, int, int, int] = (INPUT_DIM, 256, 256, NUM_CLASSES),
    gain: float = GAINS["relu"],
    init: str = "kaiming",
    rng: np.random.Generator | int = 0,
    dtype=np.float32,
) -> Params:
    """Fresh weights for D -> H1 -> H2 -> K, with the same schemes as `firstnet.models.initialise`.

    kaiming: normal, std = gain / sqrt(fan_in); xavier: normal, std = gain * sqrt(2 / (fan_in +
    fan_out)); both with zero biases and gain 1 for the output layer (it feeds softmax, not f).
    default: PyTorch's own nn.Linear scheme, weights and biases uniform in +-1/sqrt(fan_in), with
    no gain. `gain` is all a scheme needs of the hidden layers' activation: its `Activation.gain`
    (torch.nn.init.calculate_gain's number), sqrt(2) for ReLU.
    """
    if init not in INITS:
        raise ConfigError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
    if len(sizes) != 4 or min(sizes) < 1:
        raise ConfigError(f"sizes must be four positive widths (D, H1, H2, K), got {sizes}")
    if isinstance(gain, bool) or not isinstance(gain, Real) or not 0 < gain < math.inf:
        shown = gain.name if isinstance(gain, Activation) else repr(gain)
        hint = "for an activation, pass get_activation(name).gain"
        raise ConfigError(f"gain must be a finite positive number ({hint}), got {shown}")
    rng = np.random.default_rng(rng)
    params: Params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        layer_gain = 1.0 if layer == 3 else gain
        if init == "default":
            bound = 1 / np.sqrt(fan_in)
            weight = rng.uniform(-bound, bound, (fan_out, fan_in))
            bias = rng.uniform(-bound, bound, fan_out)
        else:
            std = (
                layer_gain / np.sqrt(fan_in)
                if init == "kaiming"
                else layer_gain * np.sqrt(2 / (fan_in + fan_out))
            )
            weight, bias = rng.normal(0.0, std, (fan_out, fan_in)), np.zeros(fan_out)
        params[f"W{layer}"] = weight.astype(dtype)  # (fan_out, fan_in)
        params[f"b{layer}"] = bias.astype(dtype)  # (fan_out,)
    return params


def normalise(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(N, D) model inputs from images (N, 28, 28) or (N, 784): uint8 pixels or floats in [0, 1].

    The same float32 operations as the torch models ((x / 255 - mean) / std), so both see identical
    inputs.
    """
    x = images.reshape(len(images), -1)
    x = x.astype(dtype) / 255 if x.dtype == np.uint8 else x.astype(dtype, copy=False)
    return (x - MNIST_MEAN) / MNIST_STD


def forward(params: Params, X: np.ndarray, activation: str | Activation) -> Cache:
    """The forward pass for a batch X (B, D); the logits are `cache.Z3` (B, K)."""
    f = as_activation(activation).function
    Z1 = X @ params["W1"].T  # (B, H)
    Z1 += params["b1"]
    A1 = f(Z1)  # (B, H)
    Z2 = A1 @ params["W2"].T  # (B, H)
    Z2 += params["b2"]
    A2 = f(Z2)  # (B, H)
    Z3 = A2 @ params["W3"].T  # (B, K)
    Z3 += params["b3"]
    return Cache(X, Z1, A1, Z2, A2, Z3)


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, smoothing: float = 0.0
) -> tuple[float, float, np.ndarray]:
    """(loss, plain cross-entropy, P) for logits Z3 (B, K) and integer labels (B,).

    Log-sum-exp: subtracting each row's maximum first keeps exp() from overflowing (its largest
    argument is 0) and leaves the softmax unchanged. With label smoothing the target is T = (1 - s)
    Y + s / K, the loss optimised; the plain cross-entropy (s = 0) is what training reports.
    """
    batch = len(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (B, K), every row's maximum is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (B, K) log P
    cross_entropy = -float(log_probs[np.arange(batch), labels].mean())
    loss = (1 - smoothing) * cross_entropy - smoothing * float(log_probs.mean())
    return loss, cross_entropy, np.exp(log_probs)


def backward(
    params: Params,
    cache: Cache,
    P: np.ndarray,
    labels: np.ndarray,
    activation: str | Activation,
    smoothing: float = 0.0,
) -> Params:
    """dL/dW and dL/db of every layer for the mean loss over the batch (docs/gradients.md, steps
    1-6)."""
    df = as_activation(activation).derivative
    batch, classes = P.shape
    dZ3 = P - smoothing / classes  # (B, K) = (P - T) / B with T = (1 - s) Y + s / K ...
    dZ3[np.arange(batch), labels] -= 1 - smoothing
    dZ3 /= batch  # ... divided by B, because L is the batch mean
    grads = {"W3": dZ3.T @ cache.A2, "b3": dZ3.sum(axis=0)}  # (K, H), (K,)
    dZ2 = dZ3 @ params["W3"]  # (B, H) = dL/dA2 ...
    dZ2 *= df(cache.Z2, cache.A2)  # ... times f'(Z2), elementwise
    grads |= {"W2": dZ2.T @ cache.A1, "b2": dZ2.sum(axis=0)}  # (H, H), (H,)
    dZ1 = dZ2 @ params["W2"]  # (B, H) = dL/dA1
    dZ1 *= df(cache.Z1, cache.A1)
    grads |= {"W1": dZ1.T @ cache.X, "b1": dZ1.sum(axis=0)}  # (H, D), (H,)
    return {name: grads[name] for name in PARAM_NAMES}


def loss_and_gradients(
    params: Params,
    X: np.ndarray,
    labels: np.ndarray,
    activation: str | Activation,
    smoothing: float = 0.0,
) -> tuple[float, Params]:
    """The training loss and its gradient with respect to every parameter, for one batch."""
    activation = as_activation(activation)
    cache = forward(params, X, activation)
    loss, _, P = softmax_cross_entropy(cache.Z3, labels, smoothing)
    return loss, backward(params, cache, P, labels, activation, smoothing)


def predict_logits(
    params: Params, images: np.ndarray, activation: str | Activation, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """Logits (N, K) for images (N, 28, 28) or (N, 784), uint8 or in [0, 1], in batches."""
    activation = as_activation(activation)
    dtype = params["W1"].dtype
    chunks = [
        forward(params, normalise(images[start : start + batch_size], dtype), activation).Z3
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(params["b3"])), dtype)


def to_torch_names(params: Params) -> dict[str, np.ndarray]:
    """The parameters under the torch MLP's state-dict names, contiguous, ready for safetensors."""
    return {TORCH_NAMES[name]: np.ascontiguousarray(params[name]) for name in PARAM_NAMES}


def from_torch_names(state: dict[str, np.ndarray]) -> Params:
    """The inverse of `to_torch_names`."""
    missing = [key for key in TORCH_NAMES.values() if key not in state]
    if missing:
        raise ConfigError(f"not a 784-H-H-10 MLP state: missing {', '.join(missing)}")
    return {name: np.asarray(state[key]) for name, key in TORCH_NAMES.items()}
