"""`firstnet check`: correct derivations pass whatever their form, seeded mistakes get their own
diagnosis and nothing else, and the student's code runs under limits it cannot break."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import firstnet
from firstnet.homework.check import (
    assert_right,
    check,
    check_derivatives_file,
    check_file,
    report_lines,
)
from firstnet.homework.derivation import MISTAKES, NAMES, cases, forward, gradients
from firstnet.scratch.mlp import Cache
from firstnet.scratch.mlp import backward as scratch_backward

CORRECT = """
import numpy as np

def backward(params, cache, y):
    B = len(y)
    dZ3 = cache["P"].copy()
    dZ3[np.arange(B), y] -= 1
    dZ3 /= B
    dW3 = dZ3.T @ cache["A2"]
    db3 = dZ3.sum(axis=0)
    dZ2 = (dZ3 @ params["W3"]) * (cache["Z2"] > 0)
    dW2 = dZ2.T @ cache["A1"]
    db2 = dZ2.sum(axis=0)
    dZ1 = (dZ2 @ params["W2"]) * (cache["Z1"] > 0)
    dW1 = dZ1.T @ cache["X"]
    db1 = dZ1.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}
"""

# Correct too, written otherwise: example by example, einsum, a one-hot matrix, np.where masks and
# sums as products with ones, Heaviside.
CORRECT_OTHERWISE = {
    "loops": """
import numpy as np

def backward(params, cache, y):
    B = len(y)
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    for n in range(B):
        d3 = cache["P"][n].copy()
        d3[y[n]] -= 1
        d3 /= B
        grads["W3"] += np.outer(d3, cache["A2"][n])
        grads["b3"] += d3
        d2 = (params["W3"].T @ d3) * (cache["Z2"][n] > 0)
        grads["W2"] += np.outer(d2, cache["A1"][n])
        grads["b2"] += d2
        d1 = (params["W2"].T @ d2) * (cache["Z1"][n] > 0)
        grads["W1"] += np.outer(d1, cache["X"][n])
        grads["b1"] += d1
    return grads
""",
    "einsum": """
import numpy as np

def backward(params, cache, y):
    dZ3 = (cache["P"] - np.eye(cache["P"].shape[1])[y]) / len(y)
    dZ2 = np.einsum("nk,kh->nh", dZ3, params["W3"]) * (cache["Z2"] > 0)
    dZ1 = np.einsum("nh,hg->ng", dZ2, params["W2"]) * (cache["Z1"] > 0)
    return {"W3": np.einsum("nk,nh->kh", dZ3, cache["A2"]), "b3": dZ3.sum(0),
            "W2": np.einsum("nh,ng->hg", dZ2, cache["A1"]), "b2": dZ2.sum(0),
            "W1": np.einsum("ng,nd->gd", dZ1, cache["X"]), "b1": dZ1.sum(0)}
""",
    "one-hot, layer 1 first": """
import numpy as np

def backward(params, cache, y):
    Y = np.zeros_like(cache["P"])
    Y[np.arange(len(y)), y] = 1
    signals = {3: (cache["P"] - Y) / len(y)}
    signals[2] = signals[3] @ params["W3"] * np.where(cache["Z2"] > 0, 1.0, 0.0)
    signals[1] = signals[2] @ params["W2"] * np.where(cache["Z1"] > 0, 1.0, 0.0)
    inputs = {1: cache["X"], 2: cache["A1"], 3: cache["A2"]}
    ones = np.ones(len(y))
    out = {}
    for layer in (1, 2, 3):
        out[f"W{layer}"] = (inputs[layer].T @ signals[layer]).T
        out[f"b{layer}"] = ones @ signals[layer]
    return out
""",
    "heaviside": """
import numpy as np

def backward(params, cache, y):
    B = len(y)
    g = cache["P"] - (np.arange(cache["P"].shape[1]) == y[:, None])
    g = g / B
    out = {"W3": g.T.dot(cache["A2"]), "b3": np.sum(g, axis=0)}
    g = g.dot(params["W3"]) * np.heaviside(cache["Z2"], 0.0)
    out.update(W2=g.T.dot(cache["A1"]), b2=np.sum(g, axis=0))
    g = g.dot(params["W2"]) * np.heaviside(cache["Z1"], 0.0)
    out.update(W1=g.T.dot(cache["X"]), b1=np.sum(g, axis=0))
    return out
""",
    "the mean taken at the end": """
import numpy as np

