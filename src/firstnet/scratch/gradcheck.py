"""Checking the hand-derived gradients against central finite differences, in float64.

For every parameter entry theta_i, (L(theta + h e_i) - L(theta - h e_i)) / 2h approximates
dL/dtheta_i with an error of order h^2 (truncation) plus eps_machine / h (rounding). In float64
(eps_machine = 2.2e-16) the sum is smallest near h = eps_machine^(1/3) = 6e-6; h = 1e-5 gives
relative errors around 1e-9 to 1e-8, two orders below the 1e-6 the check allows (h = 1e-6 is
rounding-bound and ten times worse).
"""

from __future__ import annotations

import numpy as np

from firstnet.activations import ACTIVATIONS
from firstnet.config import NUM_CLASSES
from firstnet.scratch.mlp import (
    PARAM_NAMES,
    Params,
    forward,
    init_params,
    loss_and_gradients,
    softmax_cross_entropy,
)

GRADCHECK_SIZES = (20, 12, 12, NUM_CLASSES)  # a small D -> H -> H -> K network: 604 parameters
GRADCHECK_BATCH = 8
STEP = 1e-5
# no pre-activation this close to 0 (ReLU's kink), well beyond what a step moves Z
KINK_MARGIN = 1e-3
SMOOTHING = 0.1  # label smoothing of the checked loss
TOLERANCE = 1e-6


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a|, |n|) over the entries of one parameter's gradient (0 when both are 0).

    Relative to the largest entry rather than entry by entry: an entry of 1e-9 next to entries of
    1e-1 would otherwise turn the 1e-10 noise of the difference quotient into a meaningless 10%
    error.
    """
    scale = max(float(np.abs(analytic).max(initial=0)), float(np.abs(numeric).max(initial=0)))
    return float(np.abs(analytic - numeric).max(initial=0)) / scale if scale > 0 else 0.0


def loss_of(
    params: Params, X: np.ndarray, labels: np.ndarray, activation: str, smoothing: float
) -> float:
    return softmax_cross_entropy(forward(params, X, activation).Z3, labels, smoothing)[0]


def numerical_gradients(
    params: Params,
    X: np.ndarray,
    labels: np.ndarray,
    activation: str,
    smoothing: float = 0.0,
    step: float = STEP,
) -> Params:
    """Central differences for every entry of every parameter (2 forward passes per entry)."""
    grads = {}
    for name in PARAM_NAMES:
        value = params[name]
        grad = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            saved = value[i]
            value[i] = saved + step
            plus = loss_of(params, X, labels, activation, smoothing)
            value[i] = saved - step
            minus = loss_of(params, X, labels, activation, smoothing)
            value[i] = saved
            grad[i] = (plus - minus) / (2 * step)
        grads[name] = grad
    return grads


def gradcheck_problem(
    activation: str, sizes=GRADCHECK_SIZES, batch: int = GRADCHECK_BATCH, seed: int = 0
) -> tuple[Params, np.ndarray, np.ndarray]:
    """Float64 parameters (non-zero biases), inputs (B, D) and labels (B,) with no pre-activation
    near 0.

    Redraws (at most 100 times) while some |Z| < KINK_MARGIN: a difference quotient straddling a
    ReLU kink measures neither one-sided derivative, and the check would blame the backward pass for
    it.
    """
    rng = np.random.default_rng(seed)
    for _ in range(100):
        params = init_params(sizes, init="default", rng=rng, dtype=np.float64)
        X = rng.normal(size=(batch, sizes[0]))  # (B, D)
        labels = rng.integers(0, sizes[-1], batch)  # (B,)
        cache = forward(params, X, activation)
        if min(np.abs(cache.Z1).min(), np.abs(cache.Z2).min()) > KINK_MARGIN:
            return params, X, labels
    # probability ~0
    raise RuntimeError("could not draw a gradient-check problem away from the kinks")


def check_gradients(activation: str, seed=0, sizes=GRADCHECK_SIZES, batch=GRADCHECK_BATCH):
    """Relative error (a dict by parameter name) of the backward pass against finite differences,
    with label smoothing SMOOTHING so that its term is checked too."""
    params, X, labels, smoothing = *gradcheck_problem(activation, sizes, batch, seed), SMOOTHING
    _, analytic = loss_and_gradients(params, X, labels, activation, smoothing)
    numeric = numerical_gradients(params, X, labels, activation, smoothing)
    return {name: relative_error(analytic[name], numeric[name]) for name in PARAM_NAMES}


def check_all_activations(seed: int = 0) -> dict[str, dict[str, float]]:
    """`check_gradients` for every activation of the registry: {activation: {parameter: relative
    error}}."""
    return {name: check_gradients(name, seed) for name in ACTIVATIONS}
