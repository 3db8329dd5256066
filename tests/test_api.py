"""The Python API (`firstnet.api`, exported lazily from `firstnet`): each function against what the
command line and the lower layers compute, and every docstring example run as a doctest."""

from __future__ import annotations

import doctest
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import firstnet
from firstnet import api, training
from firstnet.cli import main
from firstnet.config import TrainConfig
from firstnet.errors import CheckpointError, FirstnetError
from firstnet.scratch.fit import FIXED_FIELDS


@pytest.fixture(scope="module")
def mlp_run(mnist):
    return firstnet.train("mlp", data=mnist, epochs=1, hidden=64, progress=False)


def test_every_docstring_example_runs():
    """The examples of docs/api.md's functions are doctests: they train on the real MNIST (`Run`'s
    live in `firstnet.training`)."""
    for module, least in ((api, 30), (training, 10)):
        failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert tried >= least and failures == 0, module.__name__


def test_import_firstnet_loads_no_torch_until_a_name_is_used():
    code = (
        "import sys, firstnet\n"
        "light = 'torch' not in sys.modules\n"
        "firstnet.train\n"
        "print(light, 'torch' in sys.modules, sorted(set(firstnet.__all__) - set(dir(firstnet))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["True", "True", "[]"], result.stderr


def test_the_exported_names_are_the_api_and_nothing_else_resolves():
    public = {name for name in vars(api) if not name.startswith("_")}
    assert set(firstnet.__all__) <= public
    for name in firstnet.__all__:
        assert getattr(firstnet, name) is getattr(api, name)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        firstnet.trian  # noqa: B018


def test_load_mnist_is_the_data_layers_mnist(mnist):
    data = firstnet.load_mnist()
    assert data.train_images.shape == (60000, 28, 28) and data.test_labels.shape == (10000,)
    assert np.array_equal(data.test_images, mnist.test_images)


def test_train_returns_a_run_whose_evaluation_is_its_last_epoch(mlp_run, mnist):
    assert mlp_run.config.model == "mlp" and mlp_run.config.hidden == 64
    assert len(mlp_run.history) == 1
    report = mlp_run.evaluate(mnist)
    assert report["accuracy"] == pytest.approx(mlp_run.history[-1]["test_acc"], abs=1e-4)
    assert sum(map(sum, report["confusion_matrix"])) == 10000 and report["accuracy"] > 0.95


def test_predict_gives_probabilities_that_match_evaluate(mlp_run, mnist):
    probabilities = mlp_run.predict(mnist.test_images[:500])
    assert probabilities.shape == (500, 10)
    assert np.allclose(probabilities.sum(1), 1, atol=1e-4)
    right = (probabilities.argmax(1) == mnist.test_labels[:500]).mean()
    assert right > 0.95
    one = mlp_run.predict(mnist.test_images[0])  # one image (28, 28)
    floats = mlp_run.predict(mnist.test_images[:1] / 255.0)  # floats in [0, 1]
    assert np.allclose(one, probabilities[:1], atol=1e-5) and np.allclose(floats, one, atol=1e-4)
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\)"):
        mlp_run.predict(np.zeros((3, 784), dtype=np.uint8))


def test_save_writes_a_run_the_command_line_reads_and_load_gives_it_back(mlp_run, mnist, tmp_path):
    folder = mlp_run.save(tmp_path / "api-run")
    assert mlp_run.path == folder and (folder / "model.safetensors").is_file()
    back = firstnet.Run.load(folder)
    assert back.config == mlp_run.config and back.history == mlp_run.history
    images = mnist.test_images[:200]
    assert np.allclose(back.predict(images), mlp_run.predict(images), atol=1e-6)