def backward(params, cache, y):
    dZ3 = cache["P"].copy()
    dZ3[range(len(y)), y] -= 1
    dZ2 = dZ3 @ params["W3"] * (cache["Z2"] > 0)
    dZ1 = dZ2 @ params["W2"] * (cache["Z1"] > 0)
    total = {"W3": dZ3.T @ cache["A2"], "b3": dZ3.sum(0), "W2": dZ2.T @ cache["A1"],
             "b2": dZ2.sum(0), "W1": dZ1.T @ cache["X"], "b1": dZ1.sum(0)}
    return {name: value / len(y) for name, value in total.items()}
""",
}


def wrong(*edits: tuple[str, str]) -> str:
    source = CORRECT
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


NO_MEAN = ("    dZ3 /= B\n", "")
# Each mistake: the edit, and for each gradient it makes wrong the words its line must hold.
SEEDED = {
    "p instead of p - y": ([("    dZ3[np.arange(B), y] -= 1\n", "")],
                           {"W3": "P - Y", "b3": "P - Y", "W2": "dZ3 carries", "W1": "dZ3"}),
    "no 1/B": ([NO_MEAN], {"W3": "1/B of the batch mean is missing", "W1": "dZ3 carries"}),
    "1/B twice": ([("dZ3 /= B", "dZ3 /= B * B")], {"W3": "taken twice", "b1": "dZ3 carries"}),
    "sign": ([("dZ3 /= B", "dZ3 /= -B")], {"W3": "sign is flipped", "b2": "dZ3 carries"}),
    "no mask 2": ([(' * (cache["Z2"] > 0)', "")],
                  {"W2": "mask of layer 2 is missing", "W1": "dZ2 carries", "W3": None}),
    "no mask 1": ([(' * (cache["Z1"] > 0)', "")], {"W1": "mask of layer 1 is missing",
                                                  "b1": "mask of layer 1", "W2": None}),
    "mask 2 from layer 1": ([('* (cache["Z2"] > 0)', '* (cache["Z1"] > 0)')],
                            {"W2": "taken from layer 1", "W1": "dZ2 carries"}),
    "mask 1 from layer 2": ([('* (cache["Z1"] > 0)', '* (cache["Z2"] > 0)')],
                            {"W1": "taken from layer 2", "b1": "taken from layer 2"}),
    "mask 2 is A2": ([('* (cache["Z2"] > 0)', '* cache["A2"]')],
                     {"W2": "A2 itself", "W1": "dZ2 carries"}),
    "mask 1 is A1": ([('* (cache["Z1"] > 0)', '* cache["A1"]')], {"W1": "A1 itself"}),
    "W3 transposed": ([('dW3 = dZ3.T @ cache["A2"]', 'dW3 = cache["A2"].T @ dZ3')],
                      {"W3": "transposed", "W2": None}),
    "W2 transposed": ([('dW2 = dZ2.T @ cache["A1"]', 'dW2 = cache["A1"].T @ dZ2')],
                      {"W2": "transposed", "W1": None}),
    "W1 transposed": ([('dW1 = dZ1.T @ cache["X"]', 'dW1 = cache["X"].T @ dZ1')],
                      {"W1": "transposed"}),
    "b3 over the units": ([("db3 = dZ3.sum(axis=0)", "db3 = dZ3.sum(axis=1)")],
                          {"b3": "summed over the units"}),
    "b2 averaged": ([("db2 = dZ2.sum(axis=0)", "db2 = dZ2.mean(axis=0)")],
                    {"b2": "averaged over the batch"}),
    "b1 over the units": ([("db1 = dZ1.sum(axis=0)", "db1 = dZ1.sum(axis=1)")],
                          {"b1": "summed over the units"}),
    "no 1/B and W3 transposed": ([NO_MEAN, ('dW3 = dZ3.T @ cache["A2"]',
                                            'dW3 = cache["A2"].T @ dZ3')],
                                 {"W3": "transposed", "b3": "1/B of the batch mean"}),
    "no mask 2 and the sign": ([(' * (cache["Z2"] > 0)', ""), ("dZ3 /= B", "dZ3 /= -B")],
                               {"W3": "sign", "W2": "mask of layer 2 is missing"}),
    "p and b1 averaged": ([("    dZ3[np.arange(B), y] -= 1\n", ""),
                           ("db1 = dZ1.sum(axis=0)", "db1 = dZ1.mean(axis=0)")],
                          {"W3": "P - Y", "b1": "averaged over the batch"}),
    "no mask 1 and W2 transposed": ([(' * (cache["Z1"] > 0)', ""),
                                     ('dW2 = dZ2.T @ cache["A1"]', 'dW2 = cache["A1"].T @ dZ2')],
                                    {"W1": "mask of layer 1", "W2": "transposed", "W3": None}),
    "mask 2 is A2 and no 1/B": ([('* (cache["Z2"] > 0)', '* cache["A2"]'), NO_MEAN],
                                {"W3": "1/B", "W2": "A2 itself"}),
    "sign and b2 over the units": ([("dZ3 /= B", "dZ3 /= -B"),
                                    ("db2 = dZ2.sum(axis=0)", "db2 = dZ2.sum(axis=1)")],
                                   {"W3": "sign", "b2": "summed over the units"}),
}  # fmt: skip


def run_source(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<student>", "exec"), namespace)  # the student's file, in this process
    return check(namespace["backward"], show=False)


def test_a_notebook_checks_its_own_function_and_reads_the_lines(capsys):
    namespace: dict = {}
    exec(compile(wrong(NO_MEAN), "<cell>", "exec"), namespace)
    report = firstnet.check(namespace["backward"])
    printed = capsys.readouterr().out
    assert not report["ok"] and "✗ dW3: the 1/B of the batch mean is missing" in printed


def test_the_reference_is_the_numpy_mlps_backward():
    """With no mistake made, `reference.gradients` is `scratch.mlp.backward` (docs/gradients.md)."""
    for case in cases():
        cache = forward(case.params, case.X)
        mine = gradients(case.params, cache, case.y)
        keys = ("X", "Z1", "A1", "Z2", "A2", "Z3")
        theirs = scratch_backward(case.params, Cache(*(cache[key] for key in keys)), cache["P"],
                                  case.y, "relu")  # fmt: skip
        for name in NAMES:
            np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["straight", *CORRECT_OTHERWISE])
def test_every_correct_derivation_passes_on_every_case(name):
    report = run_source(CORRECT if name == "straight" else CORRECT_OTHERWISE[name])
    assert report["ok"], report_lines(report)
    assert len(report["cases"]) == 4 and not report["errors"]


def test_the_seeded_mistakes_get_their_diagnosis_and_no_other():
    """Each seeded mistake (one of the list in the issue, or two together): every gradient it makes
    wrong is named wrong for that reason, and every other one passes. Printed: how many of the
    seeded files got the right diagnosis."""
    assert len(SEEDED) >= 20 and len(CORRECT_OTHERWISE) + 1 >= 5
    right, problems = 0, []
    for label, (edits, expected) in SEEDED.items():
        report = run_source(wrong(*edits))
        by_name = {g["name"]: g for g in report["gradients"]}
        fine = not report["ok"]
        for name, words in expected.items():
            verdict = by_name[name]
            if words is None:
                fine &= verdict["ok"] is True  # not touched by this mistake
            else:
                fine &= verdict["ok"] is False and words in verdict["why"]
        explained = all("no known mistake" not in g["why"] for g in report["gradients"])
        if fine and explained:
            right += 1
        else:
            problems.append((label, report_lines(report)))
    print(f"seeded mistakes diagnosed right: {right} of {len(SEEDED)}")
    assert right >= 0.9 * len(SEEDED), problems
    assert not [p for p in problems if "no known mistake" not in " ".join(p[1])], problems


def test_an_unknown_mistake_is_said_to_be_unknown_with_its_error():
    report = run_source(wrong(('    dW1 = dZ1.T @ cache["X"]\n',
                               '    dW1 = 0.5 * dZ1.T @ cache["X"]\n')))  # fmt: skip
    verdict = {g["name"]: g for g in report["gradients"]}
    assert verdict["W1"]["why"] == "no known mistake explains it (relative error 0.5)"
    assert all(verdict[name]["ok"] for name in NAMES if name != "W1")


def test_nan_and_a_wrong_shape_are_said_plainly():
    nan = ("    db3 = dZ3.sum(axis=0)\n", "    db3 = dZ3.sum(axis=0) * np.nan\n")
    report = run_source(wrong(nan))
    verdict = {g["name"]: g for g in report["gradients"]}
    assert verdict["b3"] == {"name": "b3", "ok": False, "why": "it holds NaN or inf"}
    flat = run_source(wrong(("    dW2 = dZ2.T @ cache[\"A1\"]\n",
                             "    dW2 = (dZ2.T @ cache[\"A1\"]).ravel()\n")))  # fmt: skip
    why = {g["name"]: g["why"] for g in flat["gradients"]}["W2"]
    assert why.startswith("its shape is (") and "not (" in why


def test_a_notebook_function_that_returns_nothing_is_told_so():
    report = check(lambda params, cache, y: None, show=False)
    assert report["failure"]["line"] == "backward returned NoneType, not a dict of W1, b1, ... b3"


def test_every_mistake_the_checker_names_is_seeded():
    named = " ".join(MISTAKES)
    assert all(key in named for key in ("p-not-p-minus-y", "no-mean", "sign", "no-mask-2"))


def firstnet_check(path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstnet", "check", str(path), *flags],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_correct_file_passes_in_its_own_process_and_exits_0(tmp_path):
    template = subprocess.run([sys.executable, "-m", "firstnet", "check", "--template"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    body = CORRECT.split("def backward(params, cache, y):\n", 1)[1]
    head = template.split("def backward(params, cache, y):\n", 1)[0]
    student = tmp_path / "my_backward.py"
    student.write_text(head + "def backward(params, cache, y):\n" + body)
    result = firstnet_check(student)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("✓") == 6 and "6 of 6 gradients right on 4 cases" in result.stdout
    report = json.loads(firstnet_check(student, "--json").stdout)
    names = [g["name"] for g in report["gradients"]]
    assert report["ok"] and names == ["W3", "b3", "W2", "b2", "W1", "b1"]  # as derived


HOSTILE = {
    "a syntax error": ("def backward(params, cache, y)\n    return {}\n",
                       "a syntax error in my_backward.py, line 1"),
    "no backward": ("import numpy as np\n", "the file has no function backward(params, cache, y)"),
    "torch": ("import torch\n", "importing torch is not allowed: derive the gradients with NumPy"),
    "a write outside": ("open('OUTSIDE', 'w').write('x')\n", "writing OUTSIDE is not allowed"),
    "a fork bomb": ("import os\nwhile True:\n    os.fork()\n", "os.fork is not allowed"),
    "a subprocess": ("import subprocess\nsubprocess.run(['true'])\n",
                     "importing subprocess is not allowed"),
    "import_module": ("import importlib\nimportlib.import_module('firstnet.homework.derivation')\n",
                      "importing firstnet.homework.derivation is not allowed"),
    "ctypes by numpy": ("import numpy as np\nnp.ctypeslib.ctypes.string_at(0, 1)\n",
                        "is not allowed in a homework check"),
    "a directory descriptor": ("import os\nd = os.open('OUTSIDE_DIR', os.O_RDONLY)\n"
                               "os.open('escaped.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d)\n",
                               "writing escaped.txt is not allowed"),
    "sqlite": ("import sqlite3\n", "importing sqlite3 is not allowed"),
    "a removal": ("import os\nos.remove('OUTSIDE')\n", "os.remove is not allowed"),
    "10 GB": ("import numpy as np\nblock = np.ones(10 * 2**30 // 8)\n",
              "more memory than the check allows"),
    "a wrong dict": ("def backward(params, cache, y):\n    return {'W1': 1}\n",
                     "backward's dict lacks b1, W2, b2, W3, b3"),
    "its own exception": ("def backward(params, cache, y):\n    return 1 / 0\n",
                          "backward raised ZeroDivisionError: division by zero (on every case)"),
}  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE)
def test_bad_files_end_in_one_clear_line_and_nothing_escapes(name, tmp_path):
    outside = tmp_path / "escaped.txt"  # beside the student's file, outside the check's folder
    source, line = (text.replace("OUTSIDE_DIR", str(tmp_path)).replace("OUTSIDE", str(outside))
                    for text in HOSTILE[name])  # fmt: skip
    if name == "a removal":
        outside.write_text("the student's own file, which the check must not remove")
    student = tmp_path / "my_backward.py"
    student.write_text(source)
    report = check_file(student)
    assert not report["ok"] and line in report["failure"]["line"], report
    assert outside.exists() == (name == "a removal")
    if name == "its own exception":  # its own traceback: its file and line, none of firstnet's
        details = report["failure"]["details"]
        assert f'File "{student}", line 2, in backward' in details and "firstnet" not in details


def test_an_endless_loop_is_stopped(tmp_path):
    student = tmp_path / "my_backward.py"
    student.write_text("def backward(params, cache, y):\n    while True:\n        pass\n")
    report = check_file(student, cpu_s=1, wall_s=20)
    assert not report["ok"] and "more than 1 s of CPU" in report["failure"]["line"]
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\ndef backward(params, cache, y):\n    time.sleep(60)\n")
    report = check_file(sleeper, cpu_s=1, wall_s=1.5)
    assert "did not finish within 1.5 s" in report["failure"]["line"]


def test_a_grader_gets_gradescope_results_and_cases_of_its_own(tmp_path):
    student = tmp_path / "my_backward.py"
    student.write_text(wrong(NO_MEAN))
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "firstnet", "check", str(student), "--secret", "7",
               "--gradescope", str(results)]  # fmt: skip
    assert subprocess.run(command, capture_output=True, text=True).returncode == 1
    graded = json.loads(results.read_text())
    assert graded["max_score"] == 6 and graded["score"] == 0  # no 1/B: every gradient is off
    assert graded["tests"][0] == {"name": "dW3", "score": 0, "max_score": 1,
                                  "output": MISTAKES["no-mean"]}  # fmt: skip
    public, hidden = cases(), cases(secret=7)
    assert [case.sizes for case in hidden] != [case.sizes for case in public]
    assert [case.sizes for case in hidden] == [case.sizes for case in cases(secret=7)]
    assert hidden[1].X.shape[0] == 1 and hidden[2].kinks  # the same kinds of case
    right = tmp_path / "right.py"
    right.write_text(CORRECT)
    assert_right(right, secret=7)  # a grader's pytest passes it ...
    with pytest.raises(AssertionError, match="1/B of the batch mean is missing"):
        assert_right(student)  # ... and fails the other with its lines


DERIVATIVES = """
import math
import numpy as np

S, ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def derivative(name, z, a):
    inside = lambda low, high: ((z > low) & (z < high)).astype(float)
    if name == "identity":
        return np.ones_like(z)
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a**2
    if name == "hard_tanh":
        return inside(-1, 1)
    if name == "hard_sigmoid":
        return inside(-3, 3) / 6
    if name == "relu":
        return (z > 0).astype(float)
    if name in ("leaky_relu", "prelu"):
        return np.where(z > 0, 1.0, 0.01 if name == "leaky_relu" else 0.25)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(z))
    if name == "selu":
        return np.where(z > 0, S, S * ALPHA * np.exp(z))
    if name == "relu6":
        return inside(0, 6)
    if name == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * (1 + erf(z / math.sqrt(2))) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    if name == "silu":
        return sigmoid(z) * (1 + z * (1 - sigmoid(z)))
    if name == "softplus":
        return sigmoid(z)
    if name == "mish":
        t = np.tanh(np.log1p(np.exp(z)))
        return t + z * sigmoid(z) * (1 - t * t)
    raise NotImplementedError(name)
"""


def test_the_activations_exercise_passes_right_derivatives_and_names_slips(tmp_path):
    """Every derivative of the registry right passes; the derivative taken at a, a flipped sign,
    f(z) itself and an unknown error are each said for what they are."""
    right = tmp_path / "derivatives.py"
    right.write_text(DERIVATIVES)
    report = check_derivatives_file(right)
    assert report["ok"], report_lines(report)
    assert len(report["gradients"]) == 15
    slips = (
        DERIVATIVES.replace("return 1 - a**2", "return 1 - np.tanh(a) ** 2")
        .replace("return a * (1 - a)", "return -a * (1 - a)")
        .replace("return sigmoid(z)\n", "return np.log1p(np.exp(z))\n")
        .replace(
            "return np.where(z > 0, 1.0, np.exp(z))", "return np.where(z > 0, 1.0, 0.5 * np.exp(z))"
        )
    )
    wrong_file = tmp_path / "slips.py"
    wrong_file.write_text(slips)
    why = {g["name"]: g["why"] for g in check_derivatives_file(wrong_file)["gradients"]}
    assert why["tanh"].startswith("taken at a = f(z), not at z")
    assert why["sigmoid"] == "the sign is flipped"
    assert why["softplus"] == "that is f(z) itself, not its derivative"
    assert why["elu"].startswith("no known slip explains it (relative error")
    assert why["relu"] == why["gelu"] == "" and why["mish"] == ""  # the others still right
    command = [sys.executable, "-m", "firstnet", "check", str(right), "--exercise", "activations"]
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
