"""Gradient intuition (plot landscape, part a): the numbers behind the figure, and the figure
itself."""

from __future__ import annotations

import torch
from PIL import Image

from firstnet.cli import main
from firstnet.figures.loss_surface import (
    descend,
    gradient_intuition,
    loss,
    loss_grid,
    make_problem,
    sharpness,
)


def analytic_gradient(problem, weights):
    """Logistic regression: dL/dw = X^T (sigmoid(X w) - y) / N."""
    residual = torch.sigmoid(problem.features @ weights) - problem.labels
    return problem.features.T @ residual / len(problem.labels)


def test_arrows_are_the_autograd_gradient():
    problem = make_problem(points=50, seed=3)
    w1, w2, values, gradient = loss_grid(problem, extent=3.0, size=7)
    for i in range(7):
        for j in range(7):
            weights = torch.stack([w1[i, j], w2[i, j]])
            assert torch.allclose(gradient[i, j], analytic_gradient(problem, weights), atol=1e-12)
            assert torch.isclose(values[i, j], loss(problem, weights))


def test_learning_rates_behave_as_labelled():
    intuition = gradient_intuition(steps=40)
    paths = intuition["paths"]
    minimum = intuition["loss"].min()
    assert paths["good"]["loss"][-1] < minimum + 0.01  # settles at the bottom
    assert paths["too small"]["loss"][-1] > paths["good"]["loss"][-1] + 0.1  # still on the way down
    good_lr, large_lr = paths["good"]["lr"], paths["too large"]["lr"]
    assert large_lr > 2 * good_lr
    # near the end, it keeps jumping back and forth
    steps = paths["too large"]["path"].diff(dim=0)[-10:]
    assert (steps[1:, 0] * steps[:-1, 0] < 0).all()
    assert paths["too large"]["loss"][-1] > paths["good"]["loss"][-1]


def analytic_hessian(problem, weights):
    """Logistic regression: d2L/dw2 = X^T diag(p (1 - p)) X / N, p = sigmoid(X w)."""
    p = torch.sigmoid(problem.features @ weights)
    return problem.features.T @ (problem.features * (p * (1 - p))[:, None]) / len(problem.labels)


def test_sharpness_sets_the_stability_limit():
    """Gradient descent near the minimum converges below lr = 2 / sharpness and is thrown off above
    it."""
    problem = make_problem()
    minimum = torch.zeros(2, dtype=torch.float64)
    # Newton's method on the closed-form gradient and Hessian: the exact minimum
    for _ in range(30):
        step = torch.linalg.solve(
            analytic_hessian(problem, minimum), analytic_gradient(problem, minimum)
        )
        minimum = minimum - step
    assert analytic_gradient(problem, minimum).abs().max() < 1e-12
    eigenvalues, eigenvectors = torch.linalg.eigh(analytic_hessian(problem, minimum))
    top = sharpness(problem, minimum)
    assert abs(top - eigenvalues[-1].item()) < 1e-10 * eigenvalues[-1].item()
    start = minimum + 1e-3 * eigenvectors[:, -1]  # a small push along the sharpest direction
    distance = {}
    for factor in (1.9, 2.1):  # the push is multiplied by |1 - lr * top| each step: 0.9 and 1.1
        path, _ = descend(problem, start, factor / top, 30)
        distance[factor] = (path[-1] - minimum).norm().item()
    assert distance[1.9] < 1e-3 * 0.9**30 * 1.5  # shrinks as the quadratic model says
    assert distance[2.1] > 1e-3 * 1.1**30 / 1.5  # grows: above 2 / sharpness descent is unstable


def test_plot_landscape_command(tmp_path, capsys):
    assert (
        main(["plot", "landscape", "--part", "a", "--out-dir", str(tmp_path), "--steps", "20"]) == 0
    )
    text = capsys.readouterr().out
    assert "too small" in text and "good" in text and "too large" in text
    with Image.open(tmp_path / "landscape-two-weights.png") as image:
        assert image.width > 1200 and image.height > 500
    assert not (tmp_path / "landscape-mnist.png").exists()  # part b only when asked
