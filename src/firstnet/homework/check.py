"""`firstnet check FILE`: run a student's `backward` on the homework's cases, in a process with
limits, and say for each gradient whether it is right or which mistake makes it wrong.

The student's file runs in `student` (a separate Python, isolated mode, an audit hook) with at most
CPU_S seconds of CPU, WALL_S seconds in all, MEMORY_BYTES of address space and FILE_BYTES per file
written, in a temporary folder that is its only place to write; its process group is killed at the
end. `check(backward)` does the same for a function of the caller's own process (a notebook cell),
without the limits: it is the caller's own code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import numpy as np

from firstnet.activations import ACTIVATIONS
from firstnet.homework import derivatives
from firstnet.homework.derivation import NAMES, Case, cases, forward
from firstnet.homework.diagnose import ORDER, verdicts

CPU_S, WALL_S = 20, 30
MEMORY_BYTES = 2 << 30  # not on macOS, which refuses to limit it
FILE_BYTES = 16 << 20
ANCHOR = "docs/homework.md"


def write_cases(folder: Path, chosen: list[Case]) -> list[dict]:
    """The cases and their caches as one .npz in `folder` for the student's process; the caches."""
    caches = [forward(case.params, case.X) for case in chosen]
    arrays = {"count": np.array(len(chosen)), "exercise": np.array("mlp")}
    for index, (case, cache) in enumerate(zip(chosen, caches, strict=True)):
        arrays |= {f"{index}/params/{name}": value for name, value in case.params.items()}
        arrays |= {f"{index}/cache/{name}": value for name, value in cache.items()}
        arrays[f"{index}/y"] = case.y
    np.savez(folder / "cases.npz", **arrays)
    return caches


def run_file(
    path: Path, folder: Path, cpu_s: int = CPU_S, wall_s: float = WALL_S
) -> tuple[dict | None, dict | None]:
    """What the student's process answered, {"answers": {key: array}, "errors": ...} (the keys
    and the errors as the exercise names them), or the failure {"line", "details"}."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [sys.executable, "-I", "-m", "firstnet.homework.student", str(path), str(folder),
               str(cpu_s), str(MEMORY_BYTES), str(FILE_BYTES)]  # fmt: skip
    log = folder / "stderr.txt"  # what it prints goes nowhere; its errors to a file of bounded size
    with log.open("wb") as errors, subprocess.Popen(
        command, cwd=folder, env=environment, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=errors, start_new_session=os.name == "posix",
    ) as process:  # fmt: skip
        try:
            process.wait(timeout=wall_s)
        except subprocess.TimeoutExpired:
            line = f"your code did not finish within {wall_s:g} s (an endless loop?)"
            return None, {"line": line, "details": ""}
        finally:
            if hasattr(os, "killpg"):
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # anything it started goes with it
            process.kill()
    try:
        return answers_of(folder, process.returncode, log, cpu_s)
    except (OSError, ValueError, KeyError, TypeError) as damaged:  # the student's code wrote there
        return None, {"line": f"the check could not read what the code left ({damaged})",
                      "details": ""}  # fmt: skip


def answers_of(folder: Path, returncode: int, log: Path, cpu_s: int):
    """What the student's process left in `folder`: its answers, or why it left none."""
    failure = folder / "failure.json"
    if failure.is_file():
        found = json.loads(failure.read_text())
        return None, {"line": str(found["line"]), "details": str(found.get("details", ""))}
    if returncode != 0 or not (folder / "answers.npz").is_file():
        if returncode == -getattr(signal, "SIGXCPU", -1):
            return None, {"line": f"your code used more than {cpu_s} s of CPU", "details": ""}
        last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no message"]
        if "MemoryError" in last[0] or returncode == -signal.SIGKILL:
            return None, {"line": "your code asked for more memory than the check allows",
                          "details": ""}  # fmt: skip
        return None, {"line": f"the check's process failed: {last[0]}", "details": ""}
    data = np.load(folder / "answers.npz")
    answers = {key: data[key] for key in data.files}
    return {"answers": answers, "errors": json.loads((folder / "errors.json").read_text())}, None


def judge(chosen: list[Case], caches: list[dict], found: dict) -> dict:
    """The report: every gradient's verdict on the cases backward answered, the cases where it
    raised, and whether all hold."""
    errors = found["errors"]
    for error in errors:
        error["sizes"] = chosen[error["case"]].sizes
    by_case: dict[int, dict] = {}
    for key, value in found["answers"].items():  # "CASE/NAME" from the student's process
        number, name = key.split("/") if isinstance(key, str) else key
        by_case.setdefault(int(number), {})[name] = value
    numbers = sorted(by_case)
    if not numbers:
        first = errors[0]
        return {"ok": False, "failure": {"line": f"{first['line']} (on every case)",
                                         "details": first["details"]}}  # fmt: skip
    chosen, caches = [chosen[i] for i in numbers], [caches[i] for i in numbers]
    answers = [by_case[i] for i in numbers]
    bad = [name for name in NAMES for answer in answers
           if not np.all(np.isfinite(np.asarray(answer[name], dtype=float)))]  # fmt: skip
    if bad:
        gradients = [{"name": name, "ok": False, "why": "it holds NaN or inf"} if name in bad
                     else {"name": name, "ok": None, "why": "not judged beside a NaN"}
                     for name in ORDER]  # fmt: skip
    else:
        gradients = verdicts(chosen, caches, answers)
    return {"ok": all(g["ok"] for g in gradients) and not errors, "failure": None,
            "gradients": gradients, "errors": errors,
            "cases": [case.sizes for case in chosen]}  # fmt: skip


