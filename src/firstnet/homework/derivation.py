"""The homework's network, its correct gradients, the same gradients with a common mistake made on
purpose, and finite differences.

The network is `firstnet.scratch.mlp`'s (docs/gradients.md): X (B, D) -> Z1 = X W1^T + b1,
A1 = relu(Z1) -> Z2 = A1 W2^T + b2, A2 = relu(Z2) -> Z3 = A2 W3^T + b3 -> P = softmax(Z3), and the
loss the mean over the batch of -log P[n, y_n]. `gradients(..., mistakes)` is its backward pass,
step by step as docs/gradients.md derives it, where each named mistake changes the one step a
student gets wrong (MISTAKES says how); with no mistake it is `scratch.mlp.backward`'s result
(tested). The checker explains a wrong answer by finding the mistakes that reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
# A mistake changes one step of the derivation; the checker names it with this line.
MISTAKES = {
    "p-not-p-minus-y": "dZ3 = P, not P - Y: the softmax and cross-entropy gradient subtracts the "
    "one-hot labels (docs/gradients.md, step 1)",
    "no-mean": "the 1/B of the batch mean is missing (docs/gradients.md, step 1)",
    "mean-twice": "the 1/B of the batch mean is taken twice (docs/gradients.md, step 1)",
    "sign": "the sign is flipped: dL/dW points uphill (docs/gradients.md, step 1)",
    "no-mask-2": "the ReLU mask of layer 2 is missing: dZ2 = dA2 * (Z2 > 0) (step 3)",
    "no-mask-1": "the ReLU mask of layer 1 is missing: dZ1 = dA1 * (Z1 > 0) (step 5)",
    "mask-2-from-layer-1": "layer 2's ReLU mask is taken from layer 1: (Z1 > 0), not (Z2 > 0) "
    "(step 3)",
    "mask-1-from-layer-2": "layer 1's ReLU mask is taken from layer 2: (Z2 > 0), not (Z1 > 0) "
    "(step 5)",
    "mask-2-is-activation": "dZ2 multiplies dA2 by A2 itself, not by the 0/1 mask (Z2 > 0) "
    "(step 3)",
    "mask-1-is-activation": "dZ1 multiplies dA1 by A1 itself, not by the 0/1 mask (Z1 > 0) "
    "(step 5)",
}
# The mistakes that change one returned array only, looked for in each gradient on its own.
LOCAL = {
    "transposed": "transposed: dW has the shape of W, (out, in), so dW = dZ^T A, not A^T dZ "
    "(docs/gradients.md, step 2)",
    "bias-over-units": "summed over the units, not over the batch: db = dZ.sum(axis=0) has one "
    "entry per unit (step 2)",
    "bias-mean": "averaged over the batch instead of summed: the 1/B is in dZ already (step 2)",
}


@dataclass(frozen=True)
class Case:
    """One check: weights, a batch and its labels, in float64."""

    params: dict
    X: np.ndarray
    y: np.ndarray
    kinks: bool = False  # pre-activations exactly 0: finite differences cannot see the mask there

    @property
    def sizes(self) -> str:
        (hidden1, inputs), hidden2, classes = (
            self.params["W1"].shape,
            len(self.params["b2"]),
            len(self.params["b3"]),
        )
        return f"B={len(self.y)}, D={inputs}, H1={hidden1}, H2={hidden2}, K={classes}"


def make_case(seed: int, batch: int, inputs: int, hidden1: int, hidden2: int, classes: int,
              zeros: bool = False) -> Case:  # fmt: skip
    """Random weights and inputs; with `zeros`, some pre-activations of both layers are exactly 0
    (where ReLU's derivative is taken as 0)."""
    rng = np.random.default_rng(seed)
    sizes = (inputs, hidden1, hidden2, classes)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        params[f"W{layer}"] = rng.normal(0, np.sqrt(2 / fan_in), (fan_out, fan_in))
        params[f"b{layer}"] = rng.normal(0, 0.1, fan_out)
    X = rng.normal(0, 1, (batch, inputs))
    if zeros:  # a unit whose weights and bias are 0 has Z = 0 exactly, in both layers
        params["W1"][0], params["b1"][0] = 0.0, 0.0
        params["W2"][-1], params["b2"][-1] = 0.0, 0.0
    return Case(params, X, rng.integers(0, classes, batch), zeros)


# Seeds and shapes: square and not, a batch of one, pre-activations exactly 0.
CASES = ((0, 8, 12, 7, 5, 4, False), (1, 1, 6, 5, 5, 3, False), (2, 16, 20, 9, 9, 10, True),
         (3, 5, 3, 4, 6, 2, False))  # fmt: skip


def cases(secret: int | None = None) -> list[Case]:
    """The cases of CASES; with a teacher's `secret`, as many others of the same kinds (square and
    not, a batch of one, zeros), their seeds and sizes drawn from it: a student who saw the public
    ones cannot fit their answers to them."""
    if secret is None:
        return [make_case(*spec) for spec in CASES]
    rng = np.random.default_rng(secret)
    hidden = [int(rng.integers(3, 12)) for _ in CASES]
    sizes = [(int(rng.integers(2, 12)), int(rng.integers(2, 16)), hidden[0],
              int(rng.integers(3, 12)), int(rng.integers(2, 10))),
             (1, int(rng.integers(2, 16)), hidden[1], hidden[1], int(rng.integers(2, 10))),
             (int(rng.integers(2, 20)), int(rng.integers(2, 16)), hidden[2], hidden[2],
              int(rng.integers(2, 10))),
             (int(rng.integers(2, 12)), int(rng.integers(2, 16)), hidden[3],
              hidden[3] + int(rng.integers(1, 4)), int(rng.integers(2, 10)))]  # fmt: skip
    return [make_case(secret * 10 + index, *size, zeros=index == 2)
            for index, size in enumerate(sizes)]  # fmt: skip


def forward(params: dict, X: np.ndarray) -> dict:
    """The forward pass of the template (the student's `backward` reads this cache)."""
    Z1 = X @ params["W1"].T + params["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ params["W2"].T + params["b2"]
    A2 = np.maximum(Z2, 0)
    Z3 = A2 @ params["W3"].T + params["b3"]
    shifted = Z3 - Z3.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return {"X": X, "Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "Z3": Z3, "P": P}


def loss(params: dict, X: np.ndarray, y: np.ndarray) -> float:
    P = forward(params, X)["P"]
    return float(-np.log(P[np.arange(len(y)), y]).mean())


def mask(cache: dict, layer: int, mistakes: frozenset) -> np.ndarray:
    """What dA of `layer` is multiplied by: (Z > 0), or the mistake made there."""
    if f"no-mask-{layer}" in mistakes:
        return np.ones_like(cache[f"Z{layer}"])
    if f"mask-{layer}-is-activation" in mistakes:
        return cache[f"A{layer}"]
    other = 3 - layer
    source = other if f"mask-{layer}-from-layer-{other}" in mistakes else layer
    return (cache[f"Z{source}"] > 0).astype(float)


def gradients(params: dict, cache: dict, y: np.ndarray, mistakes: frozenset = frozenset()) -> dict:
    """dL/dW and dL/db of every layer, each step as docs/gradients.md derives it, with `mistakes`
    (keys of MISTAKES) made on purpose."""
    return backward(params, cache, y, mistakes)[0]


def backward(params: dict, cache: dict, y: np.ndarray, mistakes: frozenset) -> tuple[dict, dict]:
    """`gradients`, and the signals dZ1, dZ2, dZ3 they came from."""
    batch = len(y)
    dZ3 = cache["P"].copy()
    if "p-not-p-minus-y" not in mistakes:
        dZ3[np.arange(batch), y] -= 1  # step 1: P - Y ...
    dZ3 /= 1 if "no-mean" in mistakes else batch**2 if "mean-twice" in mistakes else batch
    if "sign" in mistakes:
        dZ3 = -dZ3
    found = {"W3": dZ3.T @ cache["A2"], "b3": dZ3.sum(axis=0)}  # step 2
    dZ2 = (dZ3 @ params["W3"]) * mask(cache, 2, mistakes)  # steps 3-4
    found |= {"W2": dZ2.T @ cache["A1"], "b2": dZ2.sum(axis=0)}
    dZ1 = (dZ2 @ params["W2"]) * mask(cache, 1, mistakes)  # steps 5-6
    found |= {"W1": dZ1.T @ cache["X"], "b1": dZ1.sum(axis=0)}
    return {name: found[name] for name in NAMES}, {"dZ1": dZ1, "dZ2": dZ2, "dZ3": dZ3}


def finite_differences(case: Case, name: str, entries: int = 6, step: float = 1e-6) -> tuple:
    """Central differences of the loss at `entries` random entries of parameter `name`: (their flat
    indices, the numbers)."""
    rng = np.random.default_rng(len(case.y))
    flat = case.params[name].reshape(-1)
    picked = rng.choice(flat.size, min(entries, flat.size), replace=False)
    numbers = []
    for index in picked:
        values = []
        for sign in (1, -1):
            moved = {key: value.copy() for key, value in case.params.items()}
            moved[name].reshape(-1)[index] += sign * step
            values.append(loss(moved, case.X, case.y))
        numbers.append((values[0] - values[1]) / (2 * step))
    return picked, np.array(numbers)
