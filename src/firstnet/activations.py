"""The one registry of activation functions: name -> torch module, NumPy function and derivative,
family, notes.

Nothing else in the project lists activations. The torch module is built on demand
(`Activation.module()` imports torch only when called), so the NumPy half of the registry -- used by
`firstnet.scratch` -- works without torch installed or imported.

Each NumPy function keeps its input's dtype (float32 for training, float64 for gradient checks) and
matches the torch module's definition exactly, including its constants (leaky slope 0.01, ELU alpha
1, softplus threshold 20, exact erf-based GELU, PReLU at its initial slope 0.25, which NumPy keeps
fixed while torch learns it). Derivatives take both the pre-activation `z` and the output `a =
f(z)`, so each can use the cheaper form (sigmoid' = a (1 - a), tanh' = 1 - a^2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from firstnet.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

SIGMOID_LIKE = "sigmoid-like"  # bounded output
RELU_FAMILY = "relu-family"  # piecewise linear
SMOOTH_MODERN = "smooth-modern"  # differentiable everywhere
LINEAR = "linear"  # no non-linearity: the network collapses to one linear map
SATURATION = 0.01  # |f'(z)| below this: the gradient through a unit has all but vanished

LEAKY_SLOPE = 0.01  # nn.LeakyReLU's slope for z < 0, as the registry builds it
ELU_ALPHA = 1.0  # nn.ELU default
SOFTPLUS_THRESHOLD = 20.0  # nn.Softplus default: above it, softplus(z) is z itself
PRELU_INIT = 0.25  # nn.PReLU's initial slope; the NumPy side keeps it fixed (torch learns it)
SELU_ALPHA = 1.6732632423543772848170429916717  # nn.SELU's constants (Klambauer et al., 2017)
SELU_SCALE = 1.0507009873554804934193349852946
RELU6_CAP = 6.0
# torch's hardsigmoid_backward uses the float32 constant 1.0f / 6.0f even for float64 tensors (1/6 +
# 5e-9); the NumPy derivative uses the same number so that the scratch MLP matches autograd to
# 1e-10.
HARD_SIGMOID_SLOPE = float(np.float32(1.0) / np.float32(6.0))
# torch.nn.init.calculate_gain for the names the registry uses (leaky_relu with slope LEAKY_SLOPE).
GAINS = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1 + LEAKY_SLOPE**2)),
    "selu": 3.0 / 4,
}

Array = np.ndarray
# NumPy has no erf and scipy is no dependency; math.erf is exact
_erf_object = np.frompyfunc(math.erf, 1, 1)


def erf(x: Array) -> Array:
    """The error function, elementwise, in the dtype of `x` (libm precision: below 1e-15 in
    float64)."""
    return np.asarray(_erf_object(x), dtype=x.dtype)


def sigmoid(z: Array) -> Array:
    """1 / (1 + e^-z) without overflow: e^-|z| is at most 1 on both branches."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softplus(z: Array) -> Array:
    """log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), and z itself above the threshold (as
    nn.Softplus)."""
    return np.where(z > SOFTPLUS_THRESHOLD, z, np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))


def gelu(z: Array) -> Array:
    """z * Phi(z), Phi the standard normal CDF (nn.GELU's exact form, not the tanh
    approximation)."""
    return 0.5 * z * (1 + erf(z * (1 / math.sqrt(2))))


def gelu_derivative(z: Array, a: Array) -> Array:
    """Phi(z) + z * phi(z), phi the standard normal density."""
    phi = np.exp(-0.5 * z * z) * (1 / math.sqrt(2 * math.pi))
    return 0.5 * (1 + erf(z * (1 / math.sqrt(2)))) + z * phi


def silu_derivative(z: Array, a: Array) -> Array:
    """d/dz z s(z) = s + z s (1 - s), with s = sigmoid(z)."""
    s = sigmoid(z)
    return s * (1 + z * (1 - s))


def stable_softplus(z: Array) -> Array:
    """log(1 + e^z) with no threshold (Mish's inner softplus): max(z, 0) + log(1 + e^-|z|), never
    overflows."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def mish(z: Array) -> Array:
    """z * tanh(softplus(z)) (nn.Mish)."""
    return z * np.tanh(stable_softplus(z))


def mish_derivative(z: Array, a: Array) -> Array:
    """tanh(sp) + z * sigmoid(z) * (1 - tanh(sp)^2), sp = softplus(z) -- as torch's
    mish_backward."""
    t = np.tanh(stable_softplus(z))
    return t + z * sigmoid(z) * (1 - t * t)


def selu(z: Array) -> Array:
    """scale * z for z > 0, scale * alpha * (e^z - 1) otherwise (nn.SELU)."""
    return np.where(z > 0, SELU_SCALE * z, (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(z, 0)))


def selu_derivative(z: Array, a: Array) -> Array:
    return np.where(z > 0, SELU_SCALE, (SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(z, 0))).astype(
        z.dtype
    )


def inside(z: Array, low: float, high: float, value: float = 1.0) -> Array:
    """`value` where low < z < high, 0 elsewhere (torch's hardtanh_backward: 0 at the kinks
    themselves)."""
    return np.where((z > low) & (z < high), np.array(value, z.dtype), np.array(0, z.dtype))


def step(condition: Array, dtype, low: float = 0.0) -> Array:
    """1 where `condition` holds, `low` elsewhere, in `dtype`."""
    return np.where(condition, np.array(1, dtype), np.array(low, dtype))


@dataclass(frozen=True)
class Activation:
    name: str
    family: str
    torch_module: str  # class name in torch.nn; `module()` builds it
    kaiming_nonlinearity: (
        str  # the `nonlinearity` torch.nn.init.calculate_gain knows for this function
    )
    note: str
    function: Callable[[Array], Array]  # NumPy f(z), elementwise
    derivative: Callable[[Array, Array], Array]  # NumPy f'(z), given z and a = f(z)
    torch_args: tuple = ()

    def module(self) -> nn.Module:
        """A fresh torch module (some, like PReLU, hold parameters). Imports torch on first use."""
        from torch import nn

        return getattr(nn, self.torch_module)(*self.torch_args)

    @property
    def gain(self) -> float:
        """The initialisation gain, as torch.nn.init.calculate_gain(kaiming_nonlinearity,
        LEAKY_SLOPE)."""
        return GAINS[self.kaiming_nonlinearity]


def leaky_derivative(z: Array, a: Array) -> Array:
    return step(z > 0, z.dtype, LEAKY_SLOPE)


def hard_sigmoid_derivative(z: Array, a: Array) -> Array:
    return inside(z, -3, 3, HARD_SIGMOID_SLOPE)


def prelu_derivative(z: Array, a: Array) -> Array:
    """At PReLU's initial slope, which the NumPy side keeps fixed."""
    return step(z > 0, z.dtype, PRELU_INIT)


