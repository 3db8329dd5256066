"""Statistics over seeds: one rule for diverged seeds, shared by tables and figures."""

from __future__ import annotations

import math
import statistics

import pytest

from firstnet.stats import (
    diverged_count,
    mean_std,
    percent,
    percent_mean_std,
    reach_text,
    speedups,
    summarize,
    time_to,
    times_to,
)

NAN = float("nan")


def test_mean_std_is_the_sample_statistics_of_the_finite_seeds():
    values = [0.97, 0.98, 0.995]
    assert mean_std(values) == (statistics.fmean(values), statistics.stdev(values))
    assert mean_std([0.97, NAN, 0.98]) == mean_std([0.97, 0.98])  # a diverged seed is left out ...
    assert diverged_count([0.97, NAN, 0.98]) == 1  # ... and counted
    assert mean_std([0.5]) == (0.5, 0.0)
    assert all(math.isnan(x) for x in mean_std([NAN, NAN])) and all(
        math.isnan(x) for x in mean_std([])
    )


def test_tables_and_figures_apply_the_same_rule():
    assert percent([0.9781, 0.9793]) == "97.87 ± 0.08%"
    assert percent([0.9781]) == "97.81%"
    assert percent([0.9781, NAN, 0.9793]) == "97.87 ± 0.08% (1 of 3 diverged)"
    assert percent([0.9781, NAN]) == "97.81% (1 of 2 diverged)"
    assert percent([NAN, NAN]) == "diverged"
    mean, std = percent_mean_std([0.9781, NAN, 0.9793])  # what the figures draw
    assert mean == pytest.approx(100 * mean_std([0.9781, 0.9793])[0])
    assert std == pytest.approx(100 * mean_std([0.9781, 0.9793])[1])
    mean, std = percent_mean_std([NAN])
    assert math.isnan(mean) and std == 0.0  # nothing to draw, and no error bar


def test_summarize_and_time_to():
    histories = [
        [{"test_acc": 0.98, "elapsed_s": 1.0}, {"test_acc": 0.99, "elapsed_s": 2.0}],
        [{"test_acc": 0.985, "elapsed_s": 1.5}, {"test_acc": 0.995, "elapsed_s": 3.0}],
        [{"test_acc": 0.97, "elapsed_s": 1.1}, {"test_acc": 0.993, "elapsed_s": 2.5}],
    ]
    result = summarize(histories)
    assert result["runs"] == 3 and result["accuracies"] == [0.99, 0.995, 0.993]
    assert result["test_acc_mean"] == pytest.approx(statistics.fmean([0.99, 0.995, 0.993]))
    assert result["test_acc_std"] == pytest.approx(statistics.stdev([0.99, 0.995, 0.993]))
    assert (result["test_acc_min"], result["test_acc_max"], result["seconds_median"]) == (
        0.99,
        0.995,
        2.5,
    )
    assert time_to(histories[0], 0.985) == 2.0 and time_to(histories[2], 0.999) is None
    reach = times_to(histories, (0.985, 0.994, 0.999))
    assert reach[0.985] == {"median_s": 2.0, "reached": 3, "runs": 3}  # 2.0, 1.5, 2.5
    assert reach[0.994] == {"median_s": 3.0, "reached": 1, "runs": 3}  # only the second run
    assert reach[0.999] == {"median_s": None, "reached": 0, "runs": 3}
    assert reach_text(reach) == "98.5% 2.00 s, 99.4% 3.00 s (1/3), 99.9% never"
    reference = times_to([[{"test_acc": 0.99, "elapsed_s": 8.0}]], (0.985, 0.994, 0.999))
    assert speedups(reach, reference) == {0.985: 4.0}  # 8.0 / 2.0; the others: one side never
