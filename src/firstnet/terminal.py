"""What a person watches while firstnet works, in a terminal or a Jupyter notebook: the two consoles
(results on stdout, progress and messages on stderr), the one progress-bar setup and Ctrl-C as a
request to stop. Shared by the command line and the Python API (rich draws its bars in Jupyter
too)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from pathlib import Path

    from firstnet.data import LabelledData
    from firstnet.reporting import ProgressRecord

# Piped or redirected output is never wrapped (rich would wrap at 80 columns): a printed command
# stays pasteable, a line greppable; tables take the width they need. On a terminal: its width.
UNWRAPPED = 10_000


def console(stderr: bool) -> Console:
    """A console on stdout or stderr (whichever stream is current when it prints: tests capture).
    Text is printed as it is: a file or run name such as "[draft] 7.png" is never read as rich
    markup; a message that styles itself passes markup=True and escapes what it quotes."""
    wrapped = (sys.stderr if stderr else sys.stdout).isatty()
    width = None if wrapped else UNWRAPPED
    return Console(stderr=stderr, soft_wrap=not wrapped, width=width, markup=False)


out = console(stderr=False)
err = console(stderr=True)


def progress_bar(*extra_columns, transient: bool = False) -> Progress:
    """Every progress bar of firstnet: on stderr, description, bar, count, `extra_columns`, elapsed
    time."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [*extra_columns, TimeElapsedColumn()]
    return Progress(*columns, console=err, transient=transient)


@contextmanager
def training_bar(
    label: str, shown: bool = True
) -> Iterator[Callable[[ProgressRecord], None] | None]:
    """A bar per epoch; yields the `on_progress` callback of `Trainer.run` and
    `ScratchTrainer.run` (None, and no bar, when not `shown`)."""
    if not shown:
        yield None
        return
    with progress_bar(TextColumn("{task.fields[stats]}")) as bar:
        tasks: dict[int, int] = {}

        def update(p: ProgressRecord) -> None:
            if p.epoch not in tasks:
                description = f"{label} epoch {p.epoch}/{p.epochs}"
                tasks[p.epoch] = bar.add_task(description, total=p.batches, stats="")
            stats = (
                f"loss {p.train_loss:.4f}  acc {100 * p.train_acc:5.2f}%  "
                f"{p.samples_per_s:,.0f} img/s"
            )
            bar.update(tasks[p.epoch], completed=p.batch, stats=stats)

        yield update


@contextmanager
def task_bar(
    description: str, total: int | None, transient: bool = False
) -> Iterator[Callable[..., None]]:
    """One bar for `total` units of work; yields `advance(count=1, description=None,
    total=None)`."""
    with progress_bar(transient=transient) as bar:
        task = bar.add_task(description, total=total)

        def advance(
            count: int = 1, description: str | None = None, total: int | None = None
        ) -> None:
            changes = {"description": description, "total": total}
            bar.update(task, advance=count, **{k: v for k, v in changes.items() if v is not None})

        yield advance


@contextmanager
def stop_on_sigint(
    message: str = "Stopping after this batch and saving a checkpoint",
) -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C asks the job to stop at the next safe point (saying `message`); a second one
    aborts at once."""
    requested = False

    def handler(signum, frame):
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        err.print(f"{message} (Ctrl-C again to abort)...", style="yellow")

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signals reach the main thread only: Ctrl-C stays Python's there
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)


def load_data(data_dir: Path | None, dataset: str = "mnist") -> LabelledData:
    """The data set from the first source that has it, with a spinner while it loads."""
    from firstnet.data import DATASETS, load_dataset

    with err.status(f"Loading {DATASETS[dataset].title}..."):
        return load_dataset(data_dir, dataset=dataset)
