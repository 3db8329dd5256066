"""What an experiment writes: Markdown tables, results.md (title, budget, hardware, sections,
figures) and results.json (the same numbers, strict JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from firstnet.atomic import atomic_write
from firstnet.data.datasets import DATASETS
from firstnet.device import environment, hardware
from firstnet.experiments.cells import Context
from firstnet.stats import mean_std

RESULTS_MD, RESULTS_JSON = "results.md", "results.json"


def seed_mean(values: Sequence[float]) -> float:
    """The mean over the seeds that did not diverge; -1 when none did (so it sorts last)."""
    value = mean_std(values)[0]
    return -1.0 if math.isnan(value) else value


def pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def scientific(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1e}"


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()
) -> str:
    """A GitHub Markdown table; the columns whose index is in `right` are right-aligned. A "|" in
    a cell is escaped, so it shows as itself."""
    align = ["---:" if i in right else "---" for i in range(len(headers))]

    def line(cells) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headers), "| " + " | ".join(align) + " |", *map(line, rows)]) + "\n"


def table_of(rows: Sequence[dict], columns: dict, right: Sequence[int] = ()) -> str:
    """`markdown_table` of `rows`, with `columns` mapping each header to the function that formats a
    row's cell in that column."""
    body = [[show_cell(row) for show_cell in columns.values()] for row in rows]
    return markdown_table(list(columns), body, right)


def write_results(
    ctx: Context,
    title: str,
    budget: dict,
    sections: Sequence[str],
    payload: dict,
    figures: Sequence[Path],
) -> dict:
    """results.md (title, budget line, Markdown sections, figures) and results.json (`payload` plus
    the facts)."""
    env = environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    machine = f"{hardware(env)}, torch {env['torch']}"
    budget_text = ", ".join(f"{key} {show(value)}" for key, value in budget.items())
    seconds = sum(result.get("cell_seconds", 0) for result in payload.get("cells", {}).values())
    lines = [
        f"# {title}\n",
        f"Data: {DATASETS[ctx.data.dataset].title}. "
        f"Budget: {budget_text}; seeds: {ctx.seeds}. Hardware: {machine}. "
        f"Compute of all cells: {seconds:.0f} s.\n",
        *sections,
    ]
    lines += [f"![{path.stem}]({path.name})\n" for path in figures]
    payload = {
        "title": title,
        "budget": budget,
        "seeds": ctx.seeds,
        "environment": env,
        "cell_seconds_total": round(seconds, 3),
        "figures": [path.name for path in figures],
    } | payload
    atomic_write(ctx.out_dir / RESULTS_MD, "\n".join(lines))
    atomic_write(
        ctx.out_dir / RESULTS_JSON,
        json.dumps(strict_json(payload), indent=1, allow_nan=False) + "\n",
    )
    return payload


def show(value) -> str:
    """A budget value as results.md shows it: tuples as a/b/c, None (no limit) as 'all'."""
    if isinstance(value, tuple | list):
        return "/".join(map(str, value))
    return "all" if value is None else str(value)


def strict_json(value):
    """`value` with every NaN or infinity replaced by None, so results.json is valid JSON for any
    reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value
