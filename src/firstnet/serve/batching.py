"""Forward passes of concurrent requests run together, as one batch per model.

Under load many requests wait for the one event loop at once; a forward pass of 32 images costs
hardly more than one of a single image (the time goes to per-operation overhead, not arithmetic), so
running them together cuts the server's time per request several-fold. Nothing waits for a batch to
fill: a request queues its image and the batch runs as soon as the event loop has let every request
that was ready reach this point, so a lone request pays one loop iteration.
"""

from __future__ import annotations

import asyncio

import numpy as np

from firstnet.serve.registry import ServedModel, predict_batch

MAX_BATCH = 64  # images per forward pass; beyond this the arithmetic, not the overhead, dominates


class Batcher:
    """Collects (model, image) pairs from concurrent requests and answers each with its
    prediction."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[ServedModel, list[tuple[np.ndarray, asyncio.Future]]]] = {}
        self.scheduled = False

    async def predict(self, served: ServedModel, image: np.ndarray) -> dict:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.setdefault(served.name, (served, []))[1].append((image, future))
        if not self.scheduled:  # run after the requests that are ready now have queued theirs
            self.scheduled = True
            loop.call_soon(self.flush)
        return await future

    def flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, {}
        for served, items in pending.values():
            for start in range(0, len(items), MAX_BATCH):
                chunk = items[start : start + MAX_BATCH]
                try:
                    # (B, 28, 28)
                    results = predict_batch(served, np.stack([image for image, _ in chunk]))
                except (
                    Exception
                ) as error:  # a bug: every request of the batch gets the 500, none hangs
                    results = [error] * len(chunk)
                for (_, future), result in zip(chunk, results, strict=True):
                    if future.done():  # the client went away
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
