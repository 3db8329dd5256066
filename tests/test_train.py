"""The training loop: shuffling, reproducibility, schedules, divergence, optimizers, precision."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from firstnet.config import MODEL_DEFAULTS, TrainConfig
from firstnet.device import resolve_precision
from firstnet.errors import ConfigError, DivergedError
from firstnet.models import model_for
from firstnet.schedule import epoch_plan, learning_rate
from firstnet.trainer import Trainer, random_shifts, smoothed_cross_entropy, translate
from tests.conftest import small_config


def test_fresh_shuffle_every_epoch(small_mnist):
    trainer = Trainer(small_config(epochs=4), small_mnist)
    orders = []
    trainer.run(
        on_progress=lambda p: orders.append(trainer.order.clone()) if p.batch == p.batches else None
    )
    assert len(orders) == 4
    for order in orders:  # each epoch visits every training example exactly once
        assert torch.equal(order.sort().values, torch.arange(2000))
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(orders[i], orders[j]), (
                f"epochs {i + 1} and {j + 1} used the same order"
            )


def test_same_seed_same_result_other_seed_differs(small_mnist):
    runs = [Trainer(small_config(seed=seed), small_mnist) for seed in (7, 7, 8)]
    histories = [trainer.run() for trainer in runs]
    strip = [[{k: v for k, v in r.items() if k != "elapsed_s"} for r in h] for h in histories]
    assert strip[0] == strip[1]
    for name, tensor in runs[0].model.state_dict().items():
        assert torch.equal(tensor, runs[1].model.state_dict()[name]), name
    assert strip[0] != strip[2]


def test_history_records_every_epoch(small_mnist):
    history = Trainer(small_config(), small_mnist).run()
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for record in history:
        assert {
            "epoch",
            "train_loss",
            "train_acc",
            "test_loss",
            "test_acc",
            "elapsed_s",
        } <= record.keys()
        assert 0 <= record["train_acc"] <= 1 and 0 <= record["test_acc"] <= 1
    assert history[-1]["test_acc"] > 0.6  # 2000 images, 3 epochs: far above chance (0.1)
    assert history[-1]["elapsed_s"] > history[0]["elapsed_s"] > 0


def test_should_stop_halts_between_batches(small_mnist):
    trainer = Trainer(small_config(), small_mnist)
    calls = iter(range(1000))
    trainer.run(should_stop=lambda: next(calls) >= 25)  # 20 batches per epoch: stop inside epoch 2
    assert (trainer.epoch, trainer.batch) == (1, 5)
    assert not trainer.finished and len(trainer.history) == 1


def test_divergence_is_detected_with_advice(small_mnist):
    trainer = Trainer(small_config(lr=1e6, schedule="constant", label_smoothing=0.0), small_mnist)
    with pytest.raises(DivergedError, match="smaller lr"):
        trainer.run()


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "muon"])
def test_each_optimizer_learns(small_mnist, optimizer):
    lr = 0.1 if optimizer in ("sgd", "muon") else 2e-3
    history = Trainer(small_config(optimizer=optimizer, lr=lr), small_mnist).run()
    assert history[-1]["test_acc"] > 0.6


def test_bf16_autocast_trains_on_cpu(small_mnist):
    history = Trainer(small_config(precision="bf16"), small_mnist).run()
    assert history[-1]["test_acc"] > 0.6


def test_fp16_on_cpu_is_refused(small_mnist):
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        Trainer(small_config(precision="fp16"), small_mnist).run()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_path(small_mnist):
    # the GPU recipe's learning rate is for full batches of the whole set; this small run keeps 0.2
    trainer = Trainer(small_config(device="cuda", precision="bf16", lr=0.2), small_mnist)
    assert trainer.train_images.is_cuda and trainer.train_images.dtype == torch.uint8
    assert trainer.run()[-1]["test_acc"] > 0.6


def test_cuda_without_gpu_is_a_clear_error(small_mnist):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    # a CPU-only torch says so; a CUDA torch on a machine without a GPU says that
    words = "CPU-only build" if torch.version.cuda is None else "no CUDA GPU"
    with pytest.raises(ConfigError, match=words):
        Trainer(small_config(device="cuda"), small_mnist)


def schedule_lrs(schedule: str, **overrides) -> list[float]:
    cfg = TrainConfig(model="mlp", lr=1.0, epochs=4, schedule=schedule, **overrides)
    return [learning_rate(cfg, step, 400, 100) for step in range(400)]


def test_schedules():
    assert set(schedule_lrs("constant")) == {1.0}
    step = schedule_lrs("step", step_every=2, gamma=0.5)
    assert step[0] == step[199] == 1.0 and step[200] == step[399] == 0.5
    cosine = schedule_lrs("cosine")
    assert (
        cosine[0] == 1.0
        and cosine[-1] < 1e-3
        and all(a >= b for a, b in zip(cosine, cosine[1:], strict=False))
    )
    onecycle = schedule_lrs("onecycle", warmup=0.25)
    assert math.isclose(onecycle[0], 1 / 25) and math.isclose(max(onecycle), onecycle[100])
    assert onecycle[-1] < 1e-3
    assert all(a <= b for a, b in zip(onecycle[:100], onecycle[1:101], strict=True))


def test_model_defaults_fill_unset_fields_only():
    linear = TrainConfig(model="linear")
    assert (linear.epochs, linear.lr) == (
        MODEL_DEFAULTS["linear"]["epochs"],
        MODEL_DEFAULTS["linear"]["lr"],
    )
    assert TrainConfig(model="mlp", lr=0.01).lr == 0.01


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"lr": -1.0},
        {"model": "cnn2"},
        {"activation": "nope"},
        {"warmup": 1.0},
        {"depth": -1},
        {"batch_size": 0},
    ],
)
def test_config_validation(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_label_smoothing_loss_matches_torch():
    """The loop computes smoothed cross-entropy itself so it can report the plain one; both must be
    right."""
    torch.manual_seed(0)
    logits, labels = torch.randn(64, 10), torch.randint(0, 10, (64,))
    loss, plain = smoothed_cross_entropy(logits, labels, 0.1)
    assert torch.allclose(
        loss, torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    )
    assert torch.allclose(plain, torch.nn.functional.cross_entropy(logits, labels))


def test_random_shifts_move_each_image_within_bounds():
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    images[:, 0, 13, 13] = 255  # one bright pixel in the middle of each image
    generator = torch.Generator().manual_seed(0)
    moved = translate(images, random_shifts(64, 2, generator), 2)
    assert moved.shape == images.shape and moved.dtype == torch.uint8
    positions = moved[:, 0].flatten(1).argmax(1)
    rows, cols = positions // 28, positions % 28
    assert (moved.flatten(1).sum(1) == 255).all()  # nothing lost, nothing invented
    assert rows.min() >= 11 and rows.max() <= 15 and cols.min() >= 11 and cols.max() <= 15
    # each image gets its own shift
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the kernel lists them (independent of torch's reading)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="needs Linux's /proc/cpuinfo")
def test_precision_auto_is_bf16_exactly_where_this_cpu_computes_it_natively():
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [({"avx512_bf16": True}, "bf16"), ({"amx_bf16": True}, "bf16"), ({"avx2": True}, "fp32")],
)
def test_precision_auto_follows_the_cpu_capabilities(capabilities, expected, monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert resolve_precision("auto", torch.device("cpu")) == expected


def test_cnn_trains_with_augmentation_and_tta(small_mnist):
    cfg = small_config(model="cnn", channels=8, augment=2, tta=True, epochs=2)
    history = Trainer(cfg, small_mnist).run()
    assert [r["tta"] for r in history] == [False, True]  # only the final evaluation pays for TTA
    assert history[-1]["test_acc"] > 0.8


def test_on_step_is_called_after_every_step_with_the_step_count(small_mnist):
    cfg = small_config(epochs=2)
    steps, epochs = [], []
    trainer = Trainer(cfg, small_mnist)
    trainer.run(
        on_step=steps.append, on_epoch=lambda record: epochs.append((record["epoch"], len(steps)))
    )
    per_epoch = -(-len(small_mnist.train_labels) // cfg.batch_size)  # ceil
    assert steps == list(range(1, 2 * per_epoch + 1))
    assert epochs == [(1, per_epoch), (2, 2 * per_epoch)]


def test_mps_without_an_apple_gpu_is_a_clear_error(small_mnist):
    if torch.backends.mps.is_available():
        pytest.skip("an Apple GPU is present")
    with pytest.raises(ConfigError, match="device mps: no Apple GPU"):
        Trainer(small_config(device="mps"), small_mnist)


def test_training_leaves_the_global_random_state_alone(small_mnist):
    """The Trainer seeds through what it owns: its shuffle generator and `model_for`'s forked
    state; a notebook's own torch.rand calls are neither reset nor shifted by a training."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    Trainer(small_config(epochs=1), small_mnist).run()
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(7)  # whatever the global state, the initial weights follow the seed alone
    first, again, other = (model_for(small_config(seed=seed)) for seed in (3, 3, 4))
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert not torch.equal(first.state_dict()["out.weight"], other.state_dict()["out.weight"])


