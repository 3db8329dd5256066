"""Run directories: files, atomic writes, checkpoints, resume, and clear errors for bad
checkpoints."""

from __future__ import annotations

import json
import time

import pytest
import torch

from firstnet import catalog, runs
from firstnet.atomic import atomic_write
from firstnet.errors import CheckpointError, StorageError
from firstnet.evaluate import probabilities
from firstnet.tensorfile import join_tensors, save_tensors, split_tensors
from firstnet.trainer import Trainer
from firstnet.training import Run, restore, train_run
from tests.conftest import small_config


def train_in(run_dir, data, cfg, should_stop=None) -> Run:
    return train_run(cfg, data, run_dir, progress=False, should_stop=should_stop)


def test_resume_reaches_the_same_result_as_an_uninterrupted_run(small_mnist, tmp_path):
    cfg = small_config(epochs=3, optimizer="adamw", lr=3e-3)  # optimizer state with several tensors
    (tmp_path / "whole").mkdir()
    whole = train_in(tmp_path / "whole", small_mnist, cfg)

    (tmp_path / "cut").mkdir()
    calls = iter(range(10_000))
    stopped = train_in(tmp_path / "cut", small_mnist, cfg, should_stop=lambda: next(calls) >= 33)
    kept = runs.read_checkpoint(tmp_path / "cut")
    assert not stopped.finished and (kept["epoch"], kept["batch"]) == (1, 13)  # mid-epoch 2
    assert not (tmp_path / "cut" / runs.MODEL).exists()

    cfg = runs.read_config(tmp_path / "cut")
    resumed = train_run(None, small_mnist, tmp_path / "cut", progress=False)
    assert resumed.finished

    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    strip = [
        [{k: v for k, v in r.items() if k != "elapsed_s"} for r in t.history]
        for t in (whole, resumed)
    ]
    assert strip[0] == strip[1]
    assert len(runs.read_metrics(tmp_path / "cut")) == 3
    assert not (tmp_path / "cut" / runs.CHECKPOINT).exists()  # finished runs keep only the model


def test_a_muon_run_cut_in_its_fractional_last_epoch_resumes_to_the_same_weights(
    small_mnist, tmp_path
):
    cfg = small_config(epochs=2.5, optimizer="muon")  # 50 steps: the third epoch has 10
    (tmp_path / "whole").mkdir()
    whole = train_in(tmp_path / "whole", small_mnist, cfg)
    (tmp_path / "cut").mkdir()
    calls = iter(range(10_000))
    train_in(tmp_path / "cut", small_mnist, cfg, should_stop=lambda: next(calls) >= 45)
    kept = runs.read_checkpoint(tmp_path / "cut")
    assert (kept["epoch"], kept["batch"]) == (2, 5)  # 5 steps into the short last epoch
    resumed = train_run(None, small_mnist, tmp_path / "cut", progress=False)
    assert resumed.finished and len(resumed.history) == 3
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_run_directory_contents(small_mnist, tmp_path):
    run = train_in(tmp_path, small_mnist, small_config(epochs=2))
    config = json.loads((tmp_path / runs.CONFIG).read_text())
    assert config["config"]["hidden"] == 32 and config["seed"] == 0
    assert {"torch", "numpy", "python", "device", "cpu", "firstnet"} <= config.keys()
    metrics = runs.read_metrics(tmp_path)
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[-1]["test_acc"] == run.history[-1]["test_acc"]
    cfg, model = runs.load_model(tmp_path)
    assert cfg == run.config
    images = torch.rand(4, 1, 28, 28)
    assert torch.allclose(model(images), run.model.eval()(images))
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary files left behind


def test_checkpoint_that_does_not_match_its_config(small_mnist, tmp_path):
    train_in(tmp_path, small_mnist, small_config(epochs=1))
    config = json.loads((tmp_path / runs.CONFIG).read_text())
    config["config"]["hidden"] = 64
    (tmp_path / runs.CONFIG).write_text(json.dumps(config))
    with pytest.raises(
        CheckpointError,
        match=r"does not match its config.json: .*hidden.0.weight: shape \(32, 784\)",
    ):
        runs.load_model(tmp_path)


def test_corrupt_or_missing_files_are_clear_errors(small_mnist, tmp_path):
    with pytest.raises(CheckpointError, match="not a firstnet run directory"):
        runs.load_model(tmp_path)
    train_in(tmp_path, small_mnist, small_config(epochs=1))
    (tmp_path / runs.MODEL).write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        runs.load_model(tmp_path)
    (tmp_path / runs.MODEL).unlink()
    with pytest.raises(CheckpointError, match="did not finish"):
        runs.load_model(tmp_path)
    (tmp_path / runs.CONFIG).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable config"):
        runs.read_config(tmp_path)


def test_existing_run_directory_is_not_overwritten(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="already exists"):
        runs.create_run_dir(tmp_path, "taken")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.jsonl"
    atomic_write(target, "old\n")
    with pytest.raises(TypeError):  # fails in the middle of writing
        atomic_write(target, object())
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


