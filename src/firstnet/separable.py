"""Is MNIST linearly separable? A proof, not a training.

A linear model that stops short of 100% training accuracy proves nothing: it may only have stopped
early. A proof that no linear classifier fits the training set is two sets of training images of two
classes whose weighted averages (weights >= 0, summing to 1) are the same picture. Any linear
function w.x + c takes the same value on that picture whether it is computed as an average of the
first class or of the second; if w.x + c were positive on every image of the first class and
negative on every image of the second, that value would be both. So no line (hyperplane) separates
the two classes, and no linear classifier separates all ten, since it would separate these two
(w_a - w_b, c_a - c_b).

Finding the weights is a linear program with no objective: A^T p = B^T q, sum p = sum q = 1,
p, q >= 0 (HiGHS, through SciPy). Its basic solutions use at most 786 images. The images most
likely to be in it are those a least-squares linear classifier puts nearest the other class, so the
program is first solved on those (a few hundred per class) and on more only when that is not enough.

Finding a proof takes seconds; checking one takes milliseconds. So a proof found once is kept in the
data cache (`kept_certificate`), keyed by a digest of the images and labels, and checked again from
the images every time it is read: a damaged or foreign file proves nothing and is solved anew.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from firstnet.atomic import atomic_write, loads, read_regular
from firstnet.data import LabelledData, data_summary
from firstnet.data.sources import cache_dir
from firstnet.errors import FirstnetError, StorageError

# a kept proof: at most 786 indices and weights, some 20 kB of JSON (a larger file is refused)
MAX_KEPT = 1 << 20

# Images per class tried, nearest the other class first; then every image of the two classes.
CANDIDATES = (500, 1000, 2000, 4000, None)
RIDGE = 1.0  # the least-squares classifiers' regularisation (pixels on [0, 1])


def flat(images: np.ndarray) -> np.ndarray:
    """(N, ...) pixels as float32 rows on [0, 1], with a constant 1 appended (the bias): enough
    to choose the candidates (the program itself is solved in float64, on them alone)."""
    rows = np.empty((len(images), images[0].size + 1), dtype=np.float32)
    np.divide(images.reshape(len(images), -1), 255.0, out=rows[:, :-1], dtype=np.float32)
    rows[:, -1] = 1.0
    return rows


def least_squares(rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Ridge regression weights of `targets` on `rows`, solved in float64."""
    targets = targets.astype(np.float32)
    gram = (rows.T @ rows).astype(np.float64) + RIDGE * np.eye(rows.shape[1])
    return np.linalg.solve(gram, (rows.T @ targets).astype(np.float64)).astype(np.float32)


def confused_pair(rows: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """The two classes a least-squares linear classifier (one-hot targets) confuses most often."""
    classes = int(labels.max()) + 1
    guesses = (rows @ least_squares(rows, np.eye(classes)[labels])).argmax(1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, guesses), 1)
    both = confusion + confusion.T
    np.fill_diagonal(both, -1)
    a, b = np.unravel_index(both.argmax(), both.shape)
    return int(min(a, b)), int(max(a, b))


def common_average(first: np.ndarray, second: np.ndarray):
    """Weights p, q (>= 0, each summing to 1) with first^T p = second^T q, or None when the two
    sets' convex hulls do not meet. `first` and `second` are pixel rows without the bias column."""
    from scipy import sparse
    from scipy.optimize import linprog

    n, m = len(first), len(second)
    equal = sparse.hstack([sparse.csr_matrix(first.T), sparse.csr_matrix(-second.T)])
    sums = sparse.block_diag([np.ones((1, n)), np.ones((1, m))])
    constraints = sparse.vstack([equal, sums]).tocsc()
    right = np.r_[np.zeros(first.shape[1]), 1.0, 1.0]
    result = linprog(np.zeros(n + m), A_eq=constraints, b_eq=right, bounds=(0, None),
                     method="highs")  # fmt: skip
    if result.status == 2:  # infeasible: the hulls are apart
        return None
    if result.status != 0:  # an iteration limit or numerical trouble proves nothing
        raise FirstnetError(f"the linear program did not finish: {result.message}")
    return result.x[:n], result.x[n:]


