"""The activation functions by family, each beside its derivative, with the problems the numbers
show.

Everything drawn comes from `firstnet.activations` (the one registry) through `curves`, and every
problem marked comes from `problems`, so tests can check exactly what the figure shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from firstnet.activations import (
    ACTIVATIONS,
    RELU_FAMILY,
    SATURATION,
    SIGMOID_LIKE,
    SMOOTH_MODERN,
    get_activation,
)
from firstnet.errors import ConfigError
from firstnet.figures.style import DPI, PALETTE, save, styled, subplots

FAMILIES = {
    SIGMOID_LIKE: "Sigmoid-like: bounded outputs",
    RELU_FAMILY: "ReLU family: piecewise linear",
    SMOOTH_MODERN: "Smooth modern: differentiable everywhere",
}
Z_MAX = 6.0
Z = np.linspace(-Z_MAX, Z_MAX, 2401)  # step 0.005; includes 0, +-1, +-3 and +-6 exactly
CENTRED_TOLERANCE = 0.05  # |E f(z)|, z ~ N(0, 1), above this: outputs are not zero-centred
UNBOUNDED = 5.0  # f(6) above this, and still growing at 12: unbounded growth
MEAN_SAMPLE = 100_000
FIG_WIDTH, ROW_HEIGHT = 11.0, 2.6  # inches; the image is exactly figsize * DPI pixels
DEAD_COLOR, SATURATED_COLOR = PALETTE[3], PALETTE[1]
LINE_COLORS = [PALETTE[0], PALETTE[2], PALETTE[4], PALETTE[7]]  # none of them a shading colour


def family_members(family: str) -> list[str]:
    """The registry's activations of `family`, in registry order."""
    if family not in FAMILIES:
        raise ConfigError(
            f"unknown activation family {family!r}; choose from {', '.join(FAMILIES)}"
        )
    return [name for name, activation in ACTIVATIONS.items() if activation.family == family]


