"""Figures of the MNIST experiments (activations, no-activation, depth-width). They take the summarised rows,
never train, and use the project's style (Okabe-Ito palette, atomic save)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from firstnet.activations import LINEAR, RELU_FAMILY, SIGMOID_LIKE, SMOOTH_MODERN
from firstnet.viz.style import PALETTE, plt, save

FAMILY_COLORS = {SIGMOID_LIKE: PALETTE[1], RELU_FAMILY: PALETTE[0], SMOOTH_MODERN: PALETTE[2], LINEAR: PALETTE[7]}


def mean_std_percent(values: list[float]) -> tuple[float, float]:
    finite = [100 * v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, 0.0
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0


def activation_accuracy(rows: list[dict], path: Path) -> Path:
    """Test accuracy per activation (bars coloured by family, ± std over seeds) beside dead and saturated units."""
    names = [row["activation"] for row in rows]
    y = np.arange(len(rows))[::-1]
    stats = [mean_std_percent(row["test_acc"]) for row in rows]
    means, stds = np.array([s[0] for s in stats]), np.array([s[1] for s in stats])
    colors = [FAMILY_COLORS[row["family"]] for row in rows]
    fig, (acc_ax, unit_ax) = plt.subplots(1, 2, figsize=(11, 0.38 * len(rows) + 1.6), sharey=True,
                                          gridspec_kw={"width_ratios": [3, 2]})
    acc_ax.barh(y, means, xerr=stds, color=colors, capsize=2)
    low = np.nanmin(means - stds) if np.isfinite(means).any() else 0
    acc_ax.set_xlim(max(0.0, math.floor(low) - 1), 100)
    for yi, mean, std in zip(y, means, stds, strict=True):
        acc_ax.text(mean + std if math.isfinite(mean) else acc_ax.get_xlim()[0], yi,
                    f" {mean:.2f}" if math.isfinite(mean) else " diverged", va="center", fontsize=8)
    acc_ax.set(yticks=y, yticklabels=names, xlabel="test accuracy (%)", title="Accuracy (mean ± std over seeds)")
    acc_ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in FAMILY_COLORS.values()],
                  labels=list(FAMILY_COLORS), loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, fontsize=8)
    unit_ax.barh(y + 0.2, [100 * row["saturated"] for row in rows], height=0.4, color=PALETTE[5],
                 label="saturated: |f'(z)| < 0.01\n(share of unit × example pairs)")
    unit_ax.barh(y - 0.2, [100 * row["dead"] for row in rows], height=0.4, color=PALETTE[3],
                 label="dead: |f'(z)| < 0.01 on every\nexample (share of units)")
    for yi, row in zip(y, rows, strict=True):
        if row["dead"] > 0:
            unit_ax.text(100 * row["dead"], yi - 0.2, f" {100 * row['dead']:.1f}", va="center", fontsize=7)
    unit_ax.set(xlabel="% of the trained network's hidden units", xlim=(0, 100), title="Dead and saturated units")
    unit_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
    fig.suptitle("Two hidden layers, every activation of the registry")
    return save(fig, path)


def depth_gradients(rows: list[dict], depth: int, path: Path) -> Path:
    """Gradient norm of each weight matrix, input layer to output layer, at initialisation and after epoch 1;
    one column per initialisation, one line per activation (log scale: vanishing gradients are straight lines)."""
    inits = list(dict.fromkeys(row["init"] for row in rows))
    names = list(dict.fromkeys(row["activation"] for row in rows))
    colors = dict(zip(names, PALETTE, strict=False))
    fig, axes = plt.subplots(2, len(inits), figsize=(5.5 * len(inits), 7.5), sharex=True, sharey=True, squeeze=False)
    for column, init in enumerate(inits):
        for line, (key, moment) in enumerate((("grad_init", "at initialisation"), ("grad_epoch1", "after epoch 1"))):
            ax = axes[line, column]
            for row in (r for r in rows if r["init"] == init and r[key]):
                layers = np.arange(1, len(row[key]) + 1)
                ax.plot(layers, row[key], "o-", color=colors[row["activation"]], label=row["activation"], ms=4)
            ax.set(yscale="log", title=f"{init} init, {moment}")
            ax.set_xticks(range(1, depth + 2), [str(i) for i in range(1, depth + 1)] + ["out"])
    for ax in axes[-1]:
        ax.set_xlabel("weight matrix (1 = input layer)")
    for ax in axes[:, 0]:
        ax.set_ylabel("‖∂loss/∂W‖ on a fixed batch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{depth} hidden layers: gradient norm per layer")
    return save(fig, path)


def templates(linear: list | None, composed: list | None, accuracies: list[str], path: Path) -> Path:
    """The 10 rows of the linear model's W and of the identity MLP's W3 W2 W1 as 28 x 28 images (red positive,
    blue negative, each digit on its own symmetric scale)."""
    maps = [(f"linear model W ({accuracies[0]})", linear), (f"identity MLP, W3 W2 W1 ({accuracies[1]})", composed)]
    maps = [(title, np.asarray(weights)) for title, weights in maps if weights is not None]
    fig, axes = plt.subplots(len(maps), 10, figsize=(12, 1.5 * len(maps) + 0.6), squeeze=False)
    for row, (title, weights) in enumerate(maps):
        for digit, ax in enumerate(axes[row]):
            image = weights[digit].reshape(28, 28)
            scale = np.abs(image).max() or 1.0
            ax.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(str(digit), fontsize=9)
        axes[row, 0].set_ylabel(title.replace(" (", "\n(").replace(", W3", "\nW3"), fontsize=8)
    fig.suptitle("One template per class: what the single linear map looks for (red +, blue −)")
    return save(fig, path)


def depth_width(rows: list[dict], path: Path) -> Path:
    """Test accuracy against parameters and against training time; one line per depth, width grows along it;
    two hidden layers drawn thicker."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    depths = sorted({row["depth"] for row in rows})
    for depth, color in zip(depths, PALETTE, strict=False):
        mine = sorted((row for row in rows if row["depth"] == depth), key=lambda row: row["parameters"])
        accuracy = [mean_std_percent(row["test_acc"]) for row in mine]
        label = "0 (linear)" if depth == 0 else str(depth)
        style = {"lw": 3 if depth == 2 else 1.5, "ms": 8 if depth == 2 else 5, "zorder": 3 if depth == 2 else 2}
        for ax, key in zip(axes, ("parameters", "seconds"), strict=True):
            ax.plot([row[key] for row in mine], [a[0] for a in accuracy], "o-", color=color, label=label, **style)
            for row in mine:  # every seed, faint: a failed seed shows as an outlier, not as a huge error bar
                ax.plot([row[key]] * len(row["test_acc"]), [100 * a for a in row["test_acc"]], ".", color=color,
                        alpha=0.4, ms=4)
            for row, (mean, _) in zip(mine, accuracy, strict=True):
                if depth == 2:
                    ax.annotate(f"width {row['width']}", (row[key], mean), textcoords="offset points",
                                xytext=(-20, 8), fontsize=7, color=color)
    axes[0].set(xscale="log", xlabel="parameters (log scale; width grows along each line)",
                ylabel="test accuracy (%)", title="Accuracy vs parameters")
    axes[1].set(xscale="log", xlabel="training + evaluation time (s, log scale)", title="Accuracy vs time")
    axes[1].xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes[1].xaxis.set_minor_formatter(NullFormatter())
    axes[0].margins(y=0.12)
    axes[0].legend(title="hidden layers", fontsize=8)
    fig.suptitle("Depth × width at a fixed budget of epochs (mean over seeds; dots: single seeds)", y=1.02)
    return save(fig, path)


def handmade(rows: list[dict], path: Path) -> Path:
    """Test accuracy of each feature set's linear classifier, with the two trained networks as references."""
    y = np.arange(len(rows))
    stats = [mean_std_percent(row["test_acc"]) for row in rows]
    means = np.array([s[0] for s in stats])
    colors = [PALETTE[7] if row["network"] else PALETTE[0] for row in rows]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.4))
    ax.barh(y, means, xerr=[s[1] for s in stats], color=colors, capsize=2)
    for yi, (mean, std), row in zip(y, stats, rows, strict=True):
        ax.text(mean + std, yi, f"  {mean:.2f}%  (D = {row['dimension']})", va="center", fontsize=8)
    labels = [row["description"].split(" (firstnet")[0] if row["network"] else f"{row['description']} → linear"
              for row in rows]
    ax.set(yticks=y, yticklabels=labels, xlim=(max(0.0, math.floor(np.nanmin(means)) - 2), 101),
           xlabel="test accuracy (%)", title="A linear classifier on hand-made features (blue) vs trained networks "
                                             "(black)")
    return save(fig, path)
