"""Terminal output: progress bars and tables (rich), and Ctrl-C handling for long jobs."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from firstnet.loop import Progress as TrainProgress

out = Console()
err = Console(stderr=True)


@contextmanager
def training_bar(label: str) -> Iterator[Callable[[TrainProgress], None]]:
    """A progress bar on stderr; yields the `on_progress` callback for `Trainer.run`."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[stats]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=False) as bar:
        tasks: dict[int, int] = {}

        def update(p: TrainProgress) -> None:
            if p.epoch not in tasks:
                tasks[p.epoch] = bar.add_task(f"{label} epoch {p.epoch}/{p.epochs}", total=p.batches, stats="")
            stats = f"loss {p.train_loss:.4f}  acc {100 * p.train_acc:5.2f}%  {p.samples_per_s:,.0f} img/s"
            bar.update(tasks[p.epoch], completed=p.batch, stats=stats)

        yield update


@contextmanager
def task_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr for `total` units of work; yields `advance(count=1, description=None)`."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(count: int = 1, description: str | None = None) -> None:
            bar.update(task, advance=count, **({"description": description} if description else {}))

        yield advance


@contextmanager
def stop_on_sigint() -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C asks the job to stop at the next safe point; a second one aborts at once."""
    requested = False

    def handler(signum, frame):
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        err.print("[yellow]Stopping after this batch and saving a checkpoint (Ctrl-C again to abort)...")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)


def error_table(title: str, errors: dict[str, dict[str, float]], tolerance: float) -> Table:
    """Errors as a table: a row per key of `errors` (e.g. activation), a column per inner key (e.g. parameter);
    entries at or above `tolerance` in red."""
    columns = list(next(iter(errors.values())))
    table = Table(title=f"{title}; pass < {tolerance:g}, failures in red", box=box.SIMPLE, show_edge=False,
                  pad_edge=False, padding=(0, 0, 0, 1))  # fits an 80-column terminal
    table.add_column("activation", no_wrap=True, min_width=max(len(name) for name in errors))
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for name, row in errors.items():
        table.add_row(name, *(f"{row[c]:.1e}" if row[c] < tolerance else f"[bold red]{row[c]:.1e}" for c in columns))
    return table
