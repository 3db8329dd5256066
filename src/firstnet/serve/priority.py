"""The drawing page first: a server's answers to predict requests come before the lab's training.

A lab job trains in the server's process on every core; a request asked meanwhile would wait for
cores the training holds. `Foreground.held()` marks a request's work; the training asks
`wait_idle()` between two of its batches and waits there while any request is at work (at most
`MAX_WAIT_S` at a time, so a stream of requests slows the training but never stops it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT_S = 0.25
LINGER_S = 0.05  # and this long after the last answer: the page's next ask comes soon


class Foreground:
    """A count of the requests at work, and the wait for none."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0  # when the last request's work ended (time.monotonic)
        self.changed = threading.Condition()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.changed:
            self.count += 1
        try:
            yield
        finally:
            with self.changed:
                self.count -= 1
                self.last = time.monotonic()
                self.changed.notify_all()

    def wait_idle(self) -> None:
        deadline = time.monotonic() + MAX_WAIT_S
        with self.changed:
            while time.monotonic() < deadline:
                quiet = time.monotonic() - self.last
                if self.count == 0 and quiet >= LINGER_S:
                    return
                wait = LINGER_S - quiet if self.count == 0 else MAX_WAIT_S
                self.changed.wait(min(wait, deadline - time.monotonic()))