def test_a_fractional_epoch_count_cuts_the_last_epoch_and_the_schedule_spans_the_steps_run(
    small_mnist,
):
    cfg = small_config(epochs=1.5)  # 20 steps an epoch: 30 in all
    steps, ends, rates = [], [], []
    trainer = Trainer(cfg, small_mnist)
    history = trainer.run(
        on_step=lambda step: (steps.append(step), rates.append(trainer.current_lr())),
        on_epoch=lambda record: ends.append(len(steps)),
    )
    assert (trainer.epochs, trainer.total_steps) == (2, 30)
    assert steps == list(range(1, 31)) and ends == [20, 30]
    assert [record["epoch"] for record in history] == [1, 2] and trainer.finished
    assert rates[-1] == pytest.approx(learning_rate(cfg, 29, 30, 20))  # the schedule's last step
    assert rates[-1] < learning_rate(cfg, 29, 40, 20) / 10  # not a cut 2-epoch schedule


def test_epoch_plan():
    assert epoch_plan(1.5, 235) == (2, 352)  # the CNN recipe on MNIST: 1 epoch and 117 steps
    assert epoch_plan(2, 235) == (2, 470)
    assert epoch_plan(1.001, 235) == (1, 235)  # rounds to a whole epoch: no empty last one
    assert epoch_plan(0.001, 235) == (1, 1)  # at least one step


def test_whole_epoch_counts_stay_integers():
    assert TrainConfig(model="mlp", epochs=3.0).epochs == 3
    assert type(TrainConfig(model="mlp", epochs=3.0).epochs) is int
    assert TrainConfig(model="cnn", epochs=1.25).epochs == 1.25


def test_a_checkpoint_place_beyond_a_short_last_epoch_is_refused(small_mnist):
    trainer = Trainer(small_config(epochs=2.5), small_mnist)  # the third epoch has 10 batches
    state = trainer.state_dict() | {"epoch": 2, "history": [{}, {}]}
    Trainer(trainer.cfg, small_mnist).load_state_dict(state | {"batch": 9})
    for place in ({"batch": 10}, {"epoch": "2", "batch": 3}):
        with pytest.raises(ValueError, match="is no place in 3 epochs"):
            Trainer(trainer.cfg, small_mnist).load_state_dict(state | place)
