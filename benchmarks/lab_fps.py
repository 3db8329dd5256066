"""Frames a second of the lab's "Action!" panel: the 2x32 ReLU MLP on two spirals (the panel's
defaults), playing with the frame cap lifted, at 1 and 5 optimizer steps a frame. A frame is the
steps, then the picture (the regions on a 96x96 grid, 32 hidden units on 24x24, both as PNG). The
reference, measured in the same run: the same steps with no picture (the Trainer alone), as steps a
second. Medians of --runs runs of --seconds each. Usage:
    python benchmarks/lab_fps.py [--runs 5] [--seconds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from firstnet.device import cpu_name
from firstnet.lab import action
from firstnet.lab.action import ToyJob, ToySettings


def frames_a_second(speed: int, seconds: float) -> tuple[float, float]:
    """(frames, optimizer steps) a second of a job playing for `seconds`."""
    job = ToyJob(ToySettings(speed=speed))
    try:
        job.command("play")
        start, first, steps = time.monotonic(), job.version, job.steps
        time.sleep(seconds)
        frames, steps = job.version - first, job.steps - steps
        elapsed = time.monotonic() - start
    finally:
        job.command("stop")
        job.thread.join(5)
    return frames / elapsed, steps / elapsed


def training_alone(seconds: float) -> float:
    """Optimizer steps a second of the same training with no frames drawn."""
    job = ToyJob(ToySettings())
    job.command("stop")  # its thread ends; its trainer is trained here, with no frame
    job.thread.join(5)
    steps, start = [], time.monotonic()
    job.trainer.run(on_step=steps.append, should_stop=lambda: time.monotonic() - start > seconds)
    return len(steps) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    action.MAX_FPS = 10_000  # no cap: as fast as the frames can be made
    print(f"{cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"Python {platform.python_version()}; medians of {args.runs} runs")  # fmt: skip
    alone = statistics.median(training_alone(args.seconds) for _ in range(args.runs))
    print(f"reference: the Trainer alone, {alone:,.0f} steps/s")
    for speed in (1, 5):
        measured = [frames_a_second(speed, args.seconds) for _ in range(args.runs)]
        fps = statistics.median(m[0] for m in measured)
        steps = statistics.median(m[1] for m in measured)
        print(f"{speed} step(s) a frame: {fps:,.0f} frames/s, {steps:,.0f} steps/s "
              f"({steps / alone:.2f}x the Trainer alone)")  # fmt: skip


if __name__ == "__main__":
    main()
