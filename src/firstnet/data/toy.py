"""Two-dimensional toy data sets for watching a decision boundary form: moons, circles, XOR,
spirals, blobs.

Each is a `LabelledData` (four arrays, `num_classes`, `subset`) with float32 points (N, 2) in
place of images, so the one `Trainer` trains on them unchanged. Points lie roughly in [-1, 1]^2, so
the models need no normalisation. Generated with NumPy from a seed: the same arguments always give
the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firstnet.data.sources import LabelledData
from firstnet.errors import ConfigError

TOY_DATASETS = ("moons", "circles", "xor", "spirals", "blobs")
FIXED_CLASSES = {"moons": 2, "circles": 2, "xor": 2}  # the others take --classes


@dataclass(frozen=True)
class ToyData(LabelledData):
    """Points (N, 2) float32 and labels (N,) int64, split into train and test."""


def _moons(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, np.pi, len(labels))
    upper = np.stack([np.cos(angle), np.sin(angle)], 1)  # (N, 2)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], 1)
    points = np.where(labels[:, None] == 0, upper, lower)
    return (points - [0.5, 0.25]) / 1.2


def _circles(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi, len(labels))
    radius = np.where(labels == 0, 0.9, 0.4)
    return radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)


def _xor(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Four quadrants; class 1 where the signs of x and y differ. Points keep off the axes."""
    count = len(labels)
    magnitude = rng.uniform(0.1, 1.0, (count, 2))
    sign_x = rng.choice([-1.0, 1.0], count)
    sign_y = np.where(labels == 0, sign_x, -sign_x)
    return magnitude * np.stack([sign_x, sign_y], 1)


def _spirals(labels: np.ndarray, rng: np.random.Generator, classes: int) -> np.ndarray:
    """`classes` arms, each turning 1.75 times around the origin, radius growing from 0.1 to 1."""
    t = rng.uniform(0, 1, len(labels))
    radius = 0.1 + 0.9 * t
    angle = 2 * np.pi * (1.75 * t + labels / classes)
    return radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)


def _blobs(labels: np.ndarray, rng: np.random.Generator, classes: int) -> np.ndarray:
    angle = 2 * np.pi * labels / classes + np.pi / 4
    return 0.6 * np.stack([np.cos(angle), np.sin(angle)], 1)


def make_points(name: str, count: int, noise: float, classes: int, rng: np.random.Generator):
    """`count` points (count, 2) float32 and balanced labels (count,) int64, with Gaussian noise."""
    labels = np.arange(count) % classes
    rng.shuffle(labels)
    if name == "spirals":
        points = _spirals(labels, rng, classes)
    elif name == "blobs":
        # blobs always spread
        points = _blobs(labels, rng, classes) + rng.normal(0, 0.15, (count, 2))
    else:
        points = {"moons": _moons, "circles": _circles, "xor": _xor}[name](labels, rng)
    points = points + rng.normal(0, noise, points.shape)
    return points.astype(np.float32), labels.astype(np.int64)


def make_toy(
    name: str = "spirals",
    points: int = 600,
    noise: float = 0.05,
    seed: int = 0,
    classes: int | None = None,
    test_fraction: float = 0.5,
) -> ToyData:
    """A toy data set by name; `points` in all, `test_fraction` of them held out for the test
    curves."""
    if name not in TOY_DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose from {', '.join(TOY_DATASETS)}")
    fixed = FIXED_CLASSES.get(name)
    if fixed and classes not in (None, fixed):
        message = f"{name} is a set of {fixed}; classes applies to spirals and blobs only"
        raise ConfigError(message, ("classes",))
    classes = fixed or classes or 2
    if not 2 <= classes <= 8:
        raise ConfigError(f"classes must lie in 2..8, got {classes}", ("classes",))
    if points < 4 * classes or not 0 < test_fraction < 1:
        raise ConfigError(f"need at least {4 * classes} points and a test fraction in (0, 1)")
    if not 0 <= noise <= 1:
        raise ConfigError(f"noise must lie in [0, 1], got {noise}", ("noise",))
    rng = np.random.default_rng(seed)
    features, labels = make_points(name, points, noise, classes, rng)
    cut = points - max(classes, round(points * test_fraction))
    source = f"{name} ({classes} classes, noise {noise}, seed {seed})"
    return ToyData(features[:cut], labels[:cut], features[cut:], labels[cut:], source, classes)
