"""The command line's own terminal work: its tables, and a run's data loaded. The consoles, progress
bars, Ctrl-C handling and the loading spinner it shares with the Python API are in
`firstnet.terminal`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from firstnet.terminal import load_data

if TYPE_CHECKING:
    from firstnet.data import MNIST


def load_run_data(run: Path, data_dir: Path | None) -> MNIST:
    """The data set a run was trained on (its config's `dataset`)."""
    from firstnet.runs import read_config

    return load_data(data_dir, read_config(run).dataset)


def error_table(title: str, errors: dict[str, dict[str, float]], tolerance: float) -> Table:
    """Errors as a table: a row per key of `errors` (e.g. activation), a column per inner key (e.g.
    parameter); entries at or above `tolerance` in red."""
    columns = list(next(iter(errors.values())))
    table = Table(
        title=f"{title}; pass < {tolerance:g}, failures in red",
        box=box.SIMPLE,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, 1),  # fits an 80-column terminal
    )
    table.add_column("activation", no_wrap=True, min_width=max(len(name) for name in errors))
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for name, row in errors.items():
        cells = [
            f"{row[c]:.1e}" if row[c] < tolerance else f"[bold red]{row[c]:.1e}" for c in columns
        ]
        table.add_row(name, *cells)
    return table
