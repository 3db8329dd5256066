"""The one registry of activation functions: name -> torch module, family and the lecture's notes.

Later work (the NumPy MLP, the activation plots and experiments) extends each entry; nothing else in
the project lists activations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from firstnet.errors import ConfigError

SIGMOID_LIKE = "sigmoid-like"  # bounded output
RELU_FAMILY = "relu-family"  # piecewise linear
SMOOTH_MODERN = "smooth-modern"  # differentiable everywhere
LINEAR = "linear"  # no non-linearity: the network collapses to one linear map


@dataclass(frozen=True)
class Activation:
    name: str
    family: str
    module: Callable[[], nn.Module]  # a fresh torch module (some, like PReLU, hold parameters)
    kaiming_nonlinearity: str  # the `nonlinearity` torch.nn.init.calculate_gain knows for this function
    note: str


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("identity", LINEAR, nn.Identity, "linear", "no non-linearity: W3 W2 W1 is one linear map"),
        Activation("sigmoid", SIGMOID_LIKE, nn.Sigmoid, "sigmoid", "saturates: derivative <= 0.25, ~0 for |z| > 5"),
        Activation("tanh", SIGMOID_LIKE, nn.Tanh, "tanh", "zero-centred but saturates for |z| > 3"),
        Activation("relu", RELU_FAMILY, nn.ReLU, "relu", "max(0, z): cheap, no saturation for z > 0, dead units"),
        Activation("leaky_relu", RELU_FAMILY, lambda: nn.LeakyReLU(0.01), "leaky_relu", "slope 0.01 for z < 0"),
        Activation("elu", RELU_FAMILY, nn.ELU, "relu", "smooth negative part, saturates at -1"),
        Activation("gelu", SMOOTH_MODERN, nn.GELU, "relu", "z * Phi(z): smooth, used in transformers"),
        Activation("silu", SMOOTH_MODERN, nn.SiLU, "relu", "z * sigmoid(z) (Swish)"),
        Activation("softplus", SMOOTH_MODERN, nn.Softplus, "relu", "log(1 + e^z): a smooth ReLU"),
    ]
}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}") from None
