"""Measurements of an MLP on a fixed batch, outside the training loop: gradient norm per layer, dead
and saturated units. One forward (and for gradients one backward) pass each; nothing here changes
the model or the `.grad` of its parameters, so measuring between two epochs leaves the training
exactly as it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from firstnet.activations import SATURATION
from firstnet.data import LabelledData
from firstnet.models import MLP


def fixed_batch(data: LabelledData, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `size` training images as floats in [0, 1] (B, 1, 28, 28) and their labels (B,)."""
    images = torch.tensor(data.train_images[:size], dtype=torch.float32).div_(255).unsqueeze(1)
    return images, torch.tensor(data.train_labels[:size], dtype=torch.int64)


def gradient_norms(model: MLP, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """The Frobenius norm of d(cross-entropy)/dW for every weight matrix, input layer first, output
    layer last."""
    device = next(model.parameters()).device
    weights = [layer.weight for layer in model.hidden] + [model.out.weight]
    loss = F.cross_entropy(model(images.to(device)), labels.to(device))
    return [grad.norm().item() for grad in torch.autograd.grad(loss, weights)]


def pre_activations(model: MLP, images: torch.Tensor) -> list[torch.Tensor]:
    """z = W a + b of every hidden layer (B, H), caught by hooks while `model.features` runs."""
    caught: list[torch.Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _module, _inputs, z: caught.append(z.detach()))
        for layer in model.hidden
    ]
    try:
        with torch.no_grad():
            model.features(images.to(next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return caught


def derivatives(model: MLP, images: torch.Tensor) -> list[torch.Tensor]:
    """f'(z) of every hidden unit on every example (B, H) per layer, from the model's own activation
    modules (so PReLU's learned slope counts): the activation is elementwise, so d(sum f(z))/dz is
    f'(z) itself."""
    result = []
    for act, z in zip(model.acts, pre_activations(model, images), strict=True):
        with torch.enable_grad():
            z = z.clone().requires_grad_(True)
            (slope,) = torch.autograd.grad(act(z).sum(), z)
        result.append(slope.abs())
    return result


def unit_statistics(model: MLP, images: torch.Tensor) -> dict:
    """Dead and saturated hidden units on a batch, per layer and overall.

    saturated: the fraction of (example, unit) pairs with |f'(z)| < 0.01 -- the gradient through
    that unit for that example has all but vanished (a sigmoid beyond |z| > 4.6, a ReLU at z <= 0).
    dead: the fraction of units with |f'(z)| < 0.01 on *every* example of the batch -- a ReLU that
    is never active, which no example can revive. A leaky ReLU's slope, exactly 0.01, is not below
    the threshold: its units never die.
    """
    slopes = derivatives(model, images)
    # compared in the slope's own dtype
    threshold = [torch.tensor(SATURATION, dtype=s.dtype) for s in slopes]
    small = [s < t.to(s.device) for s, t in zip(slopes, threshold, strict=True)]
    # counts, so fractions are exact
    dead = [int(mask.all(0).sum()) / mask.shape[1] for mask in small]
    saturated = [int(mask.sum()) / mask.numel() for mask in small]
    units = sum(mask.shape[1] for mask in small)
    if not units:  # depth 0: no hidden unit to be dead or saturated
        return {"dead": 0.0, "saturated": 0.0, "dead_per_layer": [], "saturated_per_layer": []}
    return {
        "dead": sum(d * m.shape[1] for d, m in zip(dead, small, strict=True)) / units,
        "saturated": sum(s * m.shape[1] for s, m in zip(saturated, small, strict=True)) / units,
        "dead_per_layer": dead,
        "saturated_per_layer": saturated,
    }
