"""The second exercise (`firstnet check --exercise activations`): the derivative f'(z) of every
activation of the registry, checked against the registry's own (`activations.Activation.derivative`,
itself tested against torch autograd) and against finite differences of the function.

The points lie away from every kink (0, +-1, +-3, 6), where a derivative is a convention. A wrong
answer is explained when a common slip reproduces it: the derivative taken at a = f(z) instead of
z, the sign flipped, or f(z) returned instead of f'(z); else the relative error is given.
"""

from __future__ import annotations

import numpy as np

from firstnet.activations import ACTIVATIONS

POINTS = np.linspace(-7.0, 7.0, 281) + 0.0131  # off every kink of the registry's functions
SLIPS = {
    "at-a": "taken at a = f(z), not at z: the formula's variable is z (or use a where the formula "
    "says f(z))",
    "sign": "the sign is flipped",
    "function": "that is f(z) itself, not its derivative",
}


def points(name: str) -> tuple[np.ndarray, np.ndarray]:
    """z, and a = f(z), for activation `name`."""
    z = POINTS.copy()
    return z, ACTIVATIONS[name].function(z)


def numerical(name: str, z: np.ndarray, step: float = 1e-6) -> np.ndarray:
    function = ACTIVATIONS[name].function
    return (function(z + step) - function(z - step)) / (2 * step)


def same(answer, expected: np.ndarray, rtol: float = 1e-6) -> bool:
    if not isinstance(answer, np.ndarray) or answer.shape != expected.shape:
        return False
    return bool(np.all(np.abs(answer - expected) <= rtol * np.abs(expected).max() + 1e-12))


def verdict(name: str, answer) -> dict:
    """{"name", "label", "ok", "why"} for the student's f'(z) of activation `name`."""
    activation = ACTIVATIONS[name]
    z, a = points(name)
    expected = activation.derivative(z, a)
    entry = {"name": name, "label": f"{name}'"}
    if isinstance(answer, str):  # what the student's code said instead of an answer
        return entry | {"ok": False, "why": answer}
    if same(answer, expected):
        agree = same(answer, numerical(name, z), rtol=1e-4)
        why = "" if agree else "it agrees with the registry but not with finite differences"
        return entry | {"ok": agree, "why": why}
    forms = {"at-a": activation.derivative(a, activation.function(a)), "sign": -expected,
             "function": a}  # fmt: skip
    for slip, form in forms.items():
        if same(answer, form):
            return entry | {"ok": False, "why": SLIPS[slip]}
    if not isinstance(answer, np.ndarray) or answer.shape != expected.shape:
        shape = getattr(answer, "shape", None)
        return entry | {"ok": False, "why": f"its shape is {shape}, not {expected.shape}"}
    error = float(np.linalg.norm(answer - expected) / max(np.linalg.norm(expected), 1e-300))
    return entry | {"ok": False, "why": f"no known slip explains it (relative error {error:.2g})"}
