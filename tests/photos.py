"""Real-world-style pictures of digits, made from MNIST test digits: what a learner photographs or
scans.

Each kind of picture stresses one step of `firstnet.preprocess`: uneven light on the paper, a speck
of dirt, a phone's EXIF rotation, thin and thick pens, chalk on a board (the other polarity), a
digit far off the centre of a large picture. Deterministic (seeded), written as the files a user
would have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

KINDS = (
    "shaded paper",
    "speck",
    "exif rotation",
    "thin pen",
    "thick pen",
    "chalk board",
    "off-centre",
)


def ink(digit: np.ndarray, size: int) -> np.ndarray:
    """The digit's ink (1) on nothing (0), float (size, size), upscaled smoothly from 28x28."""
    image = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float32) / 255, 0, 1)


def on_paper(amount: np.ndarray, paper: np.ndarray | float, ink_tone: float = 0.08) -> np.ndarray:
    """Dark ink on paper: the tone where `amount` is 1 is `ink_tone`, elsewhere the paper's."""
    return paper - amount * (paper - ink_tone)


def to_uint8(tones: np.ndarray, rng: np.random.Generator, noise: float = 0.02) -> Image.Image:
    noisy = tones + rng.normal(0, noise, tones.shape)
    return Image.fromarray(np.clip(255 * noisy, 0, 255).astype(np.uint8))


def picture(kind: str, digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One picture of `digit` (MNIST 28x28 uint8) of the given kind."""
    if kind == "shaded paper":  # light falls off from one corner to the other
        amount = ink(digit, 240)
        rows, cols = np.mgrid[0:240, 0:240] / 240
        paper = 0.95 - 0.5 * (rows + cols) / 2
        return to_uint8(on_paper(amount, paper, 0.05), rng)
    if kind == "speck":  # a dark speck in a corner of a scan
        amount = np.zeros((300, 300), dtype=np.float32)
        amount[50:250, 50:250] = ink(digit, 200)
        amount[10:16, 280:286] = 1.0
        return to_uint8(on_paper(amount, 0.93), rng)
    if kind == "exif rotation":  # stored on its side; the phone's EXIF says how to turn it
        upright = to_uint8(on_paper(ink(digit, 240), 0.9), rng)
        stored = upright.rotate(90, expand=True)  # counter-clockwise
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to display
        stored.info["exif"] = exif.tobytes()
        return stored
    if kind in ("thin pen", "thick pen"):
        bright = Image.fromarray((255 * ink(digit, 280)).astype(np.uint8))
        shaped = bright.filter(
            ImageFilter.MinFilter(7) if kind == "thin pen" else ImageFilter.MaxFilter(19)
        )
        amount = (np.asarray(shaped, dtype=np.float32) / 255 > 0.5).astype(np.float32)
        return to_uint8(on_paper(amount, 0.92), rng)
    if kind == "chalk board":  # light strokes on a dark, uneven board
        amount = ink(digit, 240)
        board = 0.18 + 0.06 * rng.random((240, 240))
        return to_uint8(board + amount * (0.9 - board), rng)
    if kind == "off-centre":  # a small digit near the edge of a large picture
        amount = np.zeros((400, 400), dtype=np.float32)
        amount[230:370, 20:160] = ink(digit, 140)
        return to_uint8(on_paper(amount, 0.9), rng)
    raise ValueError(kind)


def write_photos(
    mnist, folder: Path, per_kind: int = 5, seed: int = 0
) -> list[tuple[str, int, Path]]:
    """`per_kind` pictures of each kind, of distinct test digits, as files: (kind, label, path)."""
    rng, written = np.random.default_rng(seed), []
    folder.mkdir(parents=True, exist_ok=True)
    for k, kind in enumerate(KINDS):
        for i in range(per_kind):
            index = 1000 + 37 * (k * per_kind + i)  # spread over the test set, away from its start
            image = picture(kind, mnist.test_images[index], rng)
            path = (
                folder / f"{k}-{i}.{'jpg' if kind in ('shaded paper', 'exif rotation') else 'png'}"
            )
            image.save(path, **({"exif": image.info["exif"]} if "exif" in image.info else {}))
            written.append((kind, int(mnist.test_labels[index]), path))
    return written