def pixels(images: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The `chosen` images as float64 rows of pixels on [0, 1], as the proof's averages are
    computed (`averages`)."""
    return images[chosen].reshape(len(chosen), -1).astype(np.float64) / 255.0


def certificate(
    images: np.ndarray, labels: np.ndarray, pair: tuple[int, int] | None = None
) -> dict:
    """A proof that `images` (N, ...) of uint8 pixels with `labels` are not linearly separable:
    images of two classes (`pair`, or the two a linear classifier confuses most) with the same
    weighted average. `separable` is False with the proof; None when the two classes' hulls do
    not meet, which decides nothing about the other classes.

    `indices` and `weights` hold each class's images (as indices into `images`) and weights;
    `residual` is the largest difference of the two averages over the pixels (on [0, 1]);
    `candidates`, the images per class the program was solved on (None: all of them)."""
    start = time.perf_counter()
    labels = np.asarray(labels)
    rows = flat(images)
    a, b = pair if pair is not None else confused_pair(rows, labels)
    first, second = np.flatnonzero(labels == a), np.flatnonzero(labels == b)
    both = np.concatenate([first, second])
    sign = np.r_[np.ones(len(first)), -np.ones(len(second))]
    margin = sign * (rows[both] @ least_squares(rows[both], sign))  # small: near the other class
    order_a, order_b = np.argsort(margin[: len(first)]), np.argsort(margin[len(first) :])
    del rows  # the selection is made: the program reads the images themselves
    found, tried, trouble = None, None, None
    for count in CANDIDATES:
        tried = count
        chosen_a, chosen_b = first[order_a[:count]], second[order_b[:count]]
        try:
            found = common_average(pixels(images, chosen_a), pixels(images, chosen_b))
            trouble = None
        except FirstnetError as error:  # undecided on these candidates: more of them may decide
            trouble = error
        if found is not None or count is None or count >= max(len(first), len(second)):
            break
    if trouble is not None:  # the last program did not finish: nothing is decided
        raise trouble
    result = {"classes": [a, b], "candidates": tried, "solver": "HiGHS (scipy.optimize.linprog)"}
    if found is None:
        seconds = time.perf_counter() - start
        return result | {"separable": None, "seconds": seconds}
    p, q = found
    keep_a, keep_b = p > 0, q > 0
    indices = [chosen_a[keep_a].tolist(), chosen_b[keep_b].tolist()]
    weights = [(p[keep_a] / p[keep_a].sum()).tolist(), (q[keep_b] / q[keep_b].sum()).tolist()]
    proof = {"separable": False, "indices": indices, "weights": weights}
    proof["residual"] = residual(images, proof)
    return result | proof | {"seconds": time.perf_counter() - start}


def data_facts(data: LabelledData) -> dict:
    """What `firstnet data` answers: `data_summary` and, under "separable", the `certificate` of
    the training set (`kept_certificate`: found once, checked every time)."""
    return data_summary(data) | {"separable": kept_certificate(data, cache_dir() / "proofs")}


def kept_certificate(data: LabelledData, folder: Path) -> dict:
    """The `certificate` of `data`'s training set: read from `folder` and checked (`holds`), or
    found and kept there. A kept one says when it was found (`found`); its `seconds` are the
    solve's, and `checked_seconds` the check's. A folder that cannot be written keeps nothing."""
    images, labels = data.train_images, data.train_labels
    digest = hashlib.sha256(np.ascontiguousarray(images))  # read in place: no copy
    digest.update(np.ascontiguousarray(labels))
    path = Path(folder) / f"{data.dataset}-{digest.hexdigest()[:32]}.json"
    start = time.perf_counter()
    try:
        kept = loads(read_regular(path, MAX_KEPT))
    except (FirstnetError, ValueError):  # none yet, or not one: solve it anew
        kept = None
    if isinstance(kept, dict) and holds(images, labels, kept):
        return kept | {"checked_seconds": time.perf_counter() - start}
    proof = certificate(images, labels)
    proof["found"] = time.strftime("%Y-%m-%d %H:%M:%S")
    if proof["separable"] is False:
        with contextlib.suppress(StorageError):  # a read-only cache: the proof is only not kept
            atomic_write(path, json.dumps(proof) + "\n")
    return proof


def holds(images: np.ndarray, labels: np.ndarray, proof: dict) -> bool:
    """Whether `proof` (read from a file) proves that `images` with `labels` are not linearly
    separable: two classes, each side's images of its class with weights > 0 summing to 1, and the
    two weighted averages, recomputed here, one picture; and what `answer` prints (the solve's
    `seconds` and `residual`, the day it was `found`)."""
    try:
        classes, indices, weights = proof["classes"], proof["indices"], proof["weights"]
        if proof["separable"] is not False or len(indices) != 2 or len(weights) != 2:
            return False
        if not all(isinstance(proof[key], (int, float)) for key in ("seconds", "residual")):
            return False
        if not isinstance(proof["found"], str):
            return False
        for side, chosen, share in zip(classes, indices, weights, strict=True):
            chosen, share = np.asarray(chosen, dtype=np.int64), np.asarray(share, dtype=np.float64)
            if chosen.ndim != 1 or chosen.shape != share.shape or not len(chosen):
                return False
            if chosen.min() < 0 or chosen.max() >= len(labels) or (labels[chosen] != side).any():
                return False
            if not (share > 0).all() or abs(share.sum() - 1) > 1e-9:
                return False
        return classes[0] != classes[1] and residual(images, proof) < 1e-9
    except (KeyError, TypeError, ValueError, OverflowError):
        return False


def averages(images: np.ndarray, proof: dict) -> tuple[np.ndarray, np.ndarray]:
    """The two weighted averages of a proof, as images on [0, 1]."""
    return tuple(
        np.tensordot(np.asarray(weights), images[np.asarray(indices)].astype(np.float64) / 255.0, 1)
        for indices, weights in zip(proof["indices"], proof["weights"], strict=True)
    )


def residual(images: np.ndarray, proof: dict) -> float:
    """The largest pixel difference between a proof's two averages, recomputed from the images."""
    first, second = averages(images, proof)
    return float(np.abs(first - second).max())


def answer(proof: dict, class_names: tuple[str, ...]) -> str:
    """The lecture's question answered in one line."""
    a, b = (class_names[k] for k in proof["classes"])
    if proof["separable"] is None:
        return (
            f"not decided: the {a} and {b} images can be separated by a line, which says nothing "
            "about the other classes"
        )
    n, m = (len(indices) for indices in proof["indices"])
    return (
        f"no: {n} images of {a} and {m} of {b} have the same weighted average (to "
        f"{proof['residual']:.0e} of a pixel), so no line separates {a} from {b}; a linear "
        f"program proved it in {proof['seconds']:.1f} s"
        + (f" (on {proof['found'][:10]}; checked again now)" if "checked_seconds" in proof else "")
    )
