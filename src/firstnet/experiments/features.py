"""Features extracted by hand for the linear model, and the linear model fitted on them.

Every extractor maps uint8 images (N, 28, 28) to float32 features (N, F) without looking at labels.
The linear model on top is a softmax regression (mean cross-entropy + L2) on standardised features,
fitted full-batch by L-BFGS. The objective is convex, so this finds (up to the tolerance) *the* best
linear classifier on those features, whatever the learning-rate schedule: the comparison measures
the features, not an optimiser budget. It is a small convex fit, not a training loop for networks --
the networks of the experiment (the linear model on raw pixels as `firstnet train` trains it, and
the MLP) go through `firstnet.trainer.Trainer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from firstnet.config import MNIST_MEAN, MNIST_STD

# images per chunk when extracting: bounds the memory of the (chunk, 28, 28, ...) intermediates
CHUNK = 10_000


def pixels(images) -> torch.Tensor:
    """The raw pixels in [0, 1], flattened: (N, 784)."""
    return torch.tensor(np.asarray(images, dtype=np.uint8).reshape(len(images), -1)).float() / 255


def chunked(extract, images) -> torch.Tensor:
    return torch.cat(
        [
            extract(pixels(images[start : start + CHUNK]).reshape(-1, 28, 28))
            for start in range(0, len(images), CHUNK)
        ]
    )


def gradient_histograms(images, cell: int = 4, bins: int = 9) -> torch.Tensor:
    """HOG-like features: for every `cell` x `cell` patch, a histogram of gradient orientations
    weighted by the gradient magnitude; each 2 x 2 block of cells L2-normalised (Dalal & Triggs,
    2005). (N, blocks * 4 * bins).

    Orientations are unsigned (0..180 degrees: a stroke's two edges count alike), each pixel split
    linearly between its two nearest bins.
    """

    def extract(x: torch.Tensor) -> torch.Tensor:  # (n, 28, 28) in [0, 1]
        # central differences
        gx = F.pad(x, (1, 1, 0, 0))[:, :, 2:] - F.pad(x, (1, 1, 0, 0))[:, :, :-2]
        gy = F.pad(x, (0, 0, 1, 1))[:, 2:, :] - F.pad(x, (0, 0, 1, 1))[:, :-2, :]
        magnitude = torch.hypot(gx, gy)
        position = torch.remainder(torch.atan2(gy, gx), math.pi) / math.pi * bins  # in [0, bins)
        side = 28 // cell
        histograms = []
        for b in range(bins):  # triangular weight around each bin centre, circular over 180 degrees
            distance = torch.remainder(position - (b + 0.5) + bins / 2, bins) - bins / 2
            vote = magnitude * torch.clamp(1 - distance.abs(), min=0)  # (n, 28, 28)
            # (n, side, side)
            histograms.append(vote.reshape(-1, side, cell, side, cell).sum((2, 4)))
        cells = torch.stack(histograms, -1)  # (n, side, side, bins)
        blocks = torch.cat(
            [cells[:, :-1, :-1], cells[:, 1:, :-1], cells[:, :-1, 1:], cells[:, 1:, 1:]], -1
        )
        # the 0.1 keeps empty blocks near 0
        blocks = blocks / (blocks.norm(dim=-1, keepdim=True) + 0.1)
        return blocks.flatten(1)

    return chunked(extract, images)


def random_relu(images, count: int, seed: int) -> torch.Tensor:
    """Random features: ReLU(R x + b) with R ~ N(0, 1/784) and b ~ N(0, 1) fixed at random, x the
    normalised pixels -- a 1-hidden-layer network whose first layer is never trained. (N, count)."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(784, count, generator=generator) / math.sqrt(784)
    bias = torch.randn(count, generator=generator)
    return chunked(
        lambda x: torch.relu(((x.flatten(1) - MNIST_MEAN) / MNIST_STD) @ weight + bias), images
    )


@dataclass
class PCA:
    mean: torch.Tensor  # (784,)
    components: torch.Tensor  # (784, k), columns by decreasing variance
    scale: torch.Tensor  # (k,) standard deviation along each component

    @classmethod
    def fit(cls, images, k: int) -> PCA:
        x = pixels(images).double()
        mean = x.mean(0)
        variances, vectors = torch.linalg.eigh(torch.cov((x - mean).T))  # ascending
        top = variances.argsort(descending=True)[:k]
        return cls(
            mean.float(), vectors[:, top].float(), variances[top].clamp(min=1e-12).sqrt().float()
        )

    def quadratic(self, images) -> torch.Tensor:
        """The k whitened PCA coordinates z and every product z_i z_j (i <= j): (N, k + k (k + 1) /
        2)."""
        rows, cols = torch.triu_indices(len(self.scale), len(self.scale))

        def extract(x: torch.Tensor) -> torch.Tensor:
            z = (x.flatten(1) - self.mean) @ self.components / self.scale  # (n, k)
            return torch.cat([z, z[:, rows] * z[:, cols]], 1)

        return chunked(extract, images)


def objective(
    x: torch.Tensor, onehot: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, l2: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, dloss/dW, dloss/db) of mean cross-entropy + l2 / 2 ||W||^2 for x (N, F), one-hot
    labels (N, 10).

    The gradient is the textbook one, W: x^T (softmax - onehot) / N + l2 W, computed as ((softmax -
    onehot)^T x)^T, a (10, N) @ (N, F) product: autograd's x^T @ g on a tall x is several times
    slower on a CPU.
    """
    log_probs = (x @ weight + bias).log_softmax(1)  # (N, 10)
    residual = (log_probs.exp() - onehot) / len(x)  # d(mean cross-entropy)/d(logits)
    loss = -(log_probs * onehot).sum(1).mean() + 0.5 * l2 * weight.square().sum()
    return loss, (residual.T @ x).T.contiguous() + l2 * weight, residual.sum(0)


@dataclass
class SoftmaxRegression:
    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor  # (F, 10)
    bias: torch.Tensor  # (10,)

    @classmethod
    def fit(cls, features: torch.Tensor, labels, l2: float, iterations: int) -> SoftmaxRegression:
        """Minimise mean cross-entropy + l2 / 2 * ||W||^2 on standardised features by full-batch
        L-BFGS.

        The gradient is the hand-derived one of `objective`.
        """
        mean, std = features.mean(0), features.std(0)
        # constant features (empty border pixels)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        x, y = (features - mean) / std, torch.tensor(np.asarray(labels)).long()
        onehot = F.one_hot(y, 10).float()
        weight, bias = torch.zeros(x.shape[1], 10), torch.zeros(10)
        optimizer = torch.optim.LBFGS(
            [weight, bias],
            lr=1,
            max_iter=iterations,
            history_size=20,
            tolerance_grad=1e-7,
            tolerance_change=1e-10,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            loss, weight.grad, bias.grad = objective(x, onehot, weight, bias, l2)
            return loss

        optimizer.step(closure)
        return cls(mean, std, weight, bias)

    def accuracy(self, features: torch.Tensor, labels) -> float:
        with torch.no_grad():
            logits = ((features - self.mean) / self.std) @ self.weight + self.bias
        return (logits.argmax(1) == torch.tensor(np.asarray(labels)).long()).float().mean().item()
