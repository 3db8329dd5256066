"""A held-out validation split of the training images, for honest model selection.

`firstnet search` scores its trials on images taken out of the 60,000 training images, never on the
test set: choosing among many trials by their test accuracy would fit the choice to the test set
and report an optimistic number. The split is fixed by a seed and recorded (its size, seed and a
digest of the held-out indices), so every worker of a study, on any machine, and every resumed
study uses the same rows, and a mismatch is an error rather than a silently different split.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from firstnet.data.sources import LabelledData
from firstnet.errors import ConfigError

VALIDATION_SIZE = 10_000  # of the 60,000 training images; the other 50,000 train the trials


def validation_indices(examples: int, size: int, seed: int) -> np.ndarray:
    """The sorted indices of `size` training rows held out for validation, fixed by `seed`."""
    if not 0 < size < examples:
        raise ConfigError(f"a validation split needs 0 < size < {examples:,}, got {size:,}")
    return np.sort(np.random.default_rng(seed).permutation(examples)[:size])


def digest(indices: np.ndarray) -> str:
    """A short SHA-256 of the held-out indices: two workers with the same digest use one split."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]


def validation_split(
    data: LabelledData, size: int = VALIDATION_SIZE, seed: int = 0
) -> tuple[LabelledData, dict]:
    """(the set whose training arrays are the rows kept for training and whose "test" arrays are
    the held-out rows, the split's record {"size", "seed", "digest"}).

    The Trainer evaluates on the test arrays of the set it is given, so a trial trained on the
    first element reports validation accuracy and never sees a test image.
    """
    held = validation_indices(len(data.train_labels), size, seed)
    kept = np.setdiff1d(np.arange(len(data.train_labels)), held, assume_unique=True)
    split = dataclasses.replace(
        data,
        train_images=data.train_images[kept],
        train_labels=data.train_labels[kept],
        test_images=data.train_images[held],
        test_labels=data.train_labels[held],
        source=f"{data.source} (training images, {len(held):,} held out for validation)",
    )
    return split, {"size": size, "seed": seed, "digest": digest(held)}