def test_atomic_write_through_a_writer_that_fails_halfway(tmp_path):
    target = tmp_path / "figure.png"
    atomic_write(target, b"old")
    seen = []

    def half_then_fail(tmp):
        seen.append(tmp)
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(StorageError, match="cannot write .*figure.png: disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["figure.png"]
    # beside the target, same extension
    assert seen[0].parent == tmp_path and seen[0].suffix == ".png"


def test_atomic_write_temporary_names_are_unique(tmp_path):
    names = []
    for _ in range(3):
        atomic_write(tmp_path / "a.txt", lambda tmp: names.append(tmp.name) or tmp.write_text("x"))
    assert len(set(names)) == 3 and (tmp_path / "a.txt").read_text() == "x"


def test_loaded_run_predicts_as_training_evaluated(small_mnist, tmp_path):
    """A CNN run (bf16 where supported, TTA) evaluated after loading gives the accuracy its training
    recorded."""
    run = train_in(tmp_path, small_mnist, small_config(model="cnn", channels=8, epochs=1, tta=True))
    cfg, model = runs.load_model(tmp_path)
    images = torch.tensor(small_mnist.test_images).unsqueeze(1)
    labels = torch.tensor(small_mnist.test_labels, dtype=torch.int64)
    accuracy = (probabilities(cfg, model, images).argmax(1) == labels).double().mean().item()
    assert accuracy == pytest.approx(run.history[-1]["test_acc"], abs=1e-6)


def test_state_serialisation_round_trip():
    state = {
        "model": {"w": torch.arange(6.0).reshape(2, 3)},
        "optimizer": {
            "state": {0: {"buf": torch.ones(2)}, 3: {"step": 7}},
            "param_groups": [{"params": [0, 3], "betas": (0.9, 0.99), "foreach": None}],
        },
        "order": None,
        "history": [{"epoch": 1, "test_acc": 0.5}],
        "sums": torch.zeros(3, dtype=torch.float64),
    }
    tensors = {}
    # what the metadata keeps
    tree = json.loads(json.dumps(split_tensors(state, "state", tensors)))
    assert set(tensors) == {"state.model.w", "state.optimizer.state.0.buf", "state.sums"}
    back = join_tensors(tree, tensors)
    assert set(back["optimizer"]["state"]) == {0, 3}  # integer keys survive JSON
    assert torch.equal(back["optimizer"]["state"][0]["buf"], torch.ones(2))
    assert back["optimizer"]["state"][3] == {"step": 7} and back["order"] is None
    assert back["optimizer"]["param_groups"] == [
        {"params": [0, 3], "betas": [0.9, 0.99], "foreach": None}
    ]
    assert (
        torch.equal(back["model"]["w"], state["model"]["w"]) and back["history"] == state["history"]
    )
    with pytest.raises(ValueError, match="both named"):
        split_tensors({"a.b": torch.ones(1), "a": {"b": torch.ones(1)}}, "s", {})


def test_trainer_state_dict_round_trip_continues_identically(small_mnist, tmp_path):
    cfg = small_config(epochs=2, optimizer="adam", lr=1e-3)
    calls = iter(range(10_000))
    first = Trainer(cfg, small_mnist)
    first.run(should_stop=lambda: next(calls) >= 7)
    atomic_write(tmp_path / runs.CHECKPOINT, runs.checkpoint_writer(first.state_dict()))
    second = Trainer(cfg, small_mnist)
    restore(second, runs.read_checkpoint(tmp_path), tmp_path)
    assert (second.epoch, second.batch) == (first.epoch, first.batch) == (0, 7)
    first.run()
    second.run()
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert [r["test_acc"] for r in first.history] == [r["test_acc"] for r in second.history]


def test_checkpoint_of_an_older_format_is_a_clear_error(tmp_path):
    save_tensors(
        tmp_path / runs.CHECKPOINT,
        {"model.w": torch.ones(1)},
        {"format": "firstnet-checkpoint", "state": "{}"},
    )
    with pytest.raises(CheckpointError, match="not a checkpoint this firstnet can resume"):
        runs.read_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint.safetensors"):
        runs.read_checkpoint(tmp_path / "missing")


def test_runs_are_found_by_name_latest_and_kind_and_listed(tmp_path, small_mnist, capsys):
    from firstnet.cli import main

    for name, model in (("a-mlp", "mlp"), ("b-lin", "linear"), ("c-mlp", "mlp")):
        train_in(
            runs.create_run_dir(tmp_path, name), small_mnist, small_config(model=model, epochs=1)
        )
        time.sleep(0.01)  # distinct config.json times
    assert catalog.find_run("latest", tmp_path) == tmp_path / "c-mlp"
    assert catalog.find_run("latest-linear", tmp_path) == tmp_path / "b-lin"
    assert catalog.find_run("b-lin", tmp_path) == tmp_path / "b-lin"
    assert catalog.find_run(tmp_path / "a-mlp", tmp_path) == tmp_path / "a-mlp"
    with pytest.raises(CheckpointError, match="did you mean a-mlp"):
        catalog.find_run("a-mpl", tmp_path)
    with pytest.raises(CheckpointError, match="no cnn run"):
        catalog.find_run("latest-cnn", tmp_path)
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["model"], r["state"], r["epochs"]) for r in listed] == [
        ("a-mlp", "mlp", "finished", 1), ("b-lin", "linear", "finished", 1),
        ("c-mlp", "mlp", "finished", 1)]  # fmt: skip
