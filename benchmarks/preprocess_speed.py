"""What `firstnet.preprocess.mnist_like` costs and how well drawn digits are read after it.

Three kinds of picture, each decoded from PNG bytes as the page's requests are:
- canvas: MNIST test digits drawn dark on white at 280x280 (as the page's canvas sends them);
- photo: the same digits on paper lit unevenly, with noise (the border is not flat);
- serpentine: one 2-pixel line winding across a 280x280 canvas, the worst case for a labelling
  whose cost grows with the length of a stroke.
For each it prints the median milliseconds of the decoding (`load_image`, the reference measured in
the same run) and of `mnist_like`, and their ratio. With --accuracy it also trains the default MLP
(or reads the run directory RUN) and gives its accuracy on the drawn canvas digits beside its
accuracy on the same MNIST test images as they are. Usage:
    python benchmarks/preprocess_speed.py [--images 200] [--repeats 5] [--accuracy] [--run RUN]
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time

import numpy as np
from PIL import Image, ImageDraw

import firstnet
from firstnet.data import load_dataset
from firstnet.device import cpu_name
from firstnet.preprocess import load_image, mnist_like

SIDE = 280


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def canvas(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit drawn dark on white, 280x280 uint8."""
    big = Image.fromarray(255 - digit).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(big)


def photo(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The canvas on paper lit from one corner, with sensor noise."""
    rows, cols = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    paper = 0.9 - 0.35 * (rows + cols) / 2
    ink = 1 - canvas(digit) / 255
    shot = paper - ink * (paper - 0.08) + rng.normal(0, 0.02, (SIDE, SIDE))
    return (255 * np.clip(shot, 0, 1)).astype(np.uint8)


def serpentine() -> np.ndarray:
    """A 2-pixel line winding across the canvas, row after row, 4 pixels apart."""
    image = Image.new("L", (SIDE, SIDE), 255)
    draw = ImageDraw.Draw(image)
    points = []
    for k, y in enumerate(range(10, SIDE - 10, 4)):
        points += [(10, y), (SIDE - 10, y)] if k % 2 == 0 else [(SIDE - 10, y), (10, y)]
    draw.line(points, fill=0, width=2)
    return np.asarray(image)


def median_ms(work, inputs: list, repeats: int) -> float:
    """The median over `repeats` passes of the mean milliseconds per input."""
    passes = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in inputs:
            work(item)
        passes.append(1000 * (time.perf_counter() - start) / len(inputs))
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="digits per kind of picture")
    parser.add_argument("--repeats", type=int, default=5, help="passes; the median is printed")
    parser.add_argument("--accuracy", action="store_true", help="also the accuracy on canvases")
    parser.add_argument("--run", help="a run directory to read (default: train the default MLP)")
    args = parser.parse_args()

    data = load_dataset()
    digits, labels = data.test_images[: args.images], data.test_labels[: args.images]
    rng = np.random.default_rng(0)
    kinds = {
        "canvas": [png(canvas(d)) for d in digits],
        "photo": [png(photo(d, rng)) for d in digits],
        "serpentine": [png(serpentine())],
    }
    print(f"{cpu_name()}, {platform.python_version()}; {args.images} digits, {args.repeats} passes")
    print(f"{'picture':<11} {'bytes':>7} {'decode ms':>10} {'mnist_like ms':>14} {'ratio':>7}")
    for kind, bodies in kinds.items():
        decoded = [load_image(io.BytesIO(body)) for body in bodies]
        decode = median_ms(lambda body: load_image(io.BytesIO(body)), bodies, args.repeats)
        prepare = median_ms(mnist_like, decoded, args.repeats)
        size = statistics.median(len(body) for body in bodies)
        print(f"{kind:<11} {size:>7.0f} {decode:>10.2f} {prepare:>14.2f} {prepare / decode:>7.1f}")

    if args.accuracy:
        run = firstnet.Run.load(args.run) if args.run else firstnet.train(data=data, progress=False)
        drawn = np.stack([mnist_like(load_image(io.BytesIO(body))) for body in kinds["canvas"]])
        on_canvas = (run.predict(drawn).argmax(1) == labels).mean()
        as_they_are = (run.predict(digits).argmax(1) == labels).mean()
        print(f"{run.config.model}: {100 * on_canvas:.1f}% of {len(labels)} canvas digits, "
              f"{100 * as_they_are:.1f}% of the same MNIST images as they are")  # fmt: skip


if __name__ == "__main__":
    main()
