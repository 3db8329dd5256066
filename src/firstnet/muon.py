"""Muon: momentum whose update is orthogonalised, for the weight matrices; SGD for the rest.

Muon (Keller Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks",
kellerjordan.github.io/posts/muon) takes the Nesterov momentum of a weight matrix's gradient and
replaces it by the nearest semi-orthogonal matrix (all its singular values set to about 1) before
the step, computed by five Newton-Schulz iterations in bf16. Every direction of the matrix then
moves by the same amount, where SGD's step is dominated by a few large singular directions. A
convolution's weight (out, in, 3, 3) counts as the matrix (out, in * 9).

Only the hidden weights take Muon: the CNN's convolutions and the MLP's hidden layers. The output
layer, the biases and batch norm's scales keep Nesterov SGD with L2 weight decay, as in the CIFAR-10
speedruns (airbench) that made Muon known. On MNIST, 1.5 epochs of the CNN with Muon reach what 2
epochs of SGD do, with a wider margin (benchmarks/README.md, the speed ladder).
"""

from __future__ import annotations

import torch

# Newton-Schulz quintic coefficients of Muon's reference implementation: they push singular values
# in (0, 1] towards 1 fast rather than exactly.
NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)
NEWTON_SCHULZ_STEPS = 5
# Muon's rate is the schedule's rate times this. Measured on the CNN at 1.5 epochs, seeds 0-4
# (benchmarks/README.md): 0.1 gave 99.56 +- 0.04% (min 99.51%; seeds 5-9 min 99.47%), 0.25 gave
# 99.58 +- 0.02% (min 99.55%; seeds 5-9 99.63 +- 0.03%, min 99.60%), 0.5 gave 99.57 +- 0.05%.
MUON_LR_RATIO = 0.25


def orthogonalize(matrix: torch.Tensor) -> torch.Tensor:
    """The semi-orthogonal matrix nearest `matrix` (rows, cols), approximately: U V^T of its SVD
    U S V^T, by Newton-Schulz iterations on X <- a X + (b X X^T + c (X X^T)^2) X."""
    a, b, c = NEWTON_SCHULZ
    x = matrix.bfloat16()
    tall = x.size(0) > x.size(1)
    x = x.T if tall else x  # iterate on the short side: X X^T is the smaller square
    x = x / (x.norm() + 1e-7)  # every singular value <= 1
    for _ in range(NEWTON_SCHULZ_STEPS):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(matrix.dtype)


def takes_muon(name: str, parameter: torch.nn.Parameter) -> bool:
    """Hidden weights only: a convolution's kernel, or a matrix other than the output layer's."""
    return parameter.dim() == 4 or (parameter.dim() == 2 and not name.startswith("out."))


class Muon(torch.optim.Optimizer):
    """Muon on the hidden weights of `model`, Nesterov SGD on its other parameters, in two groups
    ("muon" True and False) that share `lr`: the trainer's schedule sets it for both, and Muon's
    group steps by `lr * MUON_LR_RATIO`."""

    def __init__(
        self, model: torch.nn.Module, lr: float, momentum: float, nesterov: bool, decay: float
    ) -> None:
        named = list(model.named_parameters())
        hidden = [p for name, p in named if takes_muon(name, p)]
        rest = [p for name, p in named if not takes_muon(name, p)]
        groups = [{"params": hidden, "muon": True}, {"params": rest, "muon": False}]
        defaults = {"lr": lr, "momentum": momentum, "nesterov": nesterov, "weight_decay": decay}
        super().__init__(groups, defaults)

    @torch.no_grad()
    def step(self, closure=None) -> None:
        for group in self.param_groups:
            lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(parameter)
                buffer = state["momentum_buffer"]
                if group["muon"]:
                    muon_step(parameter, buffer, lr * MUON_LR_RATIO, momentum, group, decay)
                else:
                    sgd_step(parameter, buffer, lr, momentum, group["nesterov"], decay)


def muon_step(parameter, buffer, lr: float, momentum: float, group: dict, decay: float) -> None:
    """One Muon step: momentum as an average (buffer <- lerp(buffer, grad, 1 - momentum)),
    Nesterov's look-ahead, orthogonalised as a matrix, scaled up for tall matrices, and decoupled
    weight decay."""
    grad = parameter.grad
    buffer.lerp_(grad, 1 - momentum)
    update = grad.lerp(buffer, momentum) if group["nesterov"] else buffer
    rows = len(update)
    matrix = update.reshape(rows, -1)
    direction = orthogonalize(matrix).reshape(update.shape)
    # sqrt(rows / cols) for a tall matrix, as torch.optim.Muon on the (out, in * 9) matrix: the
    # first convolution (16, 9) takes 1.33; Muon's reference, reading a kernel's last two sizes
    # (3, 3), would take 1. The ladder's numbers were measured with this.
    scale = max(1.0, rows / matrix.size(1)) ** 0.5
    parameter.mul_(1 - lr * decay)
    parameter.add_(direction, alpha=-lr * scale)


def sgd_step(parameter, buffer, lr: float, momentum: float, nesterov: bool, decay: float) -> None:
    """torch.optim.SGD's step: L2 decay into the gradient, buffer <- momentum * buffer + grad."""
    grad = parameter.grad.add(parameter, alpha=decay) if decay else parameter.grad
    buffer.mul_(momentum).add_(grad)
    parameter.add_(grad.add(buffer, alpha=momentum) if nesterov else buffer, alpha=-lr)
