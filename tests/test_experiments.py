"""The experiments on tiny budgets: budget-independent invariants (the composed linear map, dead and
saturated units on constructed networks, vanishing gradients at initialisation, hand-derived
gradients), and the machinery (results written, finished cells never re-run, a stop keeps what
finished, the CLI and its index)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from firstnet.cli import cmd_experiment, main
from firstnet.experiments import (
    depth_width,
    fit1d,
    no_activation,
    search_strategies,
    universal,
)
from firstnet.experiments import features as fe
from firstnet.experiments.cells import CELLS, Context, Stopped
from firstnet.experiments.measure import fixed_batch, gradient_norms, unit_statistics
from firstnet.experiments.results import RESULTS_JSON, RESULTS_MD
from firstnet.models import MLP
from tests.budgets import MODULES, TINY, TINY_GRID


@pytest.fixture(scope="module")
def all_quick(tmp_path_factory, small_mnist):
    """`firstnet experiment all --quick --seeds 1` with the tiny budgets on 2,000 training
    images."""
    out_dir = tmp_path_factory.mktemp("experiments")
    with pytest.MonkeyPatch.context() as patch:
        for name, budget in TINY.items():
            patch.setattr(MODULES[name], "QUICK", budget)
        patch.setattr(cmd_experiment, "load_data", lambda data_dir, dataset="mnist": small_mnist)
        assert (
            main(["experiment", "all", "--quick", "--seeds", "1", "--out-dir", str(out_dir)]) == 0
        )
    return out_dir


def results(out_dir, name) -> dict:
    # strict JSON: NaN would fail here
    return json.loads((out_dir / name / RESULTS_JSON).read_text())


def test_all_writes_every_experiment_and_an_index(all_quick):
    index = (all_quick / "README.md").read_text()
    for name in MODULES:
        folder = all_quick / name
        assert (folder / RESULTS_MD).read_text().count("|") > 10, name
        payload = results(all_quick, name)
        assert payload["figures"] and all(
            (folder / figure).stat().st_size > 5000 for figure in payload["figures"]
        )
        assert len(list((folder / CELLS).glob("*.json"))) == len(payload["cells"])
        assert f"({name}/{payload['figures'][0]})" in index  # figure links re-rooted at the index


def test_activations_rows_and_measurements(all_quick):
    payload = results(all_quick, "activations")
    assert [row["activation"] for row in payload["shallow"]] == ["identity", "relu", "sigmoid"]
    assert {(row["activation"], row["init"]) for row in payload["deep"]} == {
        (a, i) for a in ("sigmoid", "relu") for i in ("default", "kaiming")
    }
    for row in payload["shallow"] + payload["deep"]:
        assert len(row["grad_init"]) == row["depth"] + 1 and all(g > 0 for g in row["grad_init"])
        assert 0 <= row["dead"] <= 1 and 0 <= row["saturated"] <= 1
    md = (all_quick / "activations" / RESULTS_MD).read_text()
    assert "| relu | relu-family |" in md and "| sigmoid | default |" in md


def test_second_run_trains_no_cell_and_a_deleted_cell_is_rerun(all_quick, small_mnist):
    budget = TINY["depth-width"]
    folder = all_quick / "depth-width"
    before = results(all_quick, "depth-width")
    ctx = Context(small_mnist, folder, seeds=1)
    again = depth_width.run(ctx, budget)
    assert ctx.computed == []
    assert [row["test_acc"] for row in again["rows"]] == [row["test_acc"] for row in before["rows"]]
    victim = sorted((folder / CELLS).glob("depth1-width8-*.json"))[0]
    victim.unlink()
    ctx = Context(small_mnist, folder, seeds=1)
    depth_width.run(ctx, budget)
    assert ctx.computed == ["depth1-width8-seed0"] and victim.is_file()


def test_a_stop_keeps_finished_cells_and_stores_no_partial_one(tmp_path, small_mnist):
    checks = iter(range(10_000))
    # 4 batches per cell
    ctx = Context(small_mnist, tmp_path, seeds=1, should_stop=lambda: next(checks) > 5)
    with pytest.raises(Stopped, match="run the same command"):
        depth_width.run(ctx, TINY["depth-width"])
    assert ctx.computed == ["depth0-width0-seed0"]
    assert [p.name.rsplit("-", 1)[0] for p in (tmp_path / CELLS).glob("*.json")] == [
        "depth0-width0-seed0"
    ]


def test_depth_width_grid_and_parameter_counts(all_quick):
    rows = results(all_quick, "depth-width")["rows"]
    assert [(row["depth"], row["width"]) for row in rows] == TINY_GRID

    def parameters(depth: int, width: int) -> int:  # weights and biases, counted layer by layer
        sizes = [784] + [width] * depth + [10]
        return sum(
            fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes, sizes[1:], strict=False)
        )

    assert parameters(0, 0) == 7850 and parameters(1, 8) == 784 * 8 + 8 + 8 * 10 + 10
    for row in rows:
        assert row["parameters"] == parameters(row["depth"], row["width"]), row


def test_identity_mlp_is_one_linear_map(small_mnist):
    torch.manual_seed(0)
    model = MLP(hidden=32, depth=3, activation="identity")
    for layer in [*model.hidden, model.out]:  # biases too, so the composed offset is tested
        torch.nn.init.normal_(layer.bias, std=0.5)
    images = torch.tensor(small_mnist.test_images[:300]).unsqueeze(1)
    check = no_activation.composition_check(model, images)
    assert check["max_abs_diff_float64"] < 1e-10 and check["max_abs_diff_float32"] < 1e-4
    assert check["same_predictions"] > 0.99
    weight, bias = no_activation.compose(model)
    assert weight.shape == (10, 784) and bias.shape == (10,)
    with pytest.raises(ValueError, match="identity"):
        no_activation.compose(MLP(hidden=8, depth=2, activation="relu"))


def test_no_activation_results_compose_to_1e5(all_quick):
    payload = results(all_quick, "no-activation")
    assert [row["model"] for row in payload["rows"]] == ["linear", "identity", "relu"]
    for check in payload["composition"]:
        assert check["max_abs_diff_float64"] < 1e-5 and check["same_predictions"] > 0.99
    assert payload["rows"][0]["parameters"] == 7850


def constant_mlp(activation: str, biases: list[list[float]]) -> MLP:
    """An MLP whose hidden weights are 0, so every pre-activation is its bias on every input."""
    model = MLP(hidden=len(biases[0]), depth=len(biases), activation=activation)
    with torch.no_grad():
        for layer, bias in zip(model.hidden, biases, strict=True):
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(bias))
    return model


def test_dead_and_saturated_fractions_on_constructed_networks(small_mnist):
    images, _ = fixed_batch(small_mnist, 64)
    biases = [[-1.0] * 3 + [1.0] * 7, [-1.0] * 5 + [1.0] * 5]
    relu = unit_statistics(constant_mlp("relu", biases), images)
    assert relu["dead_per_layer"] == [0.3, 0.5] and relu["dead"] == pytest.approx(8 / 20)
    assert relu["saturated"] == pytest.approx(8 / 20)
    # slope 0.01 never dies
    assert unit_statistics(constant_mlp("leaky_relu", biases), images)["dead"] == 0
    sigmoid = unit_statistics(
        constant_mlp("sigmoid", [[10.0] * 4 + [0.0] * 6, [-10.0] * 2 + [0.0] * 8]), images
    )
    # sigmoid'(10) = 4.5e-5 < 0.01 < sigmoid'(0) = 0.25
    assert sigmoid["saturated_per_layer"] == [
        0.4,
        0.2,
    ]


def test_gradient_norms_leave_grads_alone_and_show_vanishing(small_mnist):
    images, labels = fixed_batch(small_mnist, 256)
    torch.manual_seed(0)
    relu = MLP(hidden=64, depth=10, activation="relu", init="kaiming")
    norms = gradient_norms(relu, images, labels)
    assert len(norms) == 11 and all(p.grad is None for p in relu.parameters())
    relu(images).log_softmax(1).gather(1, labels[:, None]).mean().neg().backward()
    assert norms[0] == pytest.approx(relu.hidden[0].weight.grad.norm().item(), rel=1e-5)
    torch.manual_seed(0)
    sigmoid = gradient_norms(
        MLP(hidden=64, depth=10, activation="sigmoid", init="default"), images, labels
    )
    # vanishing: orders of magnitude below ReLU's in the first layer
    assert sigmoid[0] < 1e-3 * norms[0]


def test_softmax_gradient_is_the_autograd_one():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 7, generator=generator), torch.randint(0, 10, (50,), generator=generator)
    weight, bias = torch.randn(7, 10, generator=generator), torch.randn(10, generator=generator)
    loss, grad_w, grad_b = fe.objective(
        x, torch.nn.functional.one_hot(y, 10).float(), weight, bias, 0.1
    )
    w, b = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    expected = torch.nn.functional.cross_entropy(x @ w + b, y) + 0.05 * w.square().sum()
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.allclose(grad_w, w.grad, atol=1e-6) and torch.allclose(grad_b, b.grad, atol=1e-6)


def test_feature_shapes_and_determinism(small_mnist):
    images = small_mnist.train_images[:40]
    assert fe.gradient_histograms(images).shape == (40, 6 * 6 * 4 * 9)
    assert fe.PCA.fit(small_mnist.train_images[:300], 6).quadratic(images).shape == (40, 6 + 21)
    first, again = fe.random_relu(images, 30, seed=3), fe.random_relu(images, 30, seed=3)
    assert torch.equal(first, again) and not torch.equal(first, fe.random_relu(images, 30, seed=4))
    assert (first >= 0).all()


def test_handmade_rows(all_quick):
    rows = results(all_quick, "handmade-features")["rows"]
    kinds = {row["kind"]: row for row in rows}
    assert set(kinds) == {
        "pixels",
        "pca-quadratic",
        "random-relu",
        "hog",
        "pixels+hog",
        "linear",
        "mlp",
    }
    assert kinds["pixels+hog"]["dimension"] == 784 + kinds["hog"]["dimension"]
    assert all(0 <= acc <= 1 for row in rows for acc in row["test_acc"])


def test_relu_nets_train_as_if_alone():
    x, y = fit1d.training_set("sine", 50, 0.0, 0)
    together = fit1d.ReLUNets((3, 5), seed=0)
    alone = fit1d.ReLUNets((3, 5), seed=0)
    loss = (together(x) - y).square().mean(0).sum()
    loss.backward()
    only_second = (alone(x)[:, 1:] - y).square().mean()
    only_second.backward()
    assert torch.allclose(together.weight.grad[3:], alone.weight.grad[3:])
    assert torch.equal(alone.weight.grad[:3], torch.zeros(3))


def test_relu_net_is_exact_for_abs():
    model = fit1d.ReLUNets((2,), seed=0)
    with torch.no_grad():  # |x| = ReLU(x) + ReLU(-x)
        model.weight.copy_(torch.tensor([1.0, -1.0]))
        model.bias.zero_()
        model.out_weight.fill_(1.0)
        model.out_bias.zero_()
    x, y = fit1d.training_set("abs", 11, 0.0, 0)
    fits = fit1d.measure("abs", model, x, y)
    assert fits[0]["rmse"] < 1e-7 and fits[0]["kinks"] == 2


def test_universal_memorisation_keeps_test_labels(all_quick, small_mnist):
    payload = results(all_quick, "universal")
    assert set(payload["approximation"]) == set(fit1d.TARGETS)
    assert all(len(error["rmse"]) == 3 for error in payload["approximation"].values())
    assert set(payload["memorisation"]) == {"random", "true"}
    for labels in ("random", "true"):  # the summary holds exactly the cells' numbers
        cell = payload["cells"][f"memorise-{labels}-seed0"]
        summary = payload["memorisation"][labels]
        assert summary["train_acc"] == [cell["train_acc"]] and summary["test_acc"] == [
            cell["test_acc"]
        ]
        assert summary["seconds"] == [cell["seconds"]] and cell["seconds"] > 0


def test_memorisation_shuffles_the_training_labels_only(tmp_path, small_mnist, monkeypatch):
    seen = []
    trainer_class = universal.Trainer
    monkeypatch.setattr(
        universal, "Trainer", lambda cfg, data: seen.append(data) or trainer_class(cfg, data)
    )
    budget = TINY["universal"]
    config = {"labels": "random", "train": universal.memorise_config(budget, 0).to_dict()}
    facts = universal.memorise_cell(config, Context(small_mnist, tmp_path, seeds=1))
    (data,) = seen
    train, test = budget.memorise_images, budget.memorise_test
    np.testing.assert_array_equal(data.test_labels, small_mnist.test_labels[:test])
    np.testing.assert_array_equal(data.test_images, small_mnist.test_images[:test])
    np.testing.assert_array_equal(data.train_images, small_mnist.train_images[:train])
    original = small_mnist.train_labels[:train]
    assert (data.train_labels != original).mean() > 0.7  # a permutation moves most labels ...
    np.testing.assert_array_equal(
        np.bincount(data.train_labels, minlength=10), np.bincount(original, minlength=10)
    )
    assert not facts["diverged"]  # ... and keeps the class counts


def test_search_strategies_spend_equal_budgets_on_held_out_images(all_quick):
    payload = results(all_quick, "search")
    assert [row["strategy"] for row in payload["rows"]] == list(search_strategies.STRATEGIES)
    for strategy in search_strategies.STRATEGIES:
        cell = payload["cells"][f"{strategy}-seed0"]
        assert len(cell["val_acc"]) == len(cell["seconds"]) == 4  # exactly the budget
        assert all(set(params) == set(search_strategies.SPACE_PARAMS) for params in cell["params"])
    row = payload["rows"][0]
    assert row["best"][0] >= row["third"][0] and 0 < row["best"][0] <= 1
    assert set(payload["importance"]) <= set(search_strategies.SPACE_PARAMS)
    assert 0 < payload["default"][0] <= 1 and payload["pareto"]
    assert search_strategies.best_so_far([0.2, 0.1, 0.5, 0.4]) == [0.2, 0.2, 0.5, 0.5]


def test_experiment_rejects_bad_seeds(capsys):
    assert main(["experiment", "universal", "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_one_experiment_as_json(tmp_path, small_mnist, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(depth_width, "QUICK", TINY["depth-width"])
        patch.setattr(cmd_experiment, "load_data", lambda data_dir, dataset="mnist": small_mnist)
        arguments = ["experiment", "depth-width", "--quick", "--seeds", "1", "--json"]
        assert main([*arguments, "--out-dir", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)  # JSON only: no tables on stdout
    rows = printed["depth-width"]["rows"]
    assert [(row["depth"], row["width"]) for row in rows] == TINY_GRID


def test_an_experiment_on_fashion_mnist_keeps_its_results_apart(fashion, tmp_path):
    """`firstnet experiment activations --dataset fashion-mnist --quick` (tiny budget here) loads
    that set and writes under OUT_DIR/fashion-mnist, never among MNIST's stored cells."""
    asked = []

    def load(data_dir, dataset="mnist"):
        asked.append(dataset)
        return fashion.subset(2000, 500)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MODULES["activations"], "QUICK", TINY["activations"])
        patch.setattr(cmd_experiment, "load_data", load)
        args = ["experiment", "activations", "--quick", "--seeds", "1", "--out-dir", str(tmp_path)]
        assert main([*args, "--dataset", "fashion-mnist"]) == 0
    assert asked == ["fashion-mnist"]
    payload = results(tmp_path / "fashion-mnist", "activations")
    assert payload["cells"] and not (tmp_path / "activations").exists()
    report = (tmp_path / "fashion-mnist" / "activations" / RESULTS_MD).read_text()
    assert "Data: Fashion-MNIST." in report
    accuracies = [cell["test_acc"] for cell in payload["cells"].values() if "test_acc" in cell]
    assert accuracies and max(accuracies) > 0.3  # the tiny budget learns some; chance is 10%
