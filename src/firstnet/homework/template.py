"""The file `firstnet check --template` writes: the forward pass given, `backward` to fill in."""

TEMPLATE = '''"""Homework of "Your First Deep Network": derive the gradients of W1, W2, W3
(and of b1, b2, b3).

The network (docs/homework.md, docs/gradients.md), for a batch of B examples:

    X (B, D)
    Z1 = X @ W1.T + b1      A1 = relu(Z1)        W1 (H1, D)   b1 (H1,)
    Z2 = A1 @ W2.T + b2     A2 = relu(Z2)        W2 (H2, H1)  b2 (H2,)
    Z3 = A2 @ W3.T + b3     P = softmax(Z3)      W3 (K, H2)   b3 (K,)
    L = mean over the batch of -log P[n, y[n]]   (cross-entropy, y holds class numbers 0..K-1)

Weights are (out, in), as torch.nn.Linear stores them. Write `backward`, then check it:

    firstnet check this_file.py

NumPy only: importing torch or any other autograd is refused (the point is the derivation). At
relu's kink, Z = 0, take its derivative as 0.
"""

import numpy as np


def relu(z):
    return np.maximum(z, 0)


def forward(params, X):
    """The forward pass (given): the cache that `backward` reads."""
    Z1 = X @ params["W1"].T + params["b1"]
    A1 = relu(Z1)
    Z2 = A1 @ params["W2"].T + params["b2"]
    A2 = relu(Z2)
    Z3 = A2 @ params["W3"].T + params["b3"]
    shifted = Z3 - Z3.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return {"X": X, "Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "Z3": Z3, "P": P}


def backward(params, cache, y):
    """dL/dW1, dL/db1, dL/dW2, dL/db2, dL/dW3, dL/db3 of the mean loss L over the batch.

    params: {"W1": (H1, D), "b1": (H1,), "W2": (H2, H1), "b2": (H2,), "W3": (K, H2), "b3": (K,)}
    cache: what forward returned: "X" (B, D), "Z1" and "A1" (B, H1), "Z2" and "A2" (B, H2),
           "Z3" and "P" (B, K)
    y: (B,) the class of each example
    Returns {"W1": dL/dW1, ...}: each gradient has the shape of its parameter.
    """
    raise NotImplementedError("derive the gradients here, then run: firstnet check this_file.py")
'''

ACTIVATIONS_TEMPLATE = '''"""Second exercise of "Your First Deep Network": the derivative of each
activation function.

Write derivative(name, z, a): f'(z), elementwise, for the activation `name`, given z and a = f(z)
(some derivatives read best through a: sigmoid's is a * (1 - a)). The functions, as firstnet's
registry computes them (docs/homework.md, docs/figures.md for their plots):

    identity      z
    sigmoid       1 / (1 + exp(-z))
    tanh          tanh(z)
    hard_tanh     clip(z, -1, 1)
    hard_sigmoid  clip(z + 3, 0, 6) / 6
    relu          max(z, 0)
    leaky_relu    z if z > 0 else 0.01 z
    elu           z if z > 0 else exp(z) - 1
    prelu         z if z > 0 else 0.25 z            (the slope torch starts from)
    selu          s z if z > 0 else s alpha (exp(z) - 1),
                  s = 1.0507009873554804934193349852946, alpha = 1.6732632423543772848170429916717
    relu6         clip(z, 0, 6)
    gelu          z Phi(z), Phi the standard normal CDF: 0.5 (1 + erf(z / sqrt(2)))
    silu          z sigmoid(z)
    softplus      log(1 + exp(z))
    mish          z tanh(softplus(z))

The check takes z away from every kink (0, +-1, +-3, 6). Check it:

    firstnet check this_file.py --exercise activations

NumPy (and math, e.g. math.erf) only: importing torch or any other autograd is refused.
"""

import math

import numpy as np


def derivative(name, z, a):
    """f'(z) for the activation `name`; z and a = f(z) are arrays of the same shape."""
    if name == "relu":  # done for you: 1 where z > 0, else 0
        return (z > 0).astype(float)
    raise NotImplementedError(name)
'''
