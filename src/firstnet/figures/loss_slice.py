"""The loss of a trained MNIST MLP on a 2-D slice of its 270,000-dimensional weight space (Li et
al., 2018).

The slice is the plane through the trained weights theta* spanned by two directions d1, d2:
loss(theta* + a d1 + b d2) on a grid of (a, b). Li et al.'s *filter normalisation* scales each row
of a random direction (the weights into one unit) to the norm of the same row of theta*, so that the
picture does not depend on the arbitrary scale of each layer; bias directions are zero, as in the
paper.

The training trajectory theta_t is projected onto the plane by least squares. Random directions are
nearly orthogonal to any fixed path in so many dimensions, so they catch little of it (the paper
says as much); the second slice therefore uses the plane of the trajectory's two principal
components, which holds most of it. Both report the fraction of the path's squared distance from
theta* their plane holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from firstnet.config import TrainConfig
from firstnet.data import LabelledData
from firstnet.device import to_device_tensors
from firstnet.figures.style import PALETTE, figure, save, styled
from firstnet.trainer import Trainer

LOSS_CEILING = 3.0  # far from the minimum the loss explodes and would flatten everything else
TRAJECTORY_POINTS = 60  # parameter snapshots kept along the way (each is ~1 MB for the default MLP)


@dataclass
class LossSlice:
    name: str  # "random" or "pca"
    alphas: torch.Tensor  # (S,) coordinate along d1
    betas: torch.Tensor  # (S,) coordinate along d2
    loss: torch.Tensor  # (S, S): row j is beta_j, column i is alpha_i
    path: torch.Tensor  # (T, 2): the trajectory's coordinates in the plane
    captured: (
        float  # fraction of the trajectory's squared distance from theta* that lies in the plane
    )
    # (T,): the loss at the trajectory's real weights (off the plane, in general)
    path_loss: torch.Tensor


def filter_normalised_direction(model: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
    """A random direction (flat, like `parameters_to_vector`) with each weight row scaled to the
    norm of the same row of the model's weights; zero for biases."""
    parts = []
    for param in model.parameters():
        if param.dim() < 2:
            parts.append(torch.zeros(param.numel()))
            continue
        weights = param.detach().flatten(1).cpu()  # (units, fan-in)
        direction = torch.randn(weights.shape, generator=generator)
        direction *= weights.norm(dim=1, keepdim=True) / direction.norm(
            dim=1, keepdim=True
        ).clamp_min(1e-12)
        parts.append(direction.flatten())
    return torch.cat(parts)


