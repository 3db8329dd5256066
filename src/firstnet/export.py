"""Models out of firstnet: a run as an ONNX graph, or its weights alone as safetensors.

The ONNX graph is the network in fp32 with its own normalisation inside (it takes pixels in [0, 1],
shape (batch, 1, 28, 28), and returns logits (batch, 10)), a dynamic batch axis, opset OPSET. It has
no test-time augmentation: a CNN run evaluated by firstnet with TTA can differ from it on a few
images. `check_onnx` runs the graph with onnxruntime and compares it with firstnet's own forward
pass.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from firstnet.atomic import atomic_write
from firstnet.errors import FirstnetError
from firstnet.tensorfile import save_tensors

OPSET = 18  # pinned: runtimes support it widely (onnxruntime since 1.14)
INPUT, OUTPUT = "images", "logits"
CHECK_BATCH = 1000


def needs(module: str):
    """Import an optional dependency of export, or say how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise FirstnetError(f"{module} is not installed: pip install 'firstnet[export]'") from None


def export_onnx(model: torch.nn.Module, out: Path) -> Path:
    """Write a run's model (`runs.load_model`) as an ONNX graph to `out` (atomically); returns
    `out`."""
    needs("onnx")
    needs("onnxscript")
    model = model.float().eval()
    example = torch.rand(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    quiet = logging.getLogger("torch.onnx")  # its notes on torchvision ops this model does not use
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.no_grad():
            # stdout: the exporter's progress lines; warnings: its deprecation notes
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, (example,), input_names=[INPUT], output_names=[OUTPUT],
                dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True,
            )  # fmt: skip
    finally:
        quiet.setLevel(level)
    return atomic_write(out, lambda tmp: program.save(str(tmp)))


def onnx_logits(path: Path, images: np.ndarray) -> np.ndarray:
    """Logits (N, 10) of an exported graph for uint8 images (N, 28, 28), by onnxruntime."""
    session = needs("onnxruntime").InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batches = []
    for start in range(0, len(images), CHECK_BATCH):
        pixels = images[start : start + CHECK_BATCH, None].astype(np.float32) / 255
        batches.append(session.run([OUTPUT], {INPUT: pixels})[0])
    return np.concatenate(batches)


def check_onnx(path: Path, model: torch.nn.Module, images: np.ndarray) -> dict:
    """The graph against firstnet's fp32 forward pass of `model` on uint8 images (N, 28, 28): the
    share of equal argmax and the largest difference of a probability."""
    with torch.no_grad():
        pixels = torch.tensor(images).unsqueeze(1).float().div_(255)
        torch_probs = torch.cat(
            [model.float()(part).softmax(1) for part in pixels.split(CHECK_BATCH)]
        )
    onnx_probs = torch.from_numpy(onnx_logits(path, images)).softmax(1)
    return {
        "images": len(images),
        "same_argmax": float((onnx_probs.argmax(1) == torch_probs.argmax(1)).double().mean()),
        "max_probability_difference": float((onnx_probs - torch_probs).abs().max()),
    }


def export_weights(cfg, model: torch.nn.Module, out: Path) -> Path:
    """A run's weights (`runs.load_model`) alone as safetensors, with the config and the layout in
    its metadata (see docs/export.md)."""
    layout = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    metadata = {"format": "firstnet-weights", "config": json.dumps(cfg.to_dict()),
                "layout": json.dumps(layout)}  # fmt: skip
    save_tensors(Path(out), model.state_dict(), metadata)
    return Path(out)
