"""Gradient intuition on a problem small enough to see whole: logistic regression with two weights.

Two classes of 2-D points, a model p(y = 1 | x) = sigmoid(w . x) with weights w = (w1, w2) and no
bias, cross-entropy loss. Its loss surface over (w1, w2) is what the lecture's "3D loss surface" and
"gradient field on a contour plot" show; gradient descent is run on it with a few learning rates.
Gradients come from autograd. The numbers are computed here; `firstnet.figures.loss_surface` only
draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from firstnet.figures.style import PALETTE, figure, save, styled

PATH_COLOURS = {"too small": PALETTE[5], "good": PALETTE[2], "too large": PALETTE[3]}
ARROW_STRIDE = 5  # one arrow every 5 grid points keeps the field readable


@dataclass(frozen=True)
class TwoWeightProblem:
    features: torch.Tensor  # (N, 2) float64
    labels: torch.Tensor  # (N,) float64, 0 or 1


def make_problem(points: int = 200, seed: int = 0) -> TwoWeightProblem:
    """Two overlapping Gaussian classes, stretched along x1, so the loss valley is long and
    narrow."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(points, generator=generator, dtype=torch.float64) < 0.5).double()
    sign = 2 * labels - 1  # (N,) -1 or +1
    centres = torch.stack([sign * 0.5, -sign * 0.5], dim=1)  # (N, 2)
    spread = torch.tensor([2.0, 0.6], dtype=torch.float64)
    noise = torch.randn(points, 2, generator=generator, dtype=torch.float64)
    return TwoWeightProblem(centres + noise * spread, labels)


