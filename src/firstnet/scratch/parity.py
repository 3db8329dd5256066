"""The NumPy MLP against torch: the same weights in `firstnet.models.MLP`, gradients from autograd.

The one module of `firstnet.scratch` that imports torch; the package itself never imports it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from firstnet.activations import ACTIVATIONS
from firstnet.config import INPUT_DIM, NUM_CLASSES
from firstnet.models import MLP
from firstnet.scratch import gradcheck
from firstnet.scratch.mlp import (
    PARAM_NAMES,
    TORCH_NAMES,
    Params,
    init_params,
    loss_and_gradients,
    normalise,
    to_torch_names,
)

PARITY_HIDDEN, PARITY_BATCH = 16, 8
PARITY_TOLERANCE = 1e-10  # absolute, in float64


def to_torch_mlp(params: Params, activation: str) -> MLP:
    """The torch MLP of `firstnet.models` holding `params` (float64 parameters give a float64
    model)."""
    hidden, inputs = params["W1"].shape
    if (
        inputs != INPUT_DIM
        or params["W3"].shape[0] != NUM_CLASSES
        or params["W2"].shape != (hidden, hidden)
    ):
        raise ValueError(
            f"the torch MLP is {INPUT_DIM}-H-H-{NUM_CLASSES}; these parameters are not"
        )
    model = MLP(hidden=hidden, depth=2, activation=activation).to(
        torch.from_numpy(params["W1"]).dtype
    )
    # Parameters the scratch MLP does not have (PReLU's slopes) keep their initial values, the fixed
    # ones NumPy uses.
    state = model.state_dict() | {
        key: torch.from_numpy(value.copy()) for key, value in to_torch_names(params).items()
    }
    model.load_state_dict(state)
    return model


def torch_loss_and_gradients(
    params: Params, images: np.ndarray, labels: np.ndarray, activation: str, smoothing: float = 0.0
) -> tuple[float, Params]:
    """Loss and gradients from torch autograd for images (B, 784) in [0, 1], under the scratch
    names."""
    model = to_torch_mlp(params, activation)
    logits = model(torch.from_numpy(images).to(model.out.weight.dtype))  # (B, 10)
    loss = F.cross_entropy(logits, torch.from_numpy(labels).long(), label_smoothing=smoothing)
    loss.backward()
    state = dict(model.named_parameters())
    return loss.item(), {name: state[TORCH_NAMES[name]].grad.numpy() for name in PARAM_NAMES}


def check_against_autograd(activation: str, seed=0, smoothing=0.1) -> dict[str, float]:
    """Max absolute difference from autograd, float64, for the loss and every gradient, on a
    784-PARITY_HIDDEN-PARITY_HIDDEN-10 MLP and a batch of PARITY_BATCH random images."""
    rng, hidden, batch = np.random.default_rng(seed), PARITY_HIDDEN, PARITY_BATCH
    sizes = (INPUT_DIM, hidden, hidden, NUM_CLASSES)
    params = init_params(sizes, init="default", rng=rng, dtype=np.float64)
    images = rng.uniform(0, 1, (batch, INPUT_DIM))  # (B, 784)
    labels = rng.integers(0, NUM_CLASSES, batch)  # (B,)
    loss, grads = loss_and_gradients(
        params, normalise(images, np.float64), labels, activation, smoothing
    )
    torch_loss, torch_grads = torch_loss_and_gradients(
        params, images, labels, activation, smoothing
    )
    errors = {"loss": abs(loss - torch_loss)}
    return errors | {
        name: float(np.abs(grads[name] - torch_grads[name]).max()) for name in PARAM_NAMES
    }


def check_all_activations(seed: int = 0) -> dict[str, dict[str, float]]:
    """`check_against_autograd` for every activation of the registry."""
    return {name: check_against_autograd(name, seed) for name in ACTIVATIONS}


def check_gradients(seed: int = 0) -> dict:
    """The NumPy MLP's hand-derived gradients for every activation, against finite differences
    (max relative error) and torch autograd (max absolute difference); `passed` when all are under
    their tolerances."""
    differences = gradcheck.check_all_activations(seed)
    autograd = check_all_activations(seed)
    passed = all(e < gradcheck.TOLERANCE for row in differences.values() for e in row.values())
    passed &= all(e < PARITY_TOLERANCE for row in autograd.values() for e in row.values())
    return {"finite_differences": differences, "autograd": autograd, "passed": passed}