def plane_coordinates(
    offsets: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """Least-squares coordinates (T, 2) of `offsets` (T, P) in span(d1, d2), and the fraction of
    their squared norm the plane holds."""
    basis = torch.stack([d1, d2], 1).double()  # (P, 2)
    coordinates = torch.linalg.lstsq(basis, offsets.double().T).solution.T  # (T, 2)
    projected = coordinates @ basis.T  # (T, P)
    total = offsets.double().pow(2).sum()
    return coordinates.float(), float(projected.pow(2).sum() / total) if total > 0 else 1.0


def principal_directions(offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two leading principal directions (unit vectors, P) of the trajectory offsets (T, P)."""
    gram = offsets.double() @ offsets.double().T  # (T, T): cheap, T is small
    values, vectors = torch.linalg.eigh(gram)
    top = vectors[:, -2:].flip(1) / values[-2:].flip(0).clamp_min(1e-30).sqrt()  # (T, 2)
    directions = (offsets.double().T @ top).float()  # (P, 2), unit columns
    return directions[:, 0], directions[:, 1]


@torch.no_grad()
def loss_on_plane(
    model: torch.nn.Module,
    centre: torch.Tensor,
    d1: torch.Tensor,
    d2: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    alphas: torch.Tensor,
    betas: torch.Tensor,
) -> torch.Tensor:
    """Cross-entropy (len(betas), len(alphas)) at centre + a d1 + b d2; the model's weights are
    restored."""
    model.eval()
    grid = torch.empty(len(betas), len(alphas))
    try:
        for j, b in enumerate(betas):
            for i, a in enumerate(alphas):
                vector_to_parameters(centre + a * d1 + b * d2, model.parameters())
                grid[j, i] = F.cross_entropy(model(images), labels)
    finally:
        vector_to_parameters(centre, model.parameters())
    return grid


@torch.no_grad()
def loss_along(
    model: torch.nn.Module, trajectory: torch.Tensor, images: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy (T,) at each flat weight vector of `trajectory` (T, P); the model's weights are
    restored."""
    centre = parameters_to_vector(model.parameters()).detach().clone()
    losses = torch.empty(len(trajectory))
    try:
        for t, weights in enumerate(trajectory):
            vector_to_parameters(weights, model.parameters())
            losses[t] = F.cross_entropy(model(images), labels)
    finally:
        vector_to_parameters(centre, model.parameters())
    return losses


def train_with_trajectory(
    cfg: TrainConfig, data: LabelledData, on_progress=None
) -> tuple[Trainer, torch.Tensor]:
    """Train with the one Trainer, keeping up to TRAJECTORY_POINTS + 2 flat parameter snapshots (T,
    P): the initial weights, every `total steps // TRAJECTORY_POINTS` steps, and always the trained
    weights."""
    trainer = Trainer(cfg, data)
    total = trainer.total_steps
    every = max(1, total // TRAJECTORY_POINTS)

    def flat() -> torch.Tensor:
        return parameters_to_vector(trainer.model.parameters()).detach().cpu().clone()

    snapshots = [flat()]

    def keep(step: int) -> None:
        if step % every == 0 or step == total:
            snapshots.append(flat())

    trainer.run(on_progress=on_progress, on_step=keep)
    return trainer, torch.stack(snapshots)


def mnist_loss_slices(
    cfg: TrainConfig,
    data: LabelledData,
    size: int = 21,
    images: int = 2000,
    seed: int = 0,
    on_progress=None,
) -> tuple[list[LossSlice], Trainer]:
    """Train the MLP `cfg` describes, then slice its loss on `images` training examples along
    filter-normalised random directions (a, b in [-1, 1]) and along the trajectory's principal
    directions."""
    trainer, trajectory = train_with_trajectory(cfg, data, on_progress)
    model = trainer.model.cpu()
    centre = parameters_to_vector(model.parameters()).detach().clone()
    offsets = trajectory - centre  # (T, P)
    x, y = to_device_tensors(
        data.train_images[:images], data.train_labels[:images], torch.device("cpu")
    )
    x = x.float().div_(255)
    generator = torch.Generator().manual_seed(seed)
    d1, d2 = (filter_normalised_direction(model, generator) for _ in range(2))
    path_loss = loss_along(model, trajectory, x, y)
    slices = []
    for name, (u, v) in (("random", (d1, d2)), ("pca", principal_directions(offsets))):
        path, captured = plane_coordinates(offsets, u, v)
        reach = 1.0 if name == "random" else 1.25 * float(path.abs().max())
        axis = torch.linspace(-reach, reach, size)
        loss = loss_on_plane(model, centre, u, v, x, y, axis, axis)
        slices.append(LossSlice(name, axis, axis, loss, path, captured, path_loss))
    return slices, trainer


@styled
def plot_mnist_slices(slices: list, path: Path | None, title: str):
    """Top row: each slice's loss surface in 3-D. Bottom row: its contours with the projected
    trajectory (start, path, trained weights at the centre)."""
    fig = figure(figsize=(12, 10))
    for column, piece in enumerate(slices):
        a, b = np.meshgrid(piece.alphas.numpy(), piece.betas.numpy())
        loss, route = np.minimum(piece.loss.numpy(), LOSS_CEILING), piece.path.numpy()
        caption = (
            "filter-normalised random directions"
            if piece.name == "random"
            else "the training path's two principal directions"
        )
        surface = fig.add_subplot(2, len(slices), column + 1, projection="3d")
        surface.plot_surface(a, b, loss, cmap="viridis", alpha=0.85, linewidth=0)
        surface.set(xlabel="a (direction 1)", ylabel="b (direction 2)", zlabel="cross-entropy")
        surface.set_title(f"Loss along {caption}")
        contour = fig.add_subplot(2, len(slices), len(slices) + column + 1)
        levels = np.geomspace(loss.min(), loss.max() * 1.0001, 20)  # even steps in log(loss)
        filled = contour.contourf(a, b, loss, levels=levels, cmap="viridis")
        fig.colorbar(filled, ax=contour, label="cross-entropy", format="%.2f", ticks=levels[::3])
        held = f"training path (the plane holds {100 * piece.captured:.2g}%)"
        contour.plot(route[:, 0], route[:, 1], ".-", color=PALETTE[3], markersize=4, label=held)
        start = f"initial weights, projected (their loss: {piece.path_loss[0]:.2f})"
        contour.plot(*route[0], "s", color=PALETTE[1], markersize=8, label=start)
        end = {"color": "white", "markeredgecolor": "black", "markersize": 14}
        contour.plot(0, 0, "*", **end, label=f"trained weights (loss {piece.path_loss[-1]:.2f})")
        contour.set(
            xlabel="a",
            ylabel="b",
            aspect="equal",
            title=f"Contours, {'random' if piece.name == 'random' else 'principal'} directions",
        )
        contour.legend(loc="lower left", framealpha=0.9, fontsize=8)
    fig.suptitle(
        f"{title}\n(loss drawn clipped at {LOSS_CEILING:g}; a uniform guess scores ln 10 = 2.30)"
    )
    return save(fig, path)
