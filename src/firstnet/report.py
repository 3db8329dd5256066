"""The lecture's claims beside the numbers firstnet measured."""

from __future__ import annotations

from rich.table import Table

MINIMAL_LINES = 59  # `wc -l examples/minimal.py`; a test keeps this in step with the file


def claims_table(summary: dict, results: dict[str, dict]) -> Table:
    """Rows of (lecture's claim, measured, command) from `data_summary` and final epoch records."""
    table = Table(title="Your First Deep Network: the lecture's claims, measured")
    for column in ("the lecture", "measured by firstnet", "command"):
        table.add_column(column)
    table.add_row("D (dimension of a sample)?  \\[slide: '764 units']", f"{summary['dimension']} = 28 x 28",
                  "firstnet data")
    table.add_row("How many classes?", str(summary["num_classes"]), "firstnet data")
    linear, mlp = results.get("linear"), results.get("mlp")
    if linear:
        separable = "no" if linear["train_acc"] < 1 else "yes"
        table.add_row("Linearly separable?",
                      f"{separable}: the linear model fits {100 * linear['train_acc']:.2f}% of the training set",
                      "firstnet train --model linear")
        table.add_row("A linear model reaches 94%",
                      f"test {100 * linear['test_acc']:.2f}%, train {100 * linear['train_acc']:.2f}% "
                      f"({linear['elapsed_s']:.1f} s)", "firstnet train --model linear")
    if mlp:
        table.add_row("3-layer MLP with ReLU (784-H-H-10)",
                      f"test {100 * mlp['test_acc']:.2f}%, train {100 * mlp['train_acc']:.2f}% "
                      f"({mlp['elapsed_s']:.1f} s)", "firstnet train --model mlp")
    cnn = results.get("cnn")
    if cnn:
        table.add_row("A deep network reaches 99.5%",
                      f"test {100 * cnn['test_acc']:.2f}% with a 5-layer CNN ({cnn['elapsed_s']:.1f} s)",
                      "firstnet train --model cnn")
    table.add_row("How many lines of code reach 99.5%?", f"{MINIMAL_LINES} lines, torch + numpy only",
                  "python examples/minimal.py")
    return table
