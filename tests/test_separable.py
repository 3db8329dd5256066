"""The proof that MNIST is not linearly separable: checked from the images, not trusted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from firstnet.separable import answer, averages, certificate, residual


def test_mnist_is_proved_not_linearly_separable(mnist):
    proof = certificate(mnist.train_images, mnist.train_labels)
    assert proof["separable"] is False
    a, b = proof["classes"]
    for indices, weights, label in zip(proof["indices"], proof["weights"], (a, b), strict=True):
        assert (mnist.train_labels[indices] == label).all()  # each side is one class
        assert min(weights) > 0 and sum(weights) == pytest.approx(1, abs=1e-12)
    # the two averages, recomputed here from the images, are one picture
    assert residual(mnist.train_images, proof) < 1e-9
    # so a linear function takes one value on it: here, the least-squares 7-vs-9 (or a-vs-b) line
    first, second = averages(mnist.train_images, proof)
    direction = first.ravel() - mnist.train_images[mnist.train_labels == b].mean(0).ravel() / 255
    assert abs(direction @ first.ravel() - direction @ second.ravel()) < 1e-9
    # a basic solution of the program: at most 784 + 2 images
    assert 2 < sum(map(len, proof["indices"])) <= 786
    assert answer(proof, mnist.classes).startswith("no: ")


def test_two_classes_a_line_separates_decide_nothing():
    rng = np.random.default_rng(0)
    left = rng.integers(0, 100, (60, 2))
    right = rng.integers(150, 256, (60, 2))
    images = np.concatenate([left, right]).astype(np.uint8)
    labels = np.repeat([0, 1], 60)
    proof = certificate(images, labels)
    assert proof["separable"] is None and proof["classes"] == [0, 1]
    assert answer(proof, ("0", "1")).startswith("not decided")


def test_xor_is_proved_by_its_four_corners():
    images = np.array([[0, 0], [255, 255], [255, 0], [0, 255]], dtype=np.uint8)
    labels = np.array([0, 0, 1, 1])
    proof = certificate(images, labels, pair=(0, 1))
    assert proof["separable"] is False
    assert [sorted(indices) for indices in proof["indices"]] == [[0, 1], [2, 3]]
    assert np.allclose(proof["weights"], 0.5) and proof["residual"] < 1e-12


def test_a_program_that_does_not_finish_decides_nothing(monkeypatch):
    """HiGHS can stop on numerical trouble: that is not a proof that the hulls are apart. More
    candidates are tried; when the last program does not finish either, it is an error."""
    from firstnet import separable
    from firstnet.errors import FirstnetError

    images = np.array([[0, 0], [255, 255], [255, 0], [0, 255]], dtype=np.uint8)
    labels = np.array([0, 0, 1, 1])
    solve, calls = separable.common_average, []

    def flaky(first, second):
        calls.append(len(first))
        if len(calls) == 1:
            raise FirstnetError("the linear program did not finish: numerical trouble")
        return solve(first, second)

    monkeypatch.setattr(separable, "CANDIDATES", (1, None))
    monkeypatch.setattr(separable, "common_average", flaky)
    assert certificate(images, labels, pair=(0, 1))["separable"] is False and calls == [1, 2]

    def failing(first, second):
        raise FirstnetError("the linear program did not finish: numerical trouble")

    monkeypatch.setattr(separable, "common_average", failing)
    with pytest.raises(FirstnetError, match="did not finish"):
        certificate(images, labels, pair=(0, 1))


def xor_data():
    from firstnet.data import LabelledData

    images = np.array([[0, 0], [255, 255], [255, 0], [0, 255]], dtype=np.uint8)
    labels = np.array([0, 0, 1, 1], dtype=np.uint8)
    return LabelledData(images, labels, images, labels, "test", num_classes=2)


def test_a_proof_is_found_once_kept_and_checked_again_on_every_read(tmp_path, monkeypatch):
    from firstnet import separable

    solve, calls = separable.certificate, []
    monkeypatch.setattr(separable, "certificate", lambda *a: calls.append(1) or solve(*a))
    data = xor_data()
    found = separable.kept_certificate(data, tmp_path)
    assert found["separable"] is False and "checked_seconds" not in found and calls == [1]
    (kept_file,) = tmp_path.iterdir()
    kept = separable.kept_certificate(data, tmp_path)
    assert calls == [1] and kept["indices"] == found["indices"] and "checked_seconds" in kept
    assert answer(kept, ("0", "1")).endswith(f"(on {found['found'][:10]}; checked again now)")
    # another data set (other images) has its own file: it is solved, not read
    other = xor_data()
    other.train_images[0] = [1, 0]
    separable.kept_certificate(other, tmp_path)
    assert calls == [1, 1] and len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda proof: "not json {",
        lambda proof: json.dumps(proof | {"weights": [[0.9, 0.1], [0.5, 0.5]]}),  # averages differ
        lambda proof: json.dumps(proof | {"indices": [[0, 2], [1, 3]]}),  # the wrong classes
        lambda proof: json.dumps(proof | {"indices": [[0, 99], [2, 3]]}),  # no such image
        lambda proof: json.dumps(proof | {"weights": [[-1.0, 2.0], [0.5, 0.5]]}),
        lambda proof: json.dumps(proof | {"separable": None}),
        lambda proof: json.dumps([proof]),
        lambda proof: " " * (2 << 20),  # over the size a kept proof may have
        lambda proof: json.dumps({k: v for k, v in proof.items() if k not in ("found", "seconds")}),
        lambda proof: json.dumps(proof | {"residual": "0"}),
    ],
    ids=[
        "garbage",
        "averages",
        "classes",
        "index",
        "weights",
        "undecided",
        "a list",
        "huge",
        "no dates",
        "residual",
    ],  # fmt: skip
)
def test_a_damaged_kept_proof_proves_nothing_and_is_solved_anew(tmp_path, monkeypatch, damage):
    from firstnet import separable

    data = xor_data()
    proof = separable.kept_certificate(data, tmp_path)
    (kept_file,) = tmp_path.iterdir()
    kept_file.write_text(damage({k: v for k, v in proof.items() if k != "checked_seconds"}))
    solve, calls = separable.certificate, []
    monkeypatch.setattr(separable, "certificate", lambda *a: calls.append(1) or solve(*a))
    again = separable.kept_certificate(data, tmp_path)
    assert calls == [1] and again["separable"] is False and "checked_seconds" not in again
    assert separable.holds(data.train_images, data.train_labels, json.loads(kept_file.read_text()))
    assert separable.answer(separable.kept_certificate(data, tmp_path), data.classes)


def test_a_cache_that_cannot_be_written_keeps_nothing_and_the_proof_stands(tmp_path):
    from firstnet import separable

    (tmp_path / "file").write_text("")
    proof = separable.kept_certificate(xor_data(), tmp_path / "file" / "proofs")
    assert proof["separable"] is False