def curves(name: str, z: np.ndarray = Z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, f(z), f'(z)) in float64 from the registry's NumPy function and derivative: what the
    figure draws."""
    activation = get_activation(name)
    z = np.asarray(z, dtype=np.float64)
    f = activation.function(z)
    return z, f, activation.derivative(z, f)


def intervals(z: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The maximal runs of `mask` over the sorted grid `z`, as (first z, last z) pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [
        (round(float(z[start]), 6), round(float(z[stop - 1]), 6))
        for start, stop in zip(edges[::2], edges[1::2], strict=True)
    ]


def problems(name: str, z: np.ndarray = Z, seed: int = 0) -> dict:
    """The problems the numbers show, for `name` on the grid `z`.

    saturated: intervals where 0 < |f'| < 0.01 (vanishing gradient); dead: intervals where f' is
    exactly 0 (no gradient at all); stationary: the z where f' changes sign (a minimum; the
    small-|f'| sliver around it is not counted as saturated); mean_output: mean of f over a
    symmetric standard normal sample (z and -z), and zero_centred when its size is below 0.05;
    unbounded: f(6) > 5 and f(12) > f(6) + 5 (ReLU6 reaches 6 but stops there).
    """
    z, _, derivative = curves(name, z)
    f = get_activation(name).function
    sample = np.random.default_rng(seed).standard_normal(MEAN_SAMPLE // 2)
    mean = float(f(np.concatenate([sample, -sample])).mean())
    at_max, at_twice = (float(v) for v in f(np.array([Z_MAX, 2 * Z_MAX])))
    size = np.abs(derivative)
    # Where f' changes sign (the minimum of GELU, SiLU, Mish) it is small only on a sliver: a
    # stationary point, not saturation, so it is reported apart and not shaded.
    crossings = np.flatnonzero(np.sign(derivative[:-1]) * np.sign(derivative[1:]) < 0)
    stationary = [
        round(
            float(z[i] - derivative[i] * (z[i + 1] - z[i]) / (derivative[i + 1] - derivative[i])), 3
        )
        for i in crossings
    ]
    small = (size < SATURATION) & (size > 0)
    saturated = [
        (low, high)
        for low, high in intervals(z, small)
        if not any(low <= point <= high for point in stationary)
    ]
    return {
        "saturated": saturated,
        "stationary": stationary,
        "dead": intervals(z, derivative == 0),
        "mean_output": mean,
        "zero_centred": abs(mean) < CENTRED_TOLERANCE,
        "f_at_6": at_max,
        "unbounded": at_max > UNBOUNDED and at_twice > at_max + UNBOUNDED,
    }


def figure_size(family: str) -> tuple[int, int]:
    """The PNG's (width, height) in pixels."""
    return round(FIG_WIDTH * DPI), round(ROW_HEIGHT * (len(family_members(family)) + 0.5) * DPI)


def _shade(ax, facts: dict) -> None:
    for key, color, alpha in (("saturated", SATURATED_COLOR, 0.22), ("dead", DEAD_COLOR, 0.22)):
        for low, high in facts[key]:
            ax.axvspan(low, max(high, low + 0.02), color=color, alpha=alpha, lw=0)


@styled
def plot_activation_family(family: str, path: Path | None):
    """One row per activation of `family`: f(z) on the left, f'(z) on the right, z in [-6, 6],
    problems marked."""
    names = family_members(family)
    width, height = figure_size(family)
    fig, axes = subplots(
        len(names), 2, figsize=(width / DPI, height / DPI), squeeze=False, layout="constrained"
    )
    for row, name in enumerate(names):
        z, f, derivative = curves(name)
        facts = problems(name)
        f_ax, d_ax = axes[row]
        color = LINE_COLORS[row % len(LINE_COLORS)]
        f_ax.plot(z, f, color=color, lw=2)
        d_ax.plot(z, derivative, color=color, lw=2)
        for ax in (f_ax, d_ax):
            _shade(ax, facts)
            ax.axhline(0, color="black", lw=0.6)
            ax.axvline(0, color="black", lw=0.6)
            ax.set_xlim(-Z_MAX, Z_MAX)
        f_ax.set_ylabel(f"{name}\nf(z)")
        d_ax.set_ylabel("f'(z)")
        f_ax.set_title(f"{name}: {get_activation(name).note}", loc="left", fontsize=10)
        d_ax.set_title(f"derivative of {name}: max {derivative.max():.3g}", loc="left", fontsize=10)
        for point in facts["stationary"]:
            f_ax.plot(
                [point],
                get_activation(name).function(np.array([point])),
                "o",
                color=DEAD_COLOR,
                ms=6,
            )
            d_ax.plot([point], [0.0], "o", color=DEAD_COLOR, ms=6)
            d_ax.annotate(
                f"minimum of f at z = {point:.2f}:\nf' = 0, its sign flips",
                (point, 0.0),
                fontsize=8,
                textcoords="offset points",
                xytext=(-12, 22),
                ha="right",
                arrowprops={"arrowstyle": "->"},
            )
        warnings = []
        if not facts["zero_centred"]:
            warnings.append(
                f"not zero-centred: mean f = {facts['mean_output']:.2f} for z ~ N(0, 1)"
            )
        if facts["unbounded"]:
            warnings.append(f"unbounded: f(6) = {facts['f_at_6']:.2f}, still growing")
        if warnings:
            f_ax.text(
                0.02,
                0.95,
                "\n".join(warnings),
                transform=f_ax.transAxes,
                va="top",
                fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6", "alpha": 0.9},
            )
        if row == len(names) - 1:
            f_ax.set_xlabel("z (pre-activation)")
            d_ax.set_xlabel("z (pre-activation)")
    handles = [
        Rectangle((0, 0), 1, 1, color=SATURATED_COLOR, alpha=0.35),
        Rectangle((0, 0), 1, 1, color=DEAD_COLOR, alpha=0.35),
    ]
    fig.legend(
        handles,
        [f"saturated: 0 < |f'| < {SATURATION} (vanishing gradient)", "dead: f' = 0 (no gradient)"],
        loc="outside upper right",
        ncols=2,
    )
    fig.suptitle(FAMILIES[family], fontsize=14, x=0.02, ha="left")
    # the whole figure: exactly figure_size pixels
    return save(fig, path, bbox_inches=fig.bbox_inches)


def plot_all_families(out_dir: Path) -> list[Path]:
    """One PNG per family in `out_dir`: activations-<family>.png."""
    return [
        plot_activation_family(family, Path(out_dir) / f"activations-{family}.png")
        for family in FAMILIES
    ]
