"""Turning a user's picture of a digit into an MNIST-like 28x28 image.

MNIST digits were size-normalised to fit a 20x20 box (keeping the aspect ratio) and centred by their
centre of mass in a 28x28 field, white ink on black (LeCun et al.). A model trained on MNIST only
understands input prepared the same way, so `predict` and the web page both use this one function.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from os import PathLike

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from firstnet.atomic import open_regular
from firstnet.errors import ImageError

INK_THRESHOLD = 0.1  # fraction of full intensity above which a pixel counts as ink
# The formats `firstnet predict` decodes: raster formats Pillow reads itself. Never EPS or PDF,
# which Pillow hands to Ghostscript, an interpreter (Pillow's own advice for untrusted input).
PICTURE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
MAX_PICTURE_FILE = 100_000_000  # bytes: a large uncompressed scan; a phone's photo has a few MB


# A picture is refused above MAX_PIXELS before it is decoded, and one larger than DECODE_SIDE a
# side is reduced as it is decoded: a 48-megapixel photo is read, a 13000x13000 PNG of 190 kB is
# not (2.6 GB before), and the largest picture allowed costs about 0.53 GB (an 8000x8000 RGBA PNG;
# an 8000x6000 JPEG 0.10 GB: docs/security.md).
MAX_PIXELS = 64_000_000
DECODE_SIDE = 2048
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F")  # the modes `Image.reduce` takes


def load_image(path, formats: tuple[str, ...] = PICTURE_FORMATS) -> np.ndarray:
    """A grayscale image as float32 (H, W) in [0, 1] from a file path or a binary file object, read
    only if it is one of `formats` (a path: a regular file of at most MAX_PICTURE_FILE bytes), at
    most MAX_PIXELS, and reduced to DECODE_SIDE a side."""
    try:
        with picture_file(path) as source:
            with warnings.catch_warnings():  # the size is checked against a smaller bound
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                opened = Image.open(source, formats=formats)
            with opened:
                return grayscale(opened, path)
    except UnidentifiedImageError:
        kinds = ", ".join(formats)
        raise ImageError(f"{path}: cannot read image (not one of {kinds})") from None
    except Image.DecompressionBombError:  # over twice Pillow's bound: refused as it opens
        limit = MAX_PIXELS // 1_000_000
        raise ImageError(f"{path}: the picture is over {limit} megapixels: scale it down") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        # Pillow reports a damaged chunk as SyntaxError and some truncations as EOFError
        raise ImageError(f"{path}: cannot read image ({err or type(err).__name__})") from None


def grayscale(opened: Image.Image, path) -> np.ndarray:
    """The float32 (H, W) grayscale of an opened picture, in [0, 1]: upright as its EXIF says,
    transparent pixels white, at most DECODE_SIDE a side."""
    width, height = opened.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{path}: the picture is {width}x{height} pixels; at most "
            f"{MAX_PIXELS // 1_000_000} megapixels: scale it down"
        )
    sixteen = opened.mode.startswith("I;16")  # 16-bit grayscale: convert("L") would clip
    image = ImageOps.exif_transpose(reduced(opened))  # a phone's rotation
    if sixteen:
        return np.asarray(image, dtype=np.float32) / 65535.0
    image = image.convert("RGBA") if "A" in image.getbands() or image.mode == "P" else image
    if image.mode == "RGBA":  # transparent pixels become white paper
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def picture_file(path):
    """`path` opened for reading if it is a regular file of at most MAX_PICTURE_FILE bytes
    (`atomic.open_regular`: a FIFO would block the read forever, a device never end); a file
    object is used as it is, left open."""
    if isinstance(path, str | PathLike):
        return open_regular(path, MAX_PICTURE_FILE, ImageError)
    return nullcontext(path)


def reduced(opened: Image.Image) -> Image.Image:
    """The decoded picture, at most DECODE_SIDE a side: a JPEG is decoded at 1/2 to 1/8 of its size
    (`draft`), anything else reduced by an integer factor (box average) once decoded. Its EXIF
    stays with it."""
    width, height = opened.size
    factor = -(-max(width, height) // DECODE_SIDE)
    if factor == 1:
        return opened
    opened.draft(opened.mode, (width // factor, height // factor))
    factor = -(-max(opened.size) // DECODE_SIDE)  # what the draft left to do
    image = opened
    if factor > 1:
        if opened.mode.startswith("I;16"):
            image = opened.convert("I")
        elif opened.mode not in REDUCIBLE:
            image = opened.convert(
                "RGBA" if "A" in opened.getbands() or opened.mode == "P" else "L"
            )
        image = image.reduce(factor)
        image.info = opened.info  # the EXIF orientation
    return image


def mnist_like(gray: np.ndarray) -> np.ndarray:
    """MNIST-style float32 image (28, 28) in [0, 1], ink bright on black, from grayscale (H, W) in
    [0, 1] -- a drawing, a scan or a photo.

    Steps: invert if the background is light; remove the background's tone: one value where the
    border is flat (a canvas, a clean scan), else also where light falls unevenly, as in a photo (a
    morphological opening estimates it); keep the digit's strokes, not specks of dirt (connected
    parts much smaller than the largest); crop to the ink; bring the strokes to MNIST's thickness;
    scale to fit 20x20; centre by mass. Every step costs a bounded number of passes over the picture
    or a smaller copy of it (WORK_SIDE, INK_SIDE), whatever the drawing's shape.
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
    ground = float(np.median(border))
    # a canvas or a clean scan: one tone under the ink; a photo: the light falls unevenly
    flat = bool(np.quantile(np.abs(border - ground), 0.98) <= FLAT * (gray.max() - ground))
    gray = np.clip(gray - (ground if flat else background(gray)), 0.0, 1.0)
    if gray.max() < INK_THRESHOLD:
        raise ImageError("the image is empty: no ink found")
    gray = gray * main_strokes(gray > STROKE_LEVEL * gray.max(), clean=flat)
    rows, cols = np.nonzero(gray > INK_THRESHOLD * gray.max())
    ink = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    ink = even_strokes(ink)
    scale = 20.0 / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))  # (w, h)
    small = np.asarray(
        Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS), dtype=np.float32
    )
    small = np.clip(small, 0.0, None)
    if not small.max() > 0:  # the ink was too fine to survive the scaling
        raise ImageError("the image is empty: no ink left at 28x28 pixels")
    return centre_by_mass(small / small.max())


