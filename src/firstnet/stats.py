"""Statistics over seeds, airbench style: accuracy as mean ± std, wall time as a median.

The one rule for diverged seeds, used by every table and figure: a seed whose training diverged has
NaN in place of its numbers; it is left out of the mean and the standard deviation and counted
apart, so a table shows "97.81 ± 0.12% (1 of 3 diverged)" and a figure draws the same mean with the
same count. When every seed diverged there is no mean (NaN), and the table says "diverged".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def finite(values: Sequence[float]) -> list[float]:
    """The values of the seeds that did not diverge."""
    return [value for value in values if not math.isnan(value)]


def diverged_count(values: Sequence[float]) -> int:
    return len(values) - len(finite(values))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (0 for one value; NaN, NaN for
    none)."""
    kept = finite(values)
    if not kept:
        return math.nan, math.nan
    return statistics.fmean(kept), statistics.stdev(kept) if len(kept) > 1 else 0.0


def percent_mean_std(values: Sequence[float]) -> tuple[float, float]:
    """`mean_std` in percent, for figures: (NaN, 0) when every seed diverged, so no error bar is
    drawn."""
    mean, std = mean_std(values)
    return 100 * mean, 0.0 if math.isnan(std) else 100 * std


def percent(values: Sequence[float], digits: int = 2) -> str:
    """Fractions as '97.81 ± 0.12%', one value as '97.81%', with '(k of n diverged)' when some
    diverged and 'diverged' when all did."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "diverged"
    text = f"{100 * mean:.{digits}f}%"
    if len(finite(values)) > 1:
        text = f"{100 * mean:.{digits}f} ± {100 * std:.{digits}f}%"
    failed = diverged_count(values)
    return text + (f" ({failed} of {len(values)} diverged)" if failed else "")


def time_to(history: list[dict], accuracy: float) -> float | None:
    """Seconds (training + evaluation) until the first epoch whose test accuracy reaches
    `accuracy`."""
    return next((r["elapsed_s"] for r in history if r["test_acc"] >= accuracy), None)


THRESHOLDS = (0.98, 0.99, 0.995)  # the accuracies whose time `firstnet bench` reports


def times_to(histories: list[list[dict]], thresholds=THRESHOLDS) -> dict[float, dict]:
    """For each threshold: the median seconds to reach it over the runs that did (None if none
    did) and how many of the runs reached it."""
    result = {}
    for threshold in thresholds:
        times = [t for history in histories if (t := time_to(history, threshold)) is not None]
        median = statistics.median(times) if times else None
        result[threshold] = {"median_s": median, "reached": len(times), "runs": len(histories)}
    return result


def reach_cell(reach: dict) -> str:
    """One threshold of `times_to`: '1.23 s' ('1.23 s (3/5)' where only some runs reached it), or
    'never'."""
    if reach["median_s"] is None:
        return "never"
    text = f"{reach['median_s']:.2f} s"
    if 0 < reach["reached"] < reach["runs"]:
        text += f" ({reach['reached']}/{reach['runs']})"
    return text


def reach_text(time_to: dict[float, dict]) -> str:
    """All of `times_to`: '98% 1.23 s, 99% 2.90 s, 99.5% never'."""
    return ", ".join(f"{100 * threshold:g}% {reach_cell(r)}" for threshold, r in time_to.items())


def speedups(ours: dict[float, dict], theirs: dict[float, dict]) -> dict[float, float]:
    """Per threshold both reached: how many times sooner `ours` got there than `theirs`."""
    return {
        threshold: theirs[threshold]["median_s"] / reach["median_s"]
        for threshold, reach in ours.items()
        if reach["median_s"] and theirs[threshold]["median_s"]
    }


def summarize(histories: list[list[dict]]) -> dict:
    """Final test accuracy (mean, std, range) and median wall time of several runs' histories."""
    accuracies = [h[-1]["test_acc"] for h in histories]
    times = [h[-1]["elapsed_s"] for h in histories]
    mean, std = mean_std(accuracies)
    return {
        "runs": len(histories),
        "test_acc_mean": mean,
        "test_acc_std": std,
        "test_acc_min": min(accuracies),
        "test_acc_max": max(accuracies),
        "seconds_median": statistics.median(times),
        "accuracies": accuracies,
        "seconds": times,
    }