def elu(z: Array) -> Array:
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))


def elu_derivative(z: Array, a: Array) -> Array:
    return np.where(z > 0, 1, ELU_ALPHA * np.exp(np.minimum(z, 0))).astype(z.dtype)


def softplus_derivative(z: Array, a: Array) -> Array:
    return np.where(z > SOFTPLUS_THRESHOLD, 1, sigmoid(z)).astype(z.dtype)


# Each entry: name, family, torch.nn class, calculate_gain name, note, NumPy f(z), NumPy f'(z, a),
# and the torch class's arguments.
# fmt: off
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in [
    Activation("identity", LINEAR, "Identity", "linear",
               "no non-linearity: W3 W2 W1 is one linear map",
               lambda z: z, lambda z, a: np.ones_like(z)),
    Activation("sigmoid", SIGMOID_LIKE, "Sigmoid", "sigmoid",
               "saturates: f' <= 0.25, below 0.01 for |z| > 4.6",
               sigmoid, lambda z, a: a * (1 - a)),
    Activation("tanh", SIGMOID_LIKE, "Tanh", "tanh",
               "zero-centred but saturates for |z| > 3",
               np.tanh, lambda z, a: 1 - a * a),
    Activation("hard_tanh", SIGMOID_LIKE, "Hardtanh", "tanh",
               "clip(z, -1, 1): cheap tanh, dead for |z| > 1",
               lambda z: np.clip(z, -1, 1), lambda z, a: inside(z, -1, 1)),
    Activation("hard_sigmoid", SIGMOID_LIKE, "Hardsigmoid", "sigmoid",
               "relu6(z + 3) / 6: cheap sigmoid, dead for |z| > 3",
               lambda z: np.clip(z + 3, 0, 6) / 6, hard_sigmoid_derivative),
    Activation("relu", RELU_FAMILY, "ReLU", "relu",
               "max(0, z): cheap, no saturation for z > 0, dead units",
               lambda z: np.maximum(z, 0), lambda z, a: step(z > 0, z.dtype)),
    Activation("leaky_relu", RELU_FAMILY, "LeakyReLU", "leaky_relu",
               f"slope {LEAKY_SLOPE} for z < 0",
               lambda z: np.where(z > 0, z, LEAKY_SLOPE * z), leaky_derivative, (LEAKY_SLOPE,)),
    Activation("elu", RELU_FAMILY, "ELU", "relu",
               "smooth negative part, saturates at -1",
               elu, elu_derivative, (ELU_ALPHA,)),
    Activation("prelu", RELU_FAMILY, "PReLU", "relu",
               f"leaky ReLU with a learned slope, starting at {PRELU_INIT}",
               lambda z: np.where(z > 0, z, PRELU_INIT * z), prelu_derivative, (1, PRELU_INIT)),
    Activation("selu", RELU_FAMILY, "SELU", "selu",
               "scaled ELU: self-normalising, saturates at -1.76",
               selu, selu_derivative),
    Activation("relu6", RELU_FAMILY, "ReLU6", "relu",
               "min(max(0, z), 6): bounded ReLU, dead for z > 6 too",
               lambda z: np.clip(z, 0, RELU6_CAP), lambda z, a: inside(z, 0, RELU6_CAP)),
    Activation("gelu", SMOOTH_MODERN, "GELU", "relu",
               "z * Phi(z): smooth, used in transformers",
               gelu, gelu_derivative),
    Activation("silu", SMOOTH_MODERN, "SiLU", "relu",
               "z * sigmoid(z) (Swish)",
               lambda z: z * sigmoid(z), silu_derivative),
    Activation("softplus", SMOOTH_MODERN, "Softplus", "relu",
               "log(1 + e^z): a smooth ReLU",
               softplus, softplus_derivative, (1.0, SOFTPLUS_THRESHOLD)),
    Activation("mish", SMOOTH_MODERN, "Mish", "relu",
               "z * tanh(softplus(z)): smooth, non-monotonic",
               mish, mish_derivative),
]}
# fmt: on


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigError(
            f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}"
        ) from None
