"""Muon: the orthogonalised update of the hidden weights, SGD on the rest, and training with it."""

from __future__ import annotations

import torch

from firstnet.models import CNN, MLP, Linear
from firstnet.muon import MUON_LR_RATIO, Muon, orthogonalize


def matrix_with_spread_singular_values(rows: int, cols: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=generator))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=generator))
    spread = torch.logspace(0, -1.5, min(rows, cols))  # singular values from 1 down to 0.03
    return (u[:, : len(spread)] * spread) @ v[:, : len(spread)].T


def test_orthogonalize_sets_every_singular_value_near_one_and_keeps_the_directions():
    for rows, cols in [(32, 288), (16, 9)]:  # wide, and tall (iterated transposed)
        matrix = 5 * matrix_with_spread_singular_values(rows, cols, seed=rows)
        result = orthogonalize(matrix)
        assert result.shape == matrix.shape and result.dtype == matrix.dtype
        singular = torch.linalg.svdvals(result)
        assert singular.min() > 0.6 and singular.max() < 1.3, singular  # were 5 .. 0.16
        u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
        polar = u @ vh  # the exact nearest semi-orthogonal matrix
        cosine = (result * polar).sum() / (result.norm() * polar.norm())
        assert cosine > 0.95


def test_muon_takes_the_hidden_weights_and_sgd_the_rest():
    cnn = Muon(CNN(), lr=0.1, momentum=0.9, nesterov=True, decay=0.0)
    muon, rest = cnn.param_groups
    assert muon["muon"] and not rest["muon"]
    assert [p.dim() for p in muon["params"]] == [4] * 5  # the five convolutions
    assert sorted(p.dim() for p in rest["params"]) == [1] * 11 + [2]  # norms, output layer
    model = MLP(hidden=8)
    muon, rest = Muon(model, 0.1, 0.9, True, 0.0).param_groups
    assert muon["params"] == [model.hidden[0].weight, model.hidden[1].weight]
    assert any(p is model.out.weight for p in rest["params"])


def test_the_rest_steps_exactly_as_torch_sgd():
    mine, theirs = Linear(), Linear()
    theirs.load_state_dict(mine.state_dict())
    ours = Muon(mine, lr=0.05, momentum=0.9, nesterov=True, decay=5e-4)
    reference = torch.optim.SGD(
        theirs.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        images = torch.rand(16, 784, generator=generator)
        labels = torch.randint(0, 10, (16,), generator=generator)
        for model, optimizer in ((mine, ours), (theirs, reference)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
    for name, tensor in mine.state_dict().items():
        torch.testing.assert_close(tensor, theirs.state_dict()[name], rtol=1e-6, atol=1e-7)


def test_a_muon_step_moves_a_matrix_by_its_orthogonalised_nesterov_momentum():
    model = MLP(hidden=16, depth=1)
    weight = model.hidden[0].weight  # (16, 784)
    before = weight.detach().clone()
    optimizer = Muon(model, lr=0.2, momentum=0.9, nesterov=True, decay=0.01)
    weight.grad = torch.randn_like(weight)
    optimizer.step()
    buffer = 0.1 * weight.grad  # lerp from zero by 1 - momentum
    update = weight.grad.lerp(buffer, 0.9)
    lr = 0.2 * MUON_LR_RATIO
    expected = before * (1 - lr * 0.01) - lr * orthogonalize(update)  # wide: no scale-up
    torch.testing.assert_close(weight.detach(), expected)
    assert torch.equal(optimizer.state[weight]["momentum_buffer"], buffer)


def test_a_tall_kernel_steps_scaled_up_by_the_root_of_its_aspect():
    model = CNN()
    kernel = model.features[0].weight  # (16, 1, 3, 3): the matrix (16, 9)
    before = kernel.detach().clone()
    optimizer = Muon(model, lr=0.2, momentum=0.0, nesterov=False, decay=0.0)
    kernel.grad = torch.randn_like(kernel)
    optimizer.step()
    step = orthogonalize(kernel.grad.reshape(16, 9)).reshape(kernel.shape)
    expected = before - 0.2 * MUON_LR_RATIO * (16 / 9) ** 0.5 * step
    torch.testing.assert_close(kernel.detach(), expected)
