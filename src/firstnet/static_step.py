"""One training step with fixed shapes and no work on the host, captured once as a CUDA graph.

On a GPU the lecture's small models are bound by launching kernels, not by arithmetic: a step of
the CNN launches a few hundred kernels of a few microseconds each, and the Python that launches
them costs more than they do. A CUDA graph records the kernels of one step once and replays them
all with one launch (PyTorch, "CUDA Graphs": whole-network capture). A replay can only repeat what
was recorded, so everything a step reads must already sit on the device at a fixed address: the
epoch's batch order and shifts (copied in at each epoch's start), the step counters, the
learning-rate schedule as a table, and the optimizer's learning rate as a tensor (fused SGD reads
it on the device). No step waits for the host; the loop reads its running sums every LOG_EVERY
steps only.

On a CPU the same step runs without capture (no speed-up there), so every line of it is tested on
machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

WARMUP_STEPS = 3  # eager steps on a side stream before capture: lazy state, cuDNN's choices


class StaticStep:
    """Calls `step(index, offsets)` for batch `position` of the epoch, with the learning rate of
    step `step` of the run copied into `lr` first; captured as a CUDA graph on a GPU.

    `index` (B,) are the batch's rows of the training set, `offsets` (2, B) their shifts (None
    without augmentation). Batches are the epoch's order cut into `batches` full rows of
    `batch_size`; the last partial batch of an epoch is not used.
    """

    def __init__(
        self,
        step: Callable[[torch.Tensor, torch.Tensor | None], None],
        lr: torch.Tensor,
        lr_table: torch.Tensor,
        batches: int,
        batch_size: int,
        examples: int,
        augment: bool,
    ) -> None:
        device = lr.device
        self.step, self.lr, self.lr_table = step, lr, lr_table.to(device, torch.float32)
        self.order = torch.zeros(examples, dtype=torch.int64, device=device)
        self.batches = self.order[: batches * batch_size].view(batches, batch_size)
        self.shifts = (
            torch.zeros(2, examples, dtype=torch.int64, device=device) if augment else None
        )
        self.position = torch.zeros(1, dtype=torch.int64, device=device)  # batch of the epoch
        self.counter = torch.zeros(1, dtype=torch.int64, device=device)  # step of the run
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm = 0

    def start(
        self, order: torch.Tensor, shifts: torch.Tensor | None, batch: int, step: int
    ) -> None:
        """Load an epoch's order and shifts and the place to continue from (batch of the epoch,
        step of the run): at each epoch's start and when a run resumes."""
        self.order.copy_(order)
        if self.shifts is not None:
            self.shifts.copy_(shifts)
        self.position.fill_(batch)
        self.counter.fill_(step)

    def body(self) -> None:
        """The step as recorded: no Python value depends on the data."""
        index = self.batches.index_select(0, self.position)[0]  # (B,)
        offsets = None if self.shifts is None else self.shifts[:, index]  # (2, B)
        self.lr.copy_(self.lr_table.index_select(0, self.counter)[0])
        self.step(index, offsets)
        self.position += 1
        self.counter += 1

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        elif self.lr.device.type != "cuda":
            self.body()
        elif self.warm < WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.body()
            torch.cuda.current_stream().wait_stream(side)
            self.warm += 1
        else:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records; runs nothing
                self.body()
            self.graph.replay()
