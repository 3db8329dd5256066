"""The fixed-shape training step of `firstnet.static_step`: on a CPU the same body runs
uncaptured, so its batches, shifts, learning rates and resume are checked here; the CUDA graph
where a GPU is."""

from __future__ import annotations

import copy

import pytest
import torch

from firstnet.errors import ConfigError
from firstnet.schedule import learning_rate
from firstnet.trainer import Trainer
from tests.conftest import small_config


def final_weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    trainer.run()
    return {name: tensor.cpu() for name, tensor in trainer.model.state_dict().items()}


def assert_close_weights(ours: dict, theirs: dict, tolerance: float) -> None:
    for name, tensor in ours.items():
        assert torch.allclose(tensor.float(), theirs[name].float(), atol=tolerance), name


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_static_step_computes_what_the_eager_loop_computes(small_mnist, model):
    """Same seed, same batches, same shifts, same learning rates: the two loops end with the same
    weights and losses, up to float error (fused and per-tensor SGD round differently, and 40 steps
    of momentum grow that to 3e-3 with one thread; a wrong batch or rate is far off)."""
    shape = {"channels": 4} if model == "cnn" else {}
    overrides = {"model": model, "epochs": 2, "augment": 2, "precision": "fp32", **shape}
    overrides["optimizer"] = "sgd"  # the CNN's recipe takes Muon, which a graph does not capture
    eager = Trainer(small_config(**overrides, graph=False), small_mnist)
    static = Trainer(small_config(**overrides, graph=True), small_mnist)
    assert eager.static is None and static.static is not None
    assert eager.steps_per_epoch == static.steps_per_epoch == 20  # 2000 images, batch 100
    assert_close_weights(final_weights(static), final_weights(eager), 1e-2)
    for ours, theirs in zip(static.history, eager.history, strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)
        assert ours["test_acc"] == pytest.approx(theirs["test_acc"], abs=0.004)  # 2 of 500


def test_static_step_takes_the_schedule_from_its_table(small_mnist):
    trainer = Trainer(small_config(graph=True, epochs=2, schedule="onecycle"), small_mnist)
    seen = []
    trainer.run(on_step=lambda step: seen.append(trainer.current_lr()))
    total = trainer.total_steps
    expected = [learning_rate(trainer.cfg, step, total, 20) for step in range(total)]
    assert seen == pytest.approx(expected, rel=1e-6)
    assert int(trainer.static.counter) == total and int(trainer.static.position) == 20


def test_static_step_uses_full_batches_only(small_mnist):
    trainer = Trainer(small_config(graph=True, batch_size=300, epochs=1), small_mnist)
    assert trainer.steps_per_epoch == 6  # 2000 // 300: the last 200 images of an order wait
    steps = []
    accuracy = trainer.run(on_step=steps.append)[0]["train_acc"]
    assert steps == [1, 2, 3, 4, 5, 6]
    # the epoch's training accuracy counts the 1,800 images of full batches, not 2,000
    assert accuracy * 1800 == pytest.approx(round(accuracy * 1800), abs=1e-6)


def test_static_step_resumes_mid_epoch_exactly(small_mnist):
    cfg = small_config(graph=True, epochs=2, augment=1)
    whole = final_weights(Trainer(cfg, small_mnist))
    first = Trainer(cfg, small_mnist)
    first.run(should_stop=lambda: first.epoch == 1 and first.batch == 7)
    state = copy.deepcopy(first.state_dict())
    assert state["shifts"].shape == (2, 2000) and state["batch"] == 7
    second = Trainer(cfg, small_mnist)
    second.load_state_dict(state)
    assert isinstance(second.optimizer.param_groups[0]["lr"], torch.Tensor)
    assert_close_weights(final_weights(second), whole, 0.0)


def test_static_step_refuses_what_it_cannot_capture(small_mnist):
    with pytest.raises(ConfigError, match="graph needs optimizer sgd"):
        Trainer(small_config(graph=True, optimizer="adamw"), small_mnist)
    with pytest.raises(ConfigError, match="at least one full batch"):
        Trainer(small_config(graph=True, batch_size=5000), small_mnist)
    assert Trainer(small_config(), small_mnist).static is None  # off on a CPU by default


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_cuda_graph_replays_the_eager_step(small_mnist, model, monkeypatch):
    """Captured and replayed, the step computes exactly what the eager loop computes. cuDNN is made
    deterministic (no timing of algorithms, no TF32): otherwise two eager runs of the CNN already
    differ (measured on an H200: epoch-1 training loss 1.199 and 1.393), and so would these."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    shape = {"channels": 8} if model == "cnn" else {}
    overrides = {"model": model, "epochs": 2, "augment": 2, "device": "cuda", **shape}
    overrides |= {"precision": "fp32", "batch_size": 100, "lr": 0.2}
    static = Trainer(small_config(**overrides), small_mnist)
    assert static.static is not None  # on by default on CUDA
    eager = Trainer(small_config(**overrides, graph=False), small_mnist)
    ours, theirs = final_weights(static), final_weights(eager)
    assert static.static.graph is not None  # captured after the warm-up steps, then replayed
    assert_close_weights(ours, theirs, 1e-5)
    for mine, other in zip(static.history, eager.history, strict=True):
        assert mine["train_loss"] == pytest.approx(other["train_loss"], rel=1e-5)
        assert mine["test_acc"] == pytest.approx(other["test_acc"], abs=0.002)  # 1 of 500
    counts = [tensor for name, tensor in ours.items() if name.endswith("num_batches_tracked")]
    assert all(int(count) == 40 for count in counts)  # every step ran: 2 epochs x 20
    assert static.history[-1]["test_acc"] > 0.6