# A border whose tones all lie this close to their median, as a fraction of the ink's contrast with
# it, is one flat ground (faint pencil on slightly noisy paper is not).
FLAT = 0.04
STROKE_LEVEL = 0.35  # of the brightest ink: pixels above it belong to a stroke
SPECK = 0.08  # a connected part under this fraction of the largest one's area is dirt, not a stroke
WORK_SIDE = 128  # the background and the parts are found on a copy at most this large
INK_SIDE = 80  # strokes are thickened or thinned on a copy of the digit at most this large
MNIST_STROKE = 0.11  # MNIST strokes are about 2.2 of the 20 pixels a digit spans
# Strokes up to this many times MNIST's are left as they are: markers vary a lot, and MNIST's own
# digits measure 0.8 to 2.3 times (1st to 99th percentile of 1,000 test digits, drawn at 280x280;
# at 2.0 the boldest were thinned, and 1.5% more of them misread).
THICKEST = 2.5


def shrunk(image: np.ndarray) -> Image.Image:
    """`image` (float) as a float ("F") picture at most WORK_SIDE pixels on a side."""
    factor = min(1.0, WORK_SIDE / max(image.shape))
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return Image.fromarray(image.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)


def pooled(image: np.ndarray, side: int, reduce) -> tuple[np.ndarray, int]:
    """`image` shrunk by a whole factor k to at most `side` pixels on a side, each k x k block
    taken by `reduce` (np.max keeps a thin line as bright; np.mean averages), and k."""
    k = -(-max(image.shape) // side)
    if k == 1:
        return image, 1
    height, width = -(-image.shape[0] // k) * k, -(-image.shape[1] // k) * k
    padded = np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1])))
    blocks = padded.reshape(height // k, k, width // k, k)
    return reduce(blocks, axis=(1, 3)).astype(np.float32), k


def background(gray: np.ndarray) -> np.ndarray:
    """The tone under the ink (bright ink on a dark ground, (H, W)): an opening -- the darkest
    value near each pixel, then the brightest of those -- with a window a quarter of the picture,
    wider than any stroke, so that strokes vanish and slow shading stays; full-size again."""
    small = shrunk(gray)
    window = max(3, min(small.size) // 4) | 1
    opened = square_filter(square_filter(np.asarray(small), window, np.min), window, np.max)
    full = Image.fromarray(opened).resize((gray.shape[1], gray.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(full, dtype=np.float32)


def square_filter(image: np.ndarray, window: int, reduce) -> np.ndarray:
    """`reduce` (np.min or np.max) over a window x window square around each pixel, as two passes
    of one dimension (edges repeated outwards)."""
    half = window // 2
    for axis in (0, 1):
        padding = [(half, half) if a == axis else (0, 0) for a in (0, 1)]
        padded = np.pad(image, padding, mode="edge")
        image = reduce(np.lib.stride_tricks.sliding_window_view(padded, window, axis), axis=-1)
    return np.ascontiguousarray(image, dtype=np.float32)


def main_strokes(mask: np.ndarray, clean: bool = False) -> np.ndarray:
    """A 0/1 float mask (H, W) of the connected parts of `mask` that are not specks (see SPECK),
    each part grown by a few pixels so that the strokes' soft edges are kept; everything else, a
    photo's faint noise too, is 0. `clean` (a flat ground, no noise): only the specks are 0."""
    small = shrunk(mask.astype(np.float32))
    labels = connected_parts(np.asarray(small) > 0.5)
    areas = np.bincount(labels.ravel())[1:]
    keep = np.concatenate([[False], areas >= SPECK * areas.max(initial=0)])
    if areas.size == 0 or (clean and keep[1:].all()):  # nothing found at this size, or no speck
        return np.ones_like(mask, dtype=np.float32)
    strokes = grown(keep[labels], mask.shape)
    if clean:  # a speck's surroundings, not where they reach a stroke
        specks = grown((labels > 0) & ~keep[labels], mask.shape)
        return (~(specks & ~strokes)).astype(np.float32)
    return strokes.astype(np.float32)


def grown(part: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of the working copy grown by two pixels, at full size `shape` (H, W)."""
    image = Image.fromarray((255 * part).astype(np.uint8)).filter(ImageFilter.MaxFilter(5))
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.NEAREST)) > 0


def connected_parts(mask: np.ndarray) -> np.ndarray:
    """Labels (H, W) int of the 8-connected parts of a boolean mask, 0 outside it, 1, 2, ... for
    the parts. Found on runs, the stretches of a row inside the mask: the runs of two neighbouring
    rows that touch (diagonally included) are joined, so the cost grows with the number of runs,
    at most H x W / 2, and never with a part's shape or the length of a stroke."""
    height, width = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]  # one past each run's last pixel, in the same order
    first = np.searchsorted(rows, np.arange(height + 1)).tolist()  # row r: first[r]:first[r+1]
    start, end = starts.tolist(), ends.tolist()
    parent = list(range(len(start)))

    def root(run: int) -> int:
        while parent[run] != run:
            parent[run] = parent[parent[run]]
            run = parent[run]
        return run

    for row in range(height - 1):  # a sweep over the runs of `row` and of the row below it
        upper, lower = first[row], first[row + 1]
        upper_end, lower_end = first[row + 1], first[row + 2]
        while upper < upper_end and lower < lower_end:
            if start[lower] <= end[upper] and start[upper] <= end[lower]:  # they touch
                parent[root(lower)] = root(upper)
            if end[upper] <= end[lower]:
                upper += 1
            else:
                lower += 1
    _, label = np.unique([root(run) for run in range(len(start))], return_inverse=True)
    marks = np.zeros((height, width + 1), dtype=np.int64)  # +label where a run starts, - past it
    marks[rows, starts] = label + 1
    marks[rows, ends] = -(label + 1)
    return np.cumsum(marks, axis=1)[:, :width]


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
    # on a smaller copy, each pass costs a pass over it: thin lines max-pooled, markers averaged
    ink, k = pooled(ink, INK_SIDE, np.max if steps > 0 else np.mean)
    steps = int(round((target - width) / k / 2))
    image = Image.fromarray((255 * ink / ink.max()).astype(np.uint8))
    grow = ImageFilter.MaxFilter(3) if steps > 0 else ImageFilter.MinFilter(3)
    for _ in range(min(abs(steps), 20)):
        image = image.filter(grow)
    evened = np.asarray(image, dtype=np.float32) / 255
    return evened if evened.max() > 0 else ink  # thinned away: pixel-thin ink, a checkerboard


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
