"""Accuracy, per-class accuracy, confusion matrix and the hardest errors of a trained model."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from firstnet.device import autocast, inference_precision
from firstnet.reporting import EVAL_BATCH, EVAL_BATCH_GPU

# Test-time augmentation: the image itself and its 1-pixel shifts (dy, dx); MNIST borders are empty,
# so a circular roll is a shift.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def as_float(
    batch: torch.Tensor, layout: torch.memory_format = torch.contiguous_format
) -> torch.Tensor:
    """A batch as float32: uint8 pixels scaled to [0, 1], float features unchanged."""
    batch = batch.float().div_(255) if batch.dtype == torch.uint8 else batch.float()
    return batch.contiguous(memory_format=layout) if batch.dim() == 4 else batch


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: torch.Tensor, batch_size: int | None = None, tta: bool = False
) -> torch.Tensor:
    """Logits (N, 10) for uint8 images (N, 1, 28, 28) or float images in [0, 1].

    With `tta`, the log of the mean probability over `TTA_SHIFTS` (argmax and cross-entropy still
    apply).
    """
    batch_size = batch_size or (EVAL_BATCH if images.device.type == "cpu" else EVAL_BATCH_GPU)
    was_training = model.training
    model.eval()
    layout = getattr(model, "memory_format", torch.contiguous_format)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        batch = as_float(batch, layout)
        if not tta:
            outputs.append(model(batch).float())
            continue
        probabilities = sum(
            model(torch.roll(batch, shift, dims=(2, 3))).float().softmax(1) for shift in TTA_SHIFTS
        )
        outputs.append((probabilities / len(TTA_SHIFTS)).log())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros(0, 10)


def evaluate(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, tta: bool = False
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction) on a labelled set."""
    logits = predict_logits(model, images, tta=tta)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(1) == labels).float().mean().item()


def confusion_matrix(
    labels: torch.Tensor, predictions: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix (NaN for a class with no examples)."""
    totals = matrix.sum(1).double()
    return matrix.diagonal().double() / totals


def worst_errors(
    probabilities: torch.Tensor, labels: torch.Tensor, count: int = 24
) -> torch.Tensor:
    """Indices of misclassified examples, most confident first."""
    confidence, predictions = probabilities.max(1)
    wrong = (predictions != labels).nonzero().squeeze(1)
    order = confidence[wrong].argsort(descending=True)
    return wrong[order[:count]]


def probabilities(cfg, model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities (N, 10) of a trained model, computed as its training evaluated it: with
    the precision and test-time augmentation of its TrainConfig `cfg`."""
    device = next(model.parameters()).device
    with autocast(inference_precision(cfg.precision, device), device):
        return predict_logits(model, images, tta=bool(cfg.tta)).softmax(1)


def test_report(cfg, model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> dict:
    """Everything `firstnet eval` reports about a trained model on uint8 test images (N, 28, 28):
    accuracy, per-class accuracy, confusion matrix, and the most confident errors (indices,
    predictions, confidence)."""
    labels = torch.tensor(labels, dtype=torch.int64)
    probs = probabilities(cfg, model, torch.tensor(images).unsqueeze(1))  # (N, 10)
    predictions = probs.argmax(1)
    matrix = confusion_matrix(labels, predictions)
    worst = worst_errors(probs, labels)
    return {
        "accuracy": (predictions == labels).double().mean().item(),
        "per_class_accuracy": per_class_accuracy(matrix).tolist(),
        "errors": int((predictions != labels).sum()),
        "test_size": len(labels),
        "confusion_matrix": matrix.tolist(),
        "worst": worst.tolist(),
        "worst_predictions": predictions[worst].tolist(),
        "worst_confidence": probs[worst].max(1).values.tolist(),
    }
