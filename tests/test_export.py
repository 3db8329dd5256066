"""Models out of firstnet: ONNX graphs that onnxruntime runs like firstnet, and bare weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, safe_open

from firstnet import export, runs
from firstnet.cli import main
from firstnet.config import TrainConfig
from firstnet.training import train_run


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory, mnist):
    """`firstnet train --model linear` with its defaults, as a run directory."""
    run_dir = runs.create_run_dir(tmp_path_factory.mktemp("linear"), "linear")
    assert train_run(TrainConfig(model="linear"), mnist, run_dir, progress=False).finished
    return run_dir


def check(run_dir, mnist, tmp_path) -> dict:
    _, model = runs.load_model(run_dir)
    path = export.export_onnx(model, tmp_path / "model.onnx")
    result = export.check_onnx(path, model, mnist.test_images)
    assert result["images"] == 10_000
    assert result["same_argmax"] == 1.0 and result["max_probability_difference"] <= 1e-4, result
    return result


def test_linear_and_mlp_graphs_agree_with_firstnet(linear_run, default_mlp_run, mnist, tmp_path):
    for run_dir in (linear_run, default_mlp_run):
        check(run_dir, mnist, tmp_path)


@pytest.mark.gate
def test_cnn_graph_agrees_with_firstnet(default_cnn_run, mnist, tmp_path):
    check(default_cnn_run, mnist, tmp_path)


def test_the_graph_takes_any_batch_size(default_mlp_run, mnist, tmp_path):
    path = export.export_onnx(runs.load_model(default_mlp_run)[1], tmp_path / "model.onnx")
    for count in (1, 7, 256):
        assert export.onnx_logits(path, mnist.test_images[:count]).shape == (count, 10)


def test_weights_alone_with_their_layout(default_mlp_run, tmp_path):
    cfg, model = runs.load_model(default_mlp_run)
    path = export.export_weights(cfg, model, tmp_path / "w.safetensors")
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    layout = json.loads(metadata["layout"])
    assert layout == {name: list(t.shape) for name, t in model.state_dict().items()}
    assert all(torch.equal(tensors[name], t) for name, t in model.state_dict().items())
    assert json.loads(metadata["config"])["hidden"] == 256


def test_the_export_command(default_mlp_run, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "mlp.onnx"
    assert main(["export", str(default_mlp_run), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["file"] == str(out) and result["same_argmax"] == 1.0 and out.is_file()
    assert main(["export", str(default_mlp_run), "--format", "safetensors", "--out",
                 str(tmp_path / "w.safetensors")]) == 0  # fmt: skip


def test_a_missing_exporter_says_how_to_install_it(monkeypatch):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(
        ImportError(name)) if name == "onnxruntime" else real(name, *a, **k))  # fmt: skip
    with pytest.raises(Exception, match=r"pip install 'firstnet\[export\]'"):
        export.onnx_logits("model.onnx", np.zeros((1, 28, 28), np.uint8))
