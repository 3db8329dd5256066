"""The layout docs/architecture.md describes: each module name used once, imports point one way."""

from __future__ import annotations

import ast
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "firstnet"
# A module (or package) may import only from lower ranks: the layers of docs/architecture.md, bottom
# first. "firstnet" is the package itself, which only hands on `version` and, lazily, `api`.
RANKS = {
    "version": 0, "errors": 0, "firstnet": 1, "atomic": 1, "activations": 1,
    "data": 2, "config": 3, "separable": 3,
    "schedule": 4, "reporting": 4, "preprocess": 4, "device": 4, "models": 4, "stats": 4,
    "reference": 4, "tensorfile": 4, "evaluate": 5, "muon": 5, "terminal": 5, "static_step": 5,
    "trainer": 6,
    "runs": 7, "benchmark": 7, "catalog": 8,
    "figures": 8, "serve": 8, "export": 8, "scratch": 8, "homework": 8, "training": 9, "lab": 10,
    "search": 10, "experiments": 11,
    "report_notes": 11, "api": 12, "report_page": 12, "report": 13, "cli": 14, "__main__": 15,
}  # fmt: skip


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def unit(path_or_name: Path | str) -> str:
    """The top-level unit of a module: `figures` for firstnet/figures/boundary.py, `trainer` for
    firstnet.trainer, `firstnet` for the package itself."""
    if isinstance(path_or_name, Path):
        parts = path_or_name.relative_to(PACKAGE).with_suffix("").parts
        return "firstnet" if parts == ("__init__",) else parts[0]
    parts = path_or_name.split(".")
    return parts[1] if len(parts) > 1 else "firstnet"


def unit_exists(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


def imported(path: Path) -> set[str]:
    """The firstnet modules `path` imports, at any depth of its code (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "firstnet":
            # `from firstnet import runs` is firstnet.runs; `from firstnet import Run` the package
            names |= {
                f"firstnet.{a.name}" if unit_exists(a.name) else "firstnet" for a in node.names
            }
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("firstnet"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("firstnet")}
    return names


def test_no_module_name_twice():
    counts = Counter(path.name for path in modules() if path.name != "__init__.py")
    assert [name for name, count in counts.items() if count > 1] == []


def test_every_unit_has_a_rank():
    assert {unit(path) for path in modules()} == set(RANKS)


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    own = unit(path)
    upward = [
        name for name in imported(path) if unit(name) != own and RANKS[unit(name)] >= RANKS[own]
    ]
    if own == "firstnet":  # the package re-exports the API, lazily (PEP 562): that one look up
        upward = [name for name in upward if name != "firstnet.api"]
    assert upward == [], f"{own} (rank {RANKS[own]}) imports {upward}"


# What only the library may touch: the training loops and the study's trial loop. A command that
# imported one of these would hold logic that Python users (firstnet.api) cannot reach.
LIBRARY_ONLY = ("firstnet.trainer", "firstnet.static_step", "firstnet.search.study", "optuna")


def every_import(path: Path) -> set[str]:
    """Every module `path` imports, and every name it imports from one, as "module.name"."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda path: path.name)
def test_the_commands_are_thin_wrappers_that_train_nothing_themselves(path):
    held = [
        name
        for name in every_import(path)
        if name.startswith(LIBRARY_ONLY) or name.endswith(".ScratchTrainer")
    ]
    assert held == [], f"{path.name} imports {held}: move that work into the library and the API"


def test_the_layer_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from firstnet.cli import main\n    import firstnet.runs\n")
    assert imported(module) == {"firstnet.cli", "firstnet.runs"}


@pytest.mark.parametrize(
    "script", sorted((PACKAGE.parents[1] / "benchmarks").glob("*.py")), ids=lambda path: path.name
)
def test_every_benchmark_script_imports(script, monkeypatch):
    """The benchmarks are not run by the suite (machines are noisy), but what they import from
    firstnet must exist: a renamed function once broke all of them."""
    monkeypatch.syspath_prepend(str(script.parent))
    monkeypatch.syspath_prepend(str(script.parents[1]))
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # a __main__ guard keeps it idle


def test_tests_share_helpers_through_conftest_or_helper_modules_not_other_tests():
    tests = Path(__file__).parent
    borrowed = [
        f"{path.name} imports {name}"
        for path in sorted(tests.glob("*.py"))
        for name in every_import(path)
        if name.startswith("tests.test_")
    ]
    assert borrowed == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("cmd_*.py")), ids=lambda p: p.name)
def test_commands_share_through_the_console_not_each_other(path):
    sideways = [name for name in imported(path) if name.startswith("firstnet.cli.cmd_")]
    assert sideways == [], f"{path.name} imports {sideways}: move what they share to cli/console.py"
