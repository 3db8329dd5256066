"""Teach it: the lecture's "Same old gradient descent!" on one drawn digit.

For one example x with its true label y, the loss is L = -log softmax(f(x))_y, the cross-entropy
of the lecture (no label smoothing), and its gradient with respect to each weight matrix W1, W2,
W3 (the linear model's one W; an MLP of any depth its depth + 1) is what `backward` of the NumPy
MLP in `firstnet.scratch.mlp` derives by hand (tested equal). One step of gradient descent is
W <- W - lr * dL/dW for every parameter, biases included. The lab teaches a copy of its model in
float32, so the training it shows is untouched.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from firstnet.errors import ConfigError
from firstnet.lab.pictures import png_base64, signed_matrix, signed_tiles
from firstnet.models import MLP, Linear

TILES = 32  # W1's rows shown as 28x28 pictures: the first this many hidden units
MATRIX_SIDE = 128  # a larger W2 or W3 is shown by its first rows and columns


def weight_layers(model: nn.Module) -> list[nn.Linear]:
    """The layers that hold W1, W2, ...: the linear model's one, an MLP's hidden ones and its
    output layer. The CNN is refused."""
    if isinstance(model, MLP):
        return [*model.hidden, model.out]
    if isinstance(model, Linear):
        return [model.out]
    raise ConfigError("teaching one example is for the linear model and the MLP")


def gradients(model: nn.Module, image: np.ndarray, label: int) -> dict:
    """The loss, the probabilities and dL/dW of every weight matrix (and dL/db) for one image
    (28, 28) in [0, 1] and its label."""
    x = torch.from_numpy(np.asarray(image, np.float32)).reshape(1, 1, 28, 28)
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, torch.tensor([label]))
    loss.backward()
    layers = weight_layers(model)
    return {
        "loss": loss.item(),
        "probabilities": logits.detach().softmax(1)[0].numpy(),
        "weights": [layer.weight.grad.detach().clone() for layer in layers],
        "biases": [layer.bias.grad.detach().clone() for layer in layers],
    }


@torch.no_grad()
def gradient_step(model: nn.Module, lr: float) -> None:
    """W <- W - lr * dL/dW for every parameter with a gradient (call `gradients` first)."""
    for parameter in model.parameters():
        if parameter.grad is not None:
            parameter -= lr * parameter.grad


def view(found: dict) -> dict:
    """`gradients` for the page: the loss, the probabilities and, for each W, its name, shape,
    norm and picture (W1's rows as 28x28 tiles, the others as a matrix)."""
    layers = []
    for index, grad in enumerate(found["weights"]):
        rows = grad.numpy()
        first = index == 0 and rows.shape[1] == 28 * 28
        picture = (
            signed_tiles(rows[:TILES], columns=8)
            if first
            else signed_matrix(rows[:MATRIX_SIDE, :MATRIX_SIDE])
        )
        layers.append({
            "name": f"W{index + 1}", "shape": list(rows.shape), "norm": float(np.linalg.norm(rows)),
            "picture": png_base64(picture), "tiles": first, "shown": min(len(rows), TILES) if first
            else [min(side, MATRIX_SIDE) for side in rows.shape],
        })  # fmt: skip
    return {
        "loss": found["loss"],
        "probabilities": found["probabilities"].round(5).tolist(),
        "layers": layers,
    }
