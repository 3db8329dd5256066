"""Turning a user's picture of a digit into an MNIST-like 28x28 image.

MNIST digits were size-normalised to fit a 20x20 box (keeping the aspect ratio) and centred by their
centre of mass in a 28x28 field, white ink on black (LeCun et al.). A model trained on MNIST only
understands input prepared the same way, so `predict` and the web page both use this one function.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, UnidentifiedImageError

from firstnet.errors import ImageError

INK_THRESHOLD = 0.1  # fraction of full intensity above which a pixel counts as ink
# The formats `firstnet predict` decodes: raster formats Pillow reads itself. Never EPS or PDF,
# which Pillow hands to Ghostscript, an interpreter (Pillow's own advice for untrusted input).
PICTURE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")


def load_image(path, formats: tuple[str, ...] = PICTURE_FORMATS) -> np.ndarray:
    """A grayscale image as float32 (H, W) in [0, 1] from a file path or a binary file object, read
    only if it is one of `formats`."""
    try:
        with Image.open(path, formats=formats) as image:
            # 16-bit grayscale: scale, since convert("L") would clip
            if image.mode.startswith("I;16"):
                return np.asarray(image, dtype=np.float32) / 65535.0
            image = image.convert("RGBA") if "A" in image.getbands() or image.mode == "P" else image
            if image.mode == "RGBA":  # transparent pixels become white paper
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except UnidentifiedImageError:
        kinds = ", ".join(formats)
        raise ImageError(f"{path}: cannot read image (not one of {kinds})") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageError(f"{path}: cannot read image ({err})") from err


def mnist_like(gray: np.ndarray) -> np.ndarray:
    """MNIST-style float32 image (28, 28) in [0, 1], ink bright on black, from grayscale (H, W) in
    [0, 1].

    Steps: invert if the background is light, crop to the ink, scale to fit 20x20, centre by mass.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    if not np.isfinite(gray).all():
        raise ImageError("image contains non-finite values")
    gray = np.clip(gray, 0.0, 1.0)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper: flip to MNIST's light ink on black
        gray, border = 1.0 - gray, 1.0 - border
    gray = np.clip(gray - np.median(border), 0.0, 1.0)  # remove the paper's tone
    rows, cols = np.nonzero(gray > INK_THRESHOLD * max(gray.max(), 1e-6))
    if gray.max() < INK_THRESHOLD or rows.size == 0:
        raise ImageError("the image is empty: no ink found")
    ink = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20.0 / max(ink.shape)
    # (width, height)
    size = (
        max(1, round(ink.shape[1] * scale)),
        max(1, round(ink.shape[0] * scale)),
    )
    small = np.asarray(
        Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS), dtype=np.float32
    )
    small = np.clip(small, 0.0, None)
    small /= max(small.max(), 1e-6)
    return centre_by_mass(small)


def centre_by_mass(small: np.ndarray) -> np.ndarray:
    """Paste `small` (h, w <= 20) into a 28x28 field so its centre of mass lands on the centre."""
    field = np.zeros((28, 28), dtype=np.float32)
    mass = small.sum()
    rows, cols = np.indices(small.shape)
    centre_row, centre_col = (rows * small).sum() / mass, (cols * small).sum() / mass
    top = int(np.clip(round(13.5 - centre_row), 0, 28 - small.shape[0]))
    left = int(np.clip(round(13.5 - centre_col), 0, 28 - small.shape[1]))
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    return field
