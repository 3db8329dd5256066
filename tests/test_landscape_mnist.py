"""Plot landscape, part b: a 2-D slice of a trained MNIST MLP's loss, and its training path on the
slice."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from firstnet.cli import main
from firstnet.figures.loss_slice import (
    filter_normalised_direction,
    loss_on_plane,
    mnist_loss_slices,
    plane_coordinates,
    principal_directions,
)
from firstnet.models import MLP
from tests.conftest import small_config


def test_filter_normalised_rows_match_the_weight_rows_and_biases_stay_put():
    model = MLP(hidden=12, depth=2)
    direction = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    assert direction.shape == parameters_to_vector(model.parameters()).shape
    start = 0
    for param in model.parameters():
        piece = direction[start : start + param.numel()].reshape(param.shape)
        start += param.numel()
        if param.dim() == 1:
            assert torch.count_nonzero(piece) == 0
        else:
            assert torch.allclose(piece.norm(dim=1), param.detach().norm(dim=1), rtol=1e-5)
            assert not torch.allclose(piece, param.detach())


def test_plane_coordinates_recover_points_in_the_plane_and_ignore_the_rest():
    generator = torch.Generator().manual_seed(1)
    d1, d2 = torch.randn(500, generator=generator), torch.randn(500, generator=generator)
    coordinates = torch.randn(7, 2, generator=generator)
    inside = coordinates[:, :1] * d1 + coordinates[:, 1:] * d2  # (7, 500)
    found, captured = plane_coordinates(inside, d1, d2)
    assert torch.allclose(found, coordinates, atol=1e-4) and abs(captured - 1) < 1e-6
    normal = torch.randn(500, generator=generator)
    basis = torch.stack([d1, d2], 1)
    normal -= basis @ torch.linalg.lstsq(basis, normal).solution  # orthogonal to the plane
    _, captured = plane_coordinates(torch.stack([normal, 2 * normal]), d1, d2)
    assert captured < 1e-6


def test_principal_directions_are_orthonormal_and_span_a_planar_path():
    generator = torch.Generator().manual_seed(2)
    u, v = torch.randn(300, generator=generator), torch.randn(300, generator=generator)
    path = torch.randn(20, 2, generator=generator) @ torch.stack([u, v])  # (20, 300) in span(u, v)
    p1, p2 = principal_directions(path)
    assert abs(p1.norm() - 1) < 1e-5 and abs(p2.norm() - 1) < 1e-5 and abs(p1 @ p2) < 1e-5
    assert plane_coordinates(path, p1, p2)[1] > 1 - 1e-6


def test_loss_on_plane_is_the_loss_of_the_moved_model_and_restores_it(small_mnist):
    model = MLP(hidden=16, depth=2)
    images = torch.tensor(small_mnist.train_images[:64]).float().div(255)
    labels = torch.tensor(small_mnist.train_labels[:64]).long()
    centre = parameters_to_vector(model.parameters()).detach().clone()
    generator = torch.Generator().manual_seed(3)
    d1, d2 = (filter_normalised_direction(model, generator) for _ in range(2))
    axis = torch.tensor([-0.5, 0.0, 0.5])
    grid = loss_on_plane(model, centre, d1, d2, images, labels, axis, axis)
    assert torch.equal(parameters_to_vector(model.parameters()), centre)  # restored
    with torch.no_grad():
        assert torch.isclose(grid[1, 1], F.cross_entropy(model(images), labels))
        vector_to_parameters(centre + 0.5 * d1 - 0.5 * d2, model.parameters())  # a = +0.5, b = -0.5
        assert torch.isclose(grid[0, 2], F.cross_entropy(model(images), labels), rtol=1e-5)


def test_slices_of_a_trained_mlp(small_mnist):
    slices, trainer = mnist_loss_slices(
        small_config(hidden=16, epochs=2), small_mnist, size=5, images=200
    )
    random, principal = slices
    assert [piece.name for piece in slices] == ["random", "pca"]
    assert random.loss.shape == (5, 5) and torch.isfinite(random.loss).all()
    assert torch.equal(random.alphas, torch.linspace(-1, 1, 5))
    # the path's own plane holds it; a random one does not
    assert principal.captured > 0.5 > random.captured
    # the path ends at the centre
    assert torch.allclose(principal.path[-1], torch.zeros(2), atol=1e-3)
    assert len(principal.path) > 2 and trainer.history[-1]["epoch"] == 2
    assert torch.equal(random.path_loss, principal.path_loss) and len(random.path_loss) == len(
        random.path
    )
    assert random.path_loss[-1] < random.path_loss[0]  # training lowered the loss
    # the centre of the grid
    assert torch.isclose(random.path_loss[-1], random.loss[2, 2], rtol=1e-4)


def test_plot_landscape_part_b_command(tmp_path, capsys):
    assert (
        main(
            [
                "plot",
                "landscape",
                "--part",
                "b",
                "--hidden",
                "16",
                "--epochs",
                "1",
                "--grid",
                "5",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "random directions: loss" in text and "pca directions: loss" in text
    with Image.open(tmp_path / "landscape-mnist.png") as image:
        assert image.width > 1000 and image.height > 900
    assert not (tmp_path / "landscape-two-weights.png").exists()
