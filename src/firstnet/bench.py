"""Statistics over seeds, airbench style: accuracy as mean ± std, wall time as a median, with the hardware."""

from __future__ import annotations

import statistics


def time_to(history: list[dict], accuracy: float) -> float | None:
    """Seconds (training + evaluation) until the first epoch whose test accuracy reaches `accuracy`."""
    return next((r["elapsed_s"] for r in history if r["test_acc"] >= accuracy), None)


def summarize(histories: list[list[dict]]) -> dict:
    """Final test accuracy (mean, std, range) and median wall time of several runs' histories."""
    accuracies = [h[-1]["test_acc"] for h in histories]
    times = [h[-1]["elapsed_s"] for h in histories]
    return {"runs": len(histories), "test_acc_mean": statistics.mean(accuracies),
            "test_acc_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "test_acc_min": min(accuracies), "test_acc_max": max(accuracies),
            "seconds_median": statistics.median(times), "accuracies": accuracies, "seconds": times}