def check_file(
    path: str | Path, cpu_s: int = CPU_S, wall_s: float = WALL_S, secret: int | None = None
) -> dict:
    """Check the `backward` of the student's file `path` (see the module's docstring), on the
    public cases or on those a teacher's `secret` draws."""
    path = Path(path).resolve()
    if not path.is_file():
        return {"ok": False, "failure": {"line": f"{path}: no such file", "details": ""}}
    chosen = cases(secret)
    with tempfile.TemporaryDirectory(prefix="firstnet-check-") as folder:
        caches = write_cases(Path(folder), chosen)
        found, failure = run_file(path, Path(folder), cpu_s, wall_s)
    if failure is not None:
        return {"ok": False, "failure": failure}
    return judge(chosen, caches, found)


def check(backward: Callable, show: bool = True) -> dict:
    """Check `backward(params, cache, y)` in this process (a notebook cell: `firstnet.check`),
    print the report's lines (unless `show` is False) and return the report."""
    chosen = cases()
    caches = [forward(case.params, case.X) for case in chosen]
    answers, errors = {}, []
    for index, (case, cache) in enumerate(zip(chosen, caches, strict=True)):
        try:
            found = backward({k: v.copy() for k, v in case.params.items()},
                             {k: v.copy() for k, v in cache.items()}, case.y.copy())  # fmt: skip
        except Exception as error:  # noqa: BLE001 - reported as the case's, like the file's
            errors.append({"case": index, "line": f"backward raised {type(error).__name__}: "
                           f"{error}", "details": ""})  # fmt: skip
            continue
        missing = [name for name in NAMES if not isinstance(found, dict) or name not in found]
        if missing:
            line = f"backward returned {type(found).__name__}, not a dict of W1, b1, ... b3"
            report = {"ok": False, "failure": {"line": line if not isinstance(found, dict) else
                      f"backward's dict lacks {', '.join(missing)}", "details": ""}}  # fmt: skip
            if show:
                print("\n".join(report_lines(report)))
            return report
        for name in NAMES:
            answers[f"{index}/{name}"] = np.asarray(found[name], dtype=np.float64)
    report = judge(chosen, caches, {"answers": answers, "errors": errors})
    if show:
        print("\n".join(report_lines(report)))
    return report


def gradescope(report: dict) -> dict:
    """The report as Gradescope's autograder reads results.json: a point per gradient."""
    if report.get("failure"):
        return {"score": 0, "max_score": len(NAMES), "output": "\n".join(report_lines(report))}
    tests = [{"name": f"d{g['name']}", "score": int(bool(g["ok"])), "max_score": 1,
              "output": g["why"] or "right"} for g in report["gradients"]]  # fmt: skip
    return {"score": sum(test["score"] for test in tests), "max_score": len(NAMES),
            "tests": tests, "output": "\n".join(report_lines(report))}  # fmt: skip


def assert_right(path: str | Path, secret: int | None = None) -> None:
    """For a grader's pytest (Otter-Grader, nbgrader): an AssertionError with the report's lines
    unless every gradient of the file's `backward` is right."""
    report = check_file(path, secret=secret)
    assert report["ok"], "\n".join(report_lines(report))


def report_lines(report: dict) -> list[str]:
    """One line per gradient (a check mark, or what is wrong), or the one line of a failure."""
    if report.get("failure"):
        failure = report["failure"]
        return [
            f"✗ {failure['line']}",
            *([failure["details"].rstrip()] if failure["details"] else []),
        ]
    lines = []
    for gradient in report["gradients"]:
        name = gradient.get("label", f"d{gradient['name']}")
        if gradient["ok"]:
            lines.append(f"✓ {name}: agrees with the reference and with finite differences")
        elif gradient["ok"] is None:
            lines.append(f"? {name}: {gradient['why']}")
        else:
            lines.append(f"✗ {name}: {gradient['why']}")
    for error in report.get("errors", []):
        lines.append(f"✗ on the case {error['sizes']}: {error['line']}")
    total = sum(bool(g["ok"]) for g in report["gradients"])
    what = "derivatives" if report.get("exercise") == "activations" else "gradients"
    where = (f"{len(report['cases'])} cases ({'; '.join(report['cases'])})"
             if what == "gradients" else report["cases"][0])  # fmt: skip
    lines.append(f"{total} of {len(report['gradients'])} {what} right on {where}; "
                 f"where to look: {ANCHOR}")  # fmt: skip
    return lines


def check_derivatives_file(path: str | Path, cpu_s: int = CPU_S, wall_s: float = WALL_S) -> dict:
    """The second exercise: the file's `derivative(name, z, a)` for every activation."""
    path = Path(path).resolve()
    if not path.is_file():
        return {"ok": False, "failure": {"line": f"{path}: no such file", "details": ""}}
    names = tuple(ACTIVATIONS)
    arrays = {"exercise": np.array("activations"), "names": np.array(names)}
    for name in names:
        arrays[f"{name}/z"], arrays[f"{name}/a"] = derivatives.points(name)
    with tempfile.TemporaryDirectory(prefix="firstnet-check-") as folder:
        np.savez(Path(folder) / "cases.npz", **arrays)
        found, failure = run_file(path, Path(folder), cpu_s, wall_s)
    if failure is not None:
        return {"ok": False, "failure": failure}
    entries = [derivatives.verdict(name, found["errors"].get(name, found["answers"].get(name)))
               for name in names]  # fmt: skip
    where = f"{len(derivatives.POINTS)} points in [-7, 7], off every kink"
    return {"ok": all(entry["ok"] for entry in entries), "failure": None, "gradients": entries,
            "errors": [], "cases": [where], "exercise": "activations"}  # fmt: skip
