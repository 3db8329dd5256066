"""Latency of an exported ONNX graph under onnxruntime beside firstnet's own forward pass, per
batch.

    python benchmarks/onnx_latency.py RUN [--repeats 200]

Exports RUN with `firstnet export`'s code, then times one forward pass of a batch of 1 and of 256
MNIST test images in each (median over --repeats, after warm-up), both in fp32 on the CPU with the
same threads. Prints the medians, the ratio, and the hardware.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from firstnet import export, runs
from firstnet.data import load_dataset
from firstnet.device import cpu_name


def median_ms(call, repeats: int) -> float:
    for _ in range(10):  # warm-up
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished run directory")
    parser.add_argument("--repeats", type=int, default=200, help="timed passes per batch size")
    args = parser.parse_args()
    _, model = runs.load_model(args.run)
    model = model.float().eval()
    images = load_dataset().test_images
    with tempfile.TemporaryDirectory() as folder:
        path = export.export_onnx(model, Path(folder) / "model.onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        print(f"{args.run.name}: {cpu_name()}, {torch.get_num_threads()} threads, torch "
              f"{torch.__version__}, onnxruntime {onnxruntime.__version__}")  # fmt: skip
        for batch in (1, 256):
            pixels = images[:batch, None].astype(np.float32) / 255
            tensor = torch.from_numpy(pixels.copy())
            with torch.inference_mode():
                firstnet_ms = median_ms(lambda tensor=tensor: model(tensor), args.repeats)
            feed = {"images": pixels}
            onnx_ms = median_ms(lambda feed=feed: session.run(["logits"], feed), args.repeats)
            print(f"batch {batch:3d}: firstnet {firstnet_ms:.3f} ms, onnxruntime {onnx_ms:.3f} ms "
                  f"(onnxruntime / firstnet {onnx_ms / firstnet_ms:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
