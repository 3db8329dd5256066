"""The notebooks of notebooks/, one per part of the lecture: stored without outputs, and each run
top to bottom in a real Jupyter kernel on the real MNIST (nbclient; the dev extras install it)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from firstnet.report import minimal_lines

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

try:
    import nbformat
    from nbclient import NotebookClient
except ImportError:  # pragma: no cover - the dev extras install them; CI fails instead
    nbformat = None
needs_jupyter = pytest.mark.skipif(
    nbformat is None and not os.environ.get("CI"), reason="needs nbclient, nbformat and ipykernel"
)


def test_there_is_a_notebook_per_part_of_the_lecture():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@needs_jupyter
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


def text_of(book) -> str:
    """Everything the code cells printed."""
    return "".join(
        output.get("text", "")
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@needs_jupyter
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path, mnist):
    """A cell that raises fails the test (nbclient raises CellExecutionError)."""
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    client.execute()
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    printed = text_of(book)
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    figures = {"01": 3, "02": 1, "04": 3, "05": 1, "06": 2}.get(path.name[:2], 0)
    assert len(images) >= figures, printed
    if path.name.startswith("01"):
        assert "linearly separable? no" in printed
    if path.name.startswith("03"):
        assert "all gradients agree: True" in printed
    if path.name.startswith("06"):
        accuracy = float(re.search(r"test accuracy ([\d.]+)%", printed).group(1))
        assert accuracy >= 99.5 and f"\n{minimal_lines()} lines\n" in printed
    if path.name.startswith("07"):
        retrained = float(re.search(r"test after retraining ([\d.]+)%", printed).group(1))
        assert "best of 6 trials" in printed and retrained > 90
