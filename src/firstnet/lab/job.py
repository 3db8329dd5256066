"""A lab job: one training in a thread of its own, played, paused, stepped and stopped from the
page, which follows its frames.

`Job` holds what every panel's job shares: its state ("paused", "playing", then one of OVER), the
commands that change it, its time limit, and the latest frame with a count of frames (`version`),
replaced as one pair, that the page's event stream waits on. A panel's job (`action.ToyJob`,
`mnist.MnistJob`) trains and draws its own frames. Every live job is stopped at exit: a thread
still in torch while the interpreter finalises would abort the process.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import torch

from firstnet.device import training_threads
from firstnet.errors import ConfigError

MAX_SECONDS = 600.0  # a job's life, paused or not: then it stops (its model stays for the pad)
OVER = ("done", "stopped", "diverged")  # the states a job ends in
NICE = 10  # Linux: a job's thread runs at this niceness, below the server's answers
COMMANDS = ("play", "pause", "step", "stop")


class Job:
    """The state and commands of a lab job; `frame` is its latest picture, `version` counts them."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.state, self.pending, self.steps, self.error = "paused", 0, 0, None
        self.born, self.watched = time.monotonic(), 0  # watched: the pages that follow it
        self.latest: tuple[int, dict] = (0, {})  # (version, frame), replaced as one
        self.trace: list[list[float]] = []  # [step, loss, accuracy] as it trains, if it keeps one
        LIVE.add(self)

    @property
    def frame(self) -> dict:
        return self.latest[1]

    @frame.setter
    def frame(self, frame: dict) -> None:
        self.latest = (self.latest[0], frame)

    @property
    def version(self) -> int:
        return self.latest[0]

    @property
    def over(self) -> bool:
        return self.state in OVER

    def command(self, what: str) -> str:
        """play, pause, step (one optimizer step, then paused) or stop; the state after it."""
        if what not in COMMANDS:
            raise ConfigError(f"unknown command {what[:40]!r}; use {', '.join(COMMANDS)}")
        with self.changed:
            if not self.over:
                if what == "step":
                    self.state, self.pending = "paused", self.pending + 1
                else:
                    self.state = {"play": "playing", "pause": "paused", "stop": "stopped"}[what]
            self.changed.notify_all()
            return self.state

    def expired(self) -> bool:
        return time.monotonic() - self.born > MAX_SECONDS

    def wait_while_paused(self) -> int:
        """Block while paused with no step asked (or until the time limit stops the job); then the
        optimizer steps allowed before the next look: 0 when over, the steps asked when paused,
        -1 (no limit) when playing. Called with `changed` held."""
        while self.state == "paused" and not self.pending and not self.expired():
            self.changed.wait(0.25)
        if self.expired() and not self.over:
            self.state, self.error = "stopped", "the job's time limit is over"
        if self.over:
            return 0
        pending, self.pending = self.pending, 0
        return pending if self.state == "paused" else -1

    def publish(self, frame: dict) -> None:
        with self.changed:
            self.latest = (self.latest[0] + 1, frame)
            self.changed.notify_all()

    def start_thread(self, target) -> None:
        def run() -> None:
            lower_priority()
            self.native_id = threading.get_native_id()
            target()

        self.native_id: int | None = None
        self.thread = threading.Thread(target=run, name="firstnet-lab", daemon=True)
        self.thread.start()


def lower_priority() -> None:
    """Linux: this thread, and the torch threads it starts, niced to NICE, so that the kernel gives
    the server's answers the cores first whenever both want them (the drawing page's latency beside
    a training: benchmarks/lab_load.py); with no one else asking, the training has them all. Linux
    keeps a niceness per thread; elsewhere nothing changes."""
    if sys.platform.startswith("linux"):
        with suppress(OSError):  # not allowed here: the training keeps the server's priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


@contextmanager
def all_cores() -> Iterator[None]:
    """This thread trains on the threads `firstnet train` takes (the server answers on one); the
    others keep theirs, as torch keeps a thread count per thread once it has used one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(training_threads(None))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


LIVE: weakref.WeakSet[Job] = weakref.WeakSet()


@atexit.register
def stop_live_jobs() -> None:
    """At exit, each job stopped and its thread ended."""
    for job in list(LIVE):
        job.command("stop")
        if getattr(job, "thread", None) is not None:
            job.thread.join(2)