def loss(problem: TwoWeightProblem, weights: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy for weights of shape (..., 2); returns shape (...)."""
    logits = weights @ problem.features.T  # (..., N)
    targets = problem.labels.expand_as(logits)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)


def loss_and_gradient(
    problem: TwoWeightProblem, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (...) and its gradient (..., 2) by autograd, for any batch of weight vectors (...,
    2)."""
    weights = weights.detach().clone().requires_grad_(True)
    values = loss(problem, weights)
    # each weight vector only affects its own loss, so this is every gradient
    values.sum().backward()
    return values.detach(), weights.grad


def loss_grid(problem: TwoWeightProblem, extent: float = 4.0, size: int = 61):
    """(w1 (S, S), w2 (S, S), loss (S, S), gradient (S, S, 2)) on a square grid around the
    origin."""
    axis = torch.linspace(-extent, extent, size, dtype=torch.float64)
    w1, w2 = torch.meshgrid(axis, axis, indexing="xy")
    values, gradient = loss_and_gradient(problem, torch.stack([w1, w2], dim=-1))
    return w1, w2, values, gradient


def sharpness(problem: TwoWeightProblem, weights: torch.Tensor) -> float:
    """Largest eigenvalue of the loss Hessian at `weights`: plain gradient descent is stable below 2
    / this."""
    hessian = torch.autograd.functional.hessian(lambda w: loss(problem, w), weights.double())
    return float(torch.linalg.eigvalsh(hessian).max())


def descend(
    problem: TwoWeightProblem,
    start: torch.Tensor,
    lr: float,
    steps: int,
    optimizer: str = "sgd",
    momentum: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient descent from `start`: the path (steps + 1, 2) and the loss (steps + 1,) at each
    point. Plain (w <- w - lr * gradient), with `momentum`, or Adam: torch.optim's own updates, as
    the MNIST trainer takes them (the lab's gradient panel offers all three)."""
    weights = start.double().clone().requires_grad_(True)
    if optimizer == "adam":
        update = torch.optim.Adam([weights], lr)
    else:
        update = torch.optim.SGD([weights], lr, momentum=momentum)
    path = [weights.detach().clone()]
    for _ in range(steps):
        update.zero_grad()
        loss(problem, weights).backward()
        update.step()
        path.append(weights.detach().clone())
    path = torch.stack(path)
    return path, loss(problem, path)


def learning_rates(problem: TwoWeightProblem, minimum: torch.Tensor) -> dict[str, float]:
    """Three learning rates relative to the sharpness at the minimum: too small, good, and too large
    (above 2 / sharpness, where descent keeps jumping across the valley instead of settling)."""
    top = sharpness(problem, minimum)
    return {"too small": 0.1 / top, "good": 1.0 / top, "too large": 2.2 / top}


def gradient_intuition(
    points: int = 200, seed: int = 0, steps: int = 40, extent: float = 4.0, size: int = 61
) -> dict:
    """Everything the landscape figure (a) draws: the grid, its gradients, and three descent
    paths."""
    problem = make_problem(points, seed)
    w1, w2, values, gradient = loss_grid(problem, extent, size)
    lowest = int(values.argmin())
    minimum = torch.stack([w1.flatten()[lowest], w2.flatten()[lowest]])
    start = torch.tensor([-0.75 * extent, 0.75 * extent], dtype=torch.float64)
    paths = {}
    for name, lr in learning_rates(problem, minimum).items():
        path, losses = descend(problem, start, lr, steps)
        paths[name] = {"lr": lr, "path": path, "loss": losses}
    return {
        "w1": w1,
        "w2": w2,
        "loss": values,
        "gradient": gradient,
        "paths": paths,
        "problem": problem,
    }


@styled
def plot_two_weight_landscape(intuition: dict, path: Path | None):
    """Left: the loss surface over (w1, w2) with the descent paths on it. Right: contours, the
    negative gradient as arrows (the direction gradient descent moves), and the same paths."""
    w1, w2, loss = (intuition[k].numpy() for k in ("w1", "w2", "loss"))
    fig = figure(figsize=(13, 5.5))
    surface = fig.add_subplot(1, 2, 1, projection="3d")
    surface.plot_surface(w1, w2, loss, cmap="viridis", alpha=0.75, linewidth=0)
    contour = fig.add_subplot(1, 2, 2)
    levels = np.quantile(loss, np.linspace(0, 1, 25) ** 2)
    filled = contour.contourf(w1, w2, loss, levels=levels, cmap="viridis")
    fig.colorbar(filled, ax=contour, label="cross-entropy loss", format="%.2f")
    arrows = -intuition["gradient"].numpy()[::ARROW_STRIDE, ::ARROW_STRIDE]  # downhill
    contour.quiver(
        w1[::ARROW_STRIDE, ::ARROW_STRIDE],
        w2[::ARROW_STRIDE, ::ARROW_STRIDE],
        arrows[..., 0],
        arrows[..., 1],
        color="white",
        alpha=0.8,
        angles="xy",
    )
    for name, run in intuition["paths"].items():
        steps, values = run["path"].numpy(), run["loss"].numpy()
        label = f"lr {run['lr']:.2g} ({name}): loss {values[0]:.2f} → {values[-1]:.3f}"
        surface.plot(
            steps[:, 0],
            steps[:, 1],
            values,
            "o-",
            color=PATH_COLOURS[name],
            markersize=2.5,
            zorder=10,
        )
        contour.plot(
            steps[:, 0], steps[:, 1], "o-", color=PATH_COLOURS[name], markersize=3, label=label
        )
    surface.set(xlabel="w1", ylabel="w2", zlabel="loss", title="3-D loss surface")
    contour.set(
        xlabel="w1",
        ylabel="w2",
        xlim=(w1.min(), w1.max()),
        ylim=(w2.min(), w2.max()),
        title="Gradient field (arrows point downhill) on the contour plot",
    )
    contour.legend(loc="lower left", framealpha=0.9)
    fig.suptitle(
        f"Logistic regression with two weights on {len(intuition['problem'].labels)} points: "
        f"gradient descent, {len(steps) - 1} steps"
    )
    return save(fig, path)
