"""`firstnet plot activations`: the curves drawn are the registry's, the problems marked are the
right ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from firstnet.activations import ACTIVATIONS, LINEAR
from firstnet.cli import main
from firstnet.errors import ConfigError
from firstnet.figures.activation_families import (
    FAMILIES,
    Z,
    curves,
    family_members,
    figure_size,
    plot_activation_family,
    problems,
)

DRAWN = [name for name, activation in ACTIVATIONS.items() if activation.family != LINEAR]


def test_every_activation_but_identity_is_drawn_in_exactly_one_family():
    members = [name for family in FAMILIES for name in family_members(family)]
    assert sorted(members) == sorted(DRAWN) and "identity" not in members
    assert {len(family_members(family)) for family in FAMILIES} == {4, 6}
    with pytest.raises(ConfigError, match="unknown activation family"):
        family_members("linear")


@pytest.mark.parametrize("name", DRAWN)
def test_drawn_curves_are_torch_function_and_autograd_derivative(name):
    z, f, derivative = curves(name)
    np.testing.assert_array_equal(z, Z)
    assert z.min() == -6 and z.max() == 6
    tensor = torch.from_numpy(z.copy()).requires_grad_()
    output = ACTIVATIONS[name].module().double()(tensor)
    output.sum().backward()
    np.testing.assert_allclose(f, output.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(derivative, tensor.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_sigmoid_saturates_beyond_about_4_6_and_is_not_zero_centred():
    facts = problems("sigmoid")
    (left_low, left_high), (right_low, right_high) = facts["saturated"]
    assert left_low == -6 and right_high == 6
    assert left_high == pytest.approx(-4.6, abs=0.02) and right_low == pytest.approx(4.6, abs=0.02)
    assert facts["dead"] == [] and facts["stationary"] == []
    assert facts["mean_output"] == pytest.approx(0.5, abs=1e-12) and not facts["zero_centred"]
    assert not facts["unbounded"]


def test_tanh_saturates_beyond_about_3_and_is_zero_centred():
    facts = problems("tanh")
    assert [round(high, 1) for _, high in facts["saturated"]] == [-3.0, 6.0]
    assert facts["zero_centred"] and abs(facts["mean_output"]) < 1e-12  # the sample is symmetric


def test_relu_is_dead_for_negative_z_unbounded_and_not_zero_centred():
    facts = problems("relu")
    assert facts["dead"] == [(-6.0, 0.0)] and facts["saturated"] == []
    assert facts["mean_output"] == pytest.approx(1 / np.sqrt(2 * np.pi), abs=0.01)  # E max(0, z)
    assert not facts["zero_centred"] and facts["unbounded"]


@pytest.mark.parametrize("name", ["leaky_relu", "prelu"])
def test_leaky_variants_have_no_dead_region(name):
    facts = problems(name)
    assert facts["dead"] == [] and facts["saturated"] == [] and facts["unbounded"]


def test_hard_functions_are_dead_outside_their_linear_part():
    assert problems("hard_tanh")["dead"] == [(-6.0, -1.0), (1.0, 6.0)]
    assert problems("hard_sigmoid")["dead"] == [(-6.0, -3.0), (3.0, 6.0)]
    relu6 = problems("relu6")
    # reaches 6, grows no further
    assert relu6["dead"] == [(-6.0, 0.0), (6.0, 6.0)] and not relu6["unbounded"]


def test_selu_is_zero_centred_and_saturates_on_the_left_only():
    facts = problems("selu")
    assert facts["zero_centred"] and facts["unbounded"]
    [(low, high)] = facts["saturated"]
    assert low == -6 and -5.5 < high < -4.5


def test_smooth_functions_have_a_minimum_not_a_saturated_sliver():
    for name, minimum in (("gelu", -0.7518), ("silu", -1.2785), ("mish", -1.1924)):
        facts = problems(name)
        [point] = facts["stationary"]
        assert point == pytest.approx(minimum, abs=2e-3), name
        assert all(high < point - 0.5 or low > point + 0.5 for low, high in facts["saturated"]), (
            name
        )
    assert problems("gelu")["saturated"][0][0] == -6.0 and problems("silu")["saturated"] == []


@pytest.mark.parametrize("family", list(FAMILIES))
def test_figure_has_the_expected_pixel_size(family, tmp_path):
    path = plot_activation_family(family, tmp_path / f"{family}.png")
    with Image.open(path) as image:
        assert image.size == figure_size(family)
        assert image.size[0] > 1000 and image.size[1] > 1000


def test_cli_writes_one_png_per_family_and_prints_the_paths(tmp_path, capsys):
    assert main(["plot", "activations", "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) == 3 and sorted(printed) == sorted(map(str, files))
    assert {path.name for path in files} == {f"activations-{family}.png" for family in FAMILIES}


def test_plot_activations_help_shows_the_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", "activations", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--out-dir OUT_DIR where the PNGs go (default: runs/figures)" in text
