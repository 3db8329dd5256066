"""Turning a user's picture of a digit into an MNIST-like 28x28 image.

MNIST digits were size-normalised to fit a 20x20 box (keeping the aspect ratio) and centred by their
centre of mass in a 28x28 field, white ink on black (LeCun et al.). A model trained on MNIST only
understands input prepared the same way, so `predict` and the web page both use this one function.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from firstnet.errors import ImageError

INK_THRESHOLD = 0.1  # fraction of full intensity above which a pixel counts as ink
# The formats `firstnet predict` decodes: raster formats Pillow reads itself. Never EPS or PDF,
# which Pillow hands to Ghostscript, an interpreter (Pillow's own advice for untrusted input).
PICTURE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")


def load_image(path, formats: tuple[str, ...] = PICTURE_FORMATS) -> np.ndarray:
    """A grayscale image as float32 (H, W) in [0, 1] from a file path or a binary file object, read
    only if it is one of `formats`."""
    try:
        with Image.open(path, formats=formats) as opened:
            image = ImageOps.exif_transpose(opened)  # a phone's rotation, as its EXIF says
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
    [0, 1] -- a drawing, a scan or a photo.

    Steps: invert if the background is light; remove the background's tone, also where light falls
    unevenly (a morphological opening estimates it); keep the digit's strokes, not specks of dirt
    (connected parts much smaller than the largest); crop to the ink; bring the strokes to MNIST's
    thickness; scale to fit 20x20; centre by mass.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    if not np.isfinite(gray).all():
        raise ImageError("image contains non-finite values")
    gray = np.clip(gray, 0.0, 1.0)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper: flip to MNIST's light ink on black
        gray = 1.0 - gray
    gray = np.clip(gray - background(gray), 0.0, 1.0)
    if gray.max() < INK_THRESHOLD:
        raise ImageError("the image is empty: no ink found")
    gray = gray * main_strokes(gray > STROKE_LEVEL * gray.max())
    rows, cols = np.nonzero(gray > INK_THRESHOLD * gray.max())
    ink = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    ink = even_strokes(ink)
    scale = 20.0 / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))  # (w, h)
    small = np.asarray(
        Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS), dtype=np.float32
    )
    small = np.clip(small, 0.0, None)
    small /= max(small.max(), 1e-6)
    return centre_by_mass(small)


STROKE_LEVEL = 0.35  # of the brightest ink: pixels above it belong to a stroke
SPECK = 0.08  # a connected part under this fraction of the largest one's area is dirt, not a stroke
WORK_SIDE = 128  # the background and the parts are found on a copy at most this large
MNIST_STROKE = 0.11  # MNIST strokes are about 2.2 of the 20 pixels a digit spans
THICKEST = 2.0  # strokes up to this many times MNIST's are left as they are (markers vary a lot)


def shrunk(image: np.ndarray) -> tuple[Image.Image, float]:
    """`image` (float) as a float ("F") picture at most WORK_SIDE pixels on a side, and the
    factor."""
    factor = min(1.0, WORK_SIDE / max(image.shape))
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    picture = Image.fromarray(image.astype(np.float32))
    return picture.resize(size, Image.Resampling.BILINEAR), factor


def background(gray: np.ndarray) -> np.ndarray:
    """The tone under the ink (bright ink on a dark ground, (H, W)): an opening -- the darkest
    value near each pixel, then the brightest of those -- with a window a quarter of the picture,
    wider than any stroke, so that strokes vanish and slow shading stays; full-size again."""
    small, _ = shrunk(gray)
    window = max(3, min(small.size) // 4) | 1
    opened = small.filter(ImageFilter.MinFilter(window)).filter(ImageFilter.MaxFilter(window))
    full = opened.resize((gray.shape[1], gray.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(full, dtype=np.float32)


def main_strokes(mask: np.ndarray) -> np.ndarray:
    """A 0/1 float mask (H, W) of the connected parts of `mask` that are not specks (see SPECK),
    each part grown by a few pixels so that the strokes' soft edges are kept."""
    small, factor = shrunk(mask.astype(np.float32))
    labels = connected_parts(np.asarray(small) > 0.5)
    areas = np.bincount(labels.ravel())[1:]
    if areas.size == 0:
        return np.ones_like(mask, dtype=np.float32)
    keep = np.concatenate([[False], areas >= SPECK * areas.max()])
    kept = Image.fromarray((255 * keep[labels]).astype(np.uint8)).filter(ImageFilter.MaxFilter(5))
    full = kept.resize((mask.shape[1], mask.shape[0]), Image.Resampling.NEAREST)
    return (np.asarray(full) > 0).astype(np.float32)


def connected_parts(mask: np.ndarray) -> np.ndarray:
    """Labels (H, W) int of the 8-connected parts of a boolean mask, 0 outside it: every pixel
    repeatedly takes the largest label among its neighbours until nothing changes."""
    labels = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:
        padded = np.pad(labels, 1)
        neighbours = [padded[1 + dy : 1 + dy + mask.shape[0], 1 + dx : 1 + dx + mask.shape[1]]
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # fmt: skip
        grown = np.where(mask, np.maximum.reduce(neighbours), 0)
        if np.array_equal(grown, labels):
            break
        labels = grown
    _, compact = np.unique(labels, return_inverse=True)  # 0 stays 0: it is the smallest label
    return compact.reshape(mask.shape)


def even_strokes(ink: np.ndarray) -> np.ndarray:
    """The cropped digit with strokes made about as thick, relative to its size, as MNIST's: a
    fine pen is thickened, a marker thinned (stroke width estimated as twice the area over the
    outline's length)."""
    mask = ink > STROKE_LEVEL * ink.max()
    outline = mask & ~np.pad(mask, 1)[2:, 1:-1] | mask & ~np.pad(mask, 1)[:-2, 1:-1]
    outline |= mask & ~np.pad(mask, 1)[1:-1, 2:] | mask & ~np.pad(mask, 1)[1:-1, :-2]
    width = 2 * mask.sum() / max(outline.sum(), 1)
    target = MNIST_STROKE * max(ink.shape)
    steps = int(round((target - width) / 2))  # each 3x3 max or min filter adds or takes 2 pixels
    if 0.65 * target <= width <= THICKEST * target or steps == 0:
        return ink
    image = Image.fromarray((255 * ink / ink.max()).astype(np.uint8))
    grow = ImageFilter.MaxFilter(3) if steps > 0 else ImageFilter.MinFilter(3)
    for _ in range(min(abs(steps), 20)):
        image = image.filter(grow)
    return np.asarray(image, dtype=np.float32) / 255


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
