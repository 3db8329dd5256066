"""The command line's own terminal work, shared by its commands (which import from here, never from
each other): its tables, the data questions' answers, the lecture's claims, each epoch's test
numbers, and a run's data loaded. The consoles, progress bars, Ctrl-C handling and the loading
spinner it shares with the Python API are in `firstnet.terminal`."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text

from firstnet.data.datasets import DATASETS
from firstnet.separable import answer, data_facts
from firstnet.terminal import err, load_data, out

if TYPE_CHECKING:
    from firstnet.data import LabelledData


def evaluated(reference: str | Path, data_dir: Path | None, out_dir: Path | None):
    """A finished run (a path or a name) on the test set of the data it was trained on: the run,
    the data, its test report (`Run.evaluate`) and the paths of confusion.png and errors.png, drawn
    into `out_dir` (default: the run directory). Only config.json and the weights are read."""
    from firstnet import api
    from firstnet.figures.confusion import confusion_figures

    run = api.Run.load(trained_run(reference), history=False)
    data = load_run_data(run.path, data_dir)
    report = run.evaluate(data)
    figures = confusion_figures(report, run.config.model, data, out_dir or run.path)
    return run, data, report, figures


def trained_run(reference: Path | str, runs_dir: Path = Path("runs")) -> Path:
    """The run directory `reference` names (`catalog.find_run`), `latest` and `latest-KIND` meaning
    the newest run that has weights; which one that is goes to stderr."""
    from firstnet.catalog import find_run

    run = find_run(reference, runs_dir, weights=True)
    if str(reference).startswith("latest"):
        err.print(f"{reference}: {run}", highlight=False)
    return run


def load_run_data(run: Path, data_dir: Path | None) -> LabelledData:
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
            Text(f"{row[c]:.1e}", style="" if row[c] < tolerance else "bold red") for c in columns
        ]
        table.add_row(name, *cells)
    return table


def report_epoch(record: dict) -> None:
    """The test numbers after each epoch, under the progress bars: watch for overfitting."""
    err.print(
        f"  epoch {record['epoch']}: test accuracy {100 * record['test_acc']:.2f}%, "
        f"test loss {record['test_loss']:.4f} (train {100 * record['train_acc']:.2f}%)",
        highlight=False,
    )


def next_steps(report: Path | None, runs_dir: Path) -> str:
    """What a student can do after `make demo` (or `firstnet demo`), with the runs it kept."""
    steps = [(f"open {report}", "the lecture, every claim and figure")] if report else []
    steps += [
        ("firstnet runs" + ("" if runs_dir == Path("runs") else f" --runs-dir {runs_dir}"),
         f"the runs it trained, in {runs_dir}/"),
        ("firstnet serve" + ("" if runs_dir == Path("runs") else f" --runs-dir {runs_dir}"),
         "draw a digit in your browser; the newest runs answer"),
        ("firstnet lab" + ("" if runs_dir == Path("runs") else f" --runs-dir {runs_dir}"),
         "the lecture live: gradient descent, Action!, MNIST trained and taught"),
        ("firstnet predict latest-cnn my-digit.png", "a photo or scan of your own digit"),
        ("firstnet check --template > my_backward.py", "the homework, then: firstnet check "
         "my_backward.py"),
        ("firstnet train --model mlp --hidden 64", "your own network (firstnet train --help)"),
        ("jupyter lab notebooks/", "the notebooks (pip install -e '.[notebooks]' first)"),
    ]  # fmt: skip
    width = max(len(command) for command, _ in steps)
    text = "Next:\n" + "\n".join(f"  {command:{width}}  {what}" for command, what in steps)
    beside = Path(sys.executable).parent / "firstnet"
    if shutil.which("firstnet") is None and beside.is_file():  # a venv that is not activated
        text += (
            f"\n(firstnet is in {beside.parent}, not on your PATH: run "
            f"`source {beside.parent / 'activate'}` first, or type {beside})"
        )
    return text


def claims_table(claims: list[dict]) -> Table:
    table = Table(title="Your First Deep Network: the lecture's claims, measured")
    for column in ("the lecture", "measured by firstnet", "command"):
        table.add_column(column)
    for claim in claims:
        table.add_row(claim["lecture"], claim["measured"], claim["command"])
    return table


def show_data(data: LabelledData, samples_path: Path, as_json: bool = False) -> dict:
    """Print the data questions' answers (a table, or JSON), write the sample grid and the
    pictures of the proof that the set is not linearly separable beside it, return the answers
    (`separable.data_facts`)."""
    from firstnet.figures.digits import sample_digits, separation_proof

    with err.status("Is it linearly separable? Solving a linear program (HiGHS)..."):
        summary = data_facts(data)
    proof = summary["separable"]
    proof_path = samples_path.parent / f"{data.dataset}-separable.png"
    figures = {"samples": str(sample_digits(data, samples_path))}
    if proof["separable"] is False:
        figures["proof"] = str(separation_proof(data, proof, proof_path))
    if as_json:
        print(json.dumps(summary | {"source": data.source} | figures, indent=2))
        return summary
    title = DATASETS[data.dataset].title
    table = Table(title=f"{title} ({data.source})")
    table.add_column("question")
    table.add_column("answer")
    rows = [
        ("D (dimension of a sample)", f"{summary['dimension']} = 28 x 28 pixels"),
        ("number of classes", f"{summary['num_classes']} ({', '.join(data.classes)})"),
        ("train / test images", f"{summary['train_size']:,} / {summary['test_size']:,}"),
        ("train images per class", " ".join(map(str, summary["train_class_counts"]))),
        ("test images per class", " ".join(map(str, summary["test_class_counts"]))),
        (
            "pixel mean / std (on [0, 1])",
            f"{summary['pixel_mean']:.4f} / {summary['pixel_std']:.4f}",
        ),
        ("linearly separable?", answer(proof, data.classes)),
    ]
    for question, reply in rows:
        table.add_row(question, reply)
    out.print(table)
    out.print(f"Sample digits: {figures['samples']}")
    if "proof" in figures:
        out.print(f"The proof, as pictures: {figures['proof']}")
    return summary