def test_eval_command_reads_a_saved_run_and_agrees_with_the_api(mlp_run, mnist, tmp_path, capsys):
    folder = mlp_run.save(tmp_path / "agree")
    capsys.readouterr()
    assert main(["eval", str(folder), "--json", "--out-dir", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == pytest.approx(mlp_run.evaluate(mnist)["accuracy"], abs=1e-9)


def test_train_into_a_folder_stops_on_ctrl_c_and_resume_reaches_the_unstopped_run(mnist, tmp_path):
    settings = {"epochs": 2, "hidden": 32, "train_limit": 3000, "seed": 3, "progress": False}
    whole = firstnet.train("mlp", data=mnist, path=tmp_path / "whole", **settings)
    assert whole.finished and whole.path == tmp_path / "whole"
    assert {"config.json", "metrics.jsonl", "model.safetensors", "curves.png"} <= {
        path.name for path in whole.path.iterdir()
    }

    def ctrl_c(record: dict) -> None:
        signal.raise_signal(signal.SIGINT)  # what a terminal's Ctrl-C (or Jupyter's stop) sends

    folder = tmp_path / "stopped"
    stopped = firstnet.train("mlp", data=mnist, path=folder, on_epoch=ctrl_c, **settings)
    assert not stopped.finished and len(stopped.history) == 1
    assert (folder / "checkpoint.safetensors").is_file()
    assert not (folder / "model.safetensors").exists()
    back = firstnet.resume(folder, mnist, progress=False)
    assert back.finished and back.history[-1]["test_acc"] == whole.history[-1]["test_acc"]
    assert back.history[-1]["train_loss"] == whole.history[-1]["train_loss"]
    with pytest.raises(CheckpointError, match="already finished"):
        firstnet.resume(folder, mnist, progress=False)


def test_train_refuses_a_folder_that_holds_something_else(mnist, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FirstnetError):
        firstnet.train("linear", data=mnist, path=tmp_path, epochs=1, progress=False)
    assert [path.name for path in tmp_path.iterdir() if path.name != ".lock"] == ["notes.txt"]


def test_train_numpy_is_the_homework_in_a_run(mnist):
    run = firstnet.train_numpy(data=mnist, epochs=2, hidden=64, train_limit=10000, progress=False)
    assert run.config.precision == "fp32" and run.history[-1]["test_acc"] > 0.85
    assert run.evaluate(mnist)["accuracy"] == pytest.approx(run.history[-1]["test_acc"], abs=2e-3)


def test_a_stopped_numpy_run_keeps_its_epochs_and_no_model(mnist, tmp_path):
    cfg = TrainConfig(**FIXED_FIELDS, epochs=3, hidden=32, train_limit=2000)
    folder = tmp_path / "numpy"
    epochs_done = []  # stopped as Ctrl-C stops it, after the first epoch
    run = training.train_run(
        cfg, mnist, folder, progress=False, on_epoch=epochs_done.append,
        should_stop=lambda: bool(epochs_done), numpy=True,
    )  # fmt: skip
    assert not run.finished and [record["epoch"] for record in run.history] == [1]
    kept = {path.name for path in folder.iterdir()} - {".lock"}
    assert kept == {"config.json", "metrics.jsonl", "curves.png"}
    with pytest.raises(CheckpointError):
        firstnet.resume(folder, mnist, progress=False)


def test_gradcheck_reports_every_activation_and_parameter():
    result = firstnet.gradcheck()
    assert result["passed"]
    assert set(result["autograd"]["relu"]) >= {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert len(result["finite_differences"]) == len(result["autograd"]) >= 10


@pytest.mark.parametrize(
    "draw",
    [
        lambda run, data: firstnet.figure_curves(run),
        lambda run, data: firstnet.figure_confusion(run, data),
        lambda run, data: firstnet.figure_digits(data, per_class=2),
        lambda run, data: firstnet.figure_activations("smooth-modern"),
        lambda run, data: firstnet.figure_loss_surface(),
    ],
    ids=["curves", "confusion", "digits", "activations", "loss-surface"],
)
def test_figures_come_back_as_figures_and_are_written_only_when_asked(
    draw, mlp_run, mnist, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    fig = draw(mlp_run, mnist)
    assert isinstance(fig, Figure) and fig.axes and list(tmp_path.iterdir()) == []
    plotted = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert plotted and all(ax.has_data() for ax in plotted)  # no empty panel
    pixels = rendered(fig)
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > 50  # drawn lines, text and fills, not a blank canvas


def rendered(fig) -> np.ndarray:
    """The figure as a PNG at the house resolution, cropped tight, decoded to pixels."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))


def test_a_figure_is_written_where_asked(mlp_run, tmp_path):
    fig = firstnet.figure_curves(mlp_run, path=tmp_path / "curves.png")
    assert isinstance(fig, Figure)
    written = np.asarray(Image.open(tmp_path / "curves.png"))
    assert np.array_equal(written, rendered(fig))  # the file is this figure, drawn whole
    losses = [record["train_loss"] for record in mlp_run.history]
    assert any(list(line.get_ydata()) == losses for line in fig.axes[0].lines)


def test_experiment_returns_its_table_as_data(mnist, tmp_path):
    results = firstnet.experiment("no-activation", data=mnist, quick=True, out_dir=tmp_path)
    rows = results["rows"]
    assert [row["model"] for row in rows] == ["linear", "identity", "relu"]
    assert all(0.5 < acc <= 1 for row in rows for acc in row["test_acc"])
    assert (tmp_path / "no-activation" / "results.md").is_file()
    again = firstnet.experiment("no-activation", data=mnist, quick=True, out_dir=tmp_path)
    assert again["trained_cells"] == 0 and again["rows"] == rows  # the cells on disk are reused


def test_search_returns_what_the_study_folder_holds_and_resume_reuses_the_retraining(tmp_path):
    fix = {"model": "linear", "epochs": 1}
    found = firstnet.architecture_search(trials=3, fix=fix, out_dir=tmp_path, seed=1)
    assert len(found["rows"]) == 3 and not found["interrupted"]
    assert {row["config"]["model"] for row in found["rows"]} == {"linear"}
    best = max(found["rows"], key=lambda row: row["val_acc"])
    assert found["best"]["number"] == best["number"] and best in found["front"]
    stored = json.loads((tmp_path / "best.json").read_text())
    assert stored["lr"] == pytest.approx(best["config"]["lr"])
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["trial"] == best["number"] and not found["final"]["reused"]
    assert found["final"]["test_acc"] == final["test_acc"] > 0.85
    again = firstnet.architecture_search(resume=tmp_path)
    assert len(again["rows"]) == 3 and again["final"]["reused"]
    assert again["final"]["test_acc"] == final["test_acc"]
    (tmp_path / "final.json").write_text('{"trial": ')  # damaged: retrained, not an error
    mended = firstnet.architecture_search(resume=tmp_path)
    assert not mended["final"]["reused"] and mended["final"]["trial"] == best["number"]
    assert json.loads((tmp_path / "final.json").read_text())["trial"] == best["number"]


def test_search_with_a_wrong_option_is_a_clear_error_and_writes_nothing(tmp_path):
    with pytest.raises(FirstnetError, match="trials"):
        firstnet.architecture_search(trials=0, out_dir=tmp_path / "study")
    with pytest.raises(FirstnetError):
        firstnet.architecture_search(fix={"seed": 3}, out_dir=tmp_path / "study")
    assert not (tmp_path / "study").exists()


def test_demo_answers_with_the_reports_claims_for_its_three_runs(
    mnist, tmp_path, monkeypatch, capsys
):
    """`firstnet demo` trains into run directories and prints the report's claims of those runs.
    Its trainings are cut to a few images here (the gates and the report train them whole)."""
    from firstnet import data as data_layer
    from firstnet import report

    trained, whole = [], api.train

    def small(**config) -> firstnet.Run:
        trained.append(whole(**config | {"epochs": 1, "train_limit": 3000, "test_limit": 1000}))
        return trained[-1]

    monkeypatch.setattr(api, "train", small)
    assert main(["demo", "--runs-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert [run.config.model for run in trained] == list(report.DEMO_MODELS)
    assert all(run.path.parent == tmp_path and run.finished for run in trained)

    assert main(["demo", "--runs-dir", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)  # one document: the data's answers and the runs
    facts = printed["data"]
    assert facts["separable"]["separable"] is False  # the proof: tests/test_separable.py
    assert {k: v for k, v in facts.items() if k != "separable"} == data_layer.data_summary(mnist)
    linear, mlp, cnn = (run.history[-1] for run in trained[:3])
    claims = report.data_claims(facts, mnist.classes) + report.linear_claims(linear)
    claims += report.mlp_claims(mlp, trained[1].config) + report.deep_claims(cnn)
    assert len(claims) == 7  # the separable claim moved from the linear model to the data
    for claim in claims:  # the table of the first demo (its proof's seconds were its own)
        shown = claim["measured"].split(" proved it in ")[0]
        assert claim["lecture"] in table and shown in table, claim
    results = printed["results"]
    for run in trained[3:]:
        record = results[run.config.model]
        assert record["run"] == str(run.path) and record["test_acc"] == run.history[-1]["test_acc"]


def test_bench_summarises_one_training_per_seed(mnist):
    settings = {"epochs": 1, "train_limit": 5000, "progress": False}
    result = firstnet.bench("linear", data=mnist, seeds=2, **settings)
    alone = [firstnet.train("linear", data=mnist, seed=seed, **settings) for seed in (0, 1)]
    expected = [run.history[-1]["test_acc"] for run in alone]
    assert result["runs"] == 2 and result["accuracies"] == pytest.approx(expected, abs=1e-9)
    assert result["test_acc_mean"] == pytest.approx(np.mean(expected), abs=1e-9)
    assert result["test_acc_min"] == min(expected) and result["precision"] in ("fp32", "bf16")
    assert result["time_to"][0.98]["reached"] == 0  # a linear model never reaches 98%


def test_decision_boundary_trains_each_model_and_draws_every_frame():
    result = firstnet.decision_boundary(steps=300, frames=4, grid=40, dpi=40, progress=False)
    assert len(result.frames) == 4 and result.frames[0].ndim == 3
    assert result.gif[:6] in (b"GIF87a", b"GIF89a") and result.png[:4] == b"\x89PNG"
    linear, mlp = (run.history for run in result.runs)
    assert len(linear) == len(mlp) == 300
    # two spirals: no line separates them, a small MLP does far better
    assert linear[-1]["train_acc"] < 0.8 < mlp[-1]["train_acc"]


def test_importing_firstnet_sets_nothing_global():
    """No backend chosen, no rcParams changed, no thread pool started at import: a notebook keeps
    its own matplotlib settings (its figures are firstnet's business only inside firstnet's
    functions)."""
    script = """
import sys, threading, matplotlib
before, threads = dict(matplotlib.rcParams), threading.active_count()
backend = before["backend"]
import firstnet.api, firstnet.report, firstnet.serve.app, firstnet.search.summary
import firstnet.figures.boundary, firstnet.figures.loss_slice, firstnet.experiments.runner
assert matplotlib.rcParams["backend"] == backend, matplotlib.rcParams["backend"]
changed = sorted(key for key, value in matplotlib.rcParams.items() if before[key] != value)
assert changed == [], changed
assert threading.active_count() == threads, threading.enumerate()
from concurrent.futures import Executor
pools = [(m, k) for m, module in list(sys.modules.items()) if m.startswith("firstnet")
         for k, value in vars(module).items() if isinstance(value, Executor)]
assert pools == [], pools  # a pool made at import starts its threads later, on first use
"""
    svg = os.environ | {"MPLBACKEND": "svg"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=svg)
    assert result.returncode == 0, result.stderr
