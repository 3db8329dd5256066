"""Request bodies to MNIST-like images, and the message that says what was wrong when that fails.

A JSON array of 28x28 is taken as already MNIST-like (ink bright on black, centred, like a test
image divided by 255) and goes to the model unchanged unless the request asks for "preprocess":
true; any other size, and every uploaded image, goes through `firstnet.preprocess.mnist_like`, the
same steps as `firstnet predict`.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import orjson
from PIL import Image, UnidentifiedImageError

from firstnet.errors import ImageError
from firstnet.preprocess import INK_THRESHOLD, load_image, mnist_like

MAX_BODY_BYTES = 1_000_000  # 1 MB: a 280x280 canvas as PNG is a few kB, as JSON about 300 kB
# PNG compresses blank areas almost to nothing, so a 1 MB body can hold a huge image: its size is
# checked before decoding (the pad sends 280x280; 2048x2048 RGBA decodes in about 16 MB).
MAX_SIDE = 2048
JSON_HELP = 'send {"image": [[...], ...]} with rows of grayscale values in [0, 1]'


class BadRequest(Exception):
    """A request the server cannot answer; `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_json(body: bytes) -> dict:
    """The JSON object of a request body. NaN and Infinity are not JSON, but say so when a client
    sends them."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        if non_finite_json(body):
            raise BadRequest(422, "image contains non-finite values (NaN or Infinity)") from None
        raise BadRequest(400, f"the body is not valid JSON ({err}); {JSON_HELP}") from None
    if not isinstance(payload, dict) or "image" not in payload:
        raise BadRequest(422, f'expected a JSON object with an "image" field; {JSON_HELP}')
    for key, kind in (("model", str), ("preprocess", bool)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            raise BadRequest(422, f'"{key}" must be a {"string" if kind is str else "boolean"}')
    return payload


def non_finite_json(body: bytes) -> bool:
    """Whether a body orjson refused is JSON but for NaN, Infinity or a number too large for a
    float (Python's parser reads those; it is tried only after orjson has failed)."""
    found = []

    def number(text: str) -> float:
        value = float(text)
        found.append(not math.isfinite(value))
        return value

    try:
        json.loads(body, parse_constant=lambda _name: found.append(True), parse_float=number)
    except (ValueError, RecursionError):
        return False
    return any(found)


def array_from_json(image) -> np.ndarray:
    """A float32 (H, W) grayscale array in [0, 1] from the "image" field."""
    try:
        gray = np.asarray(image, dtype=np.float32)
    except (ValueError, TypeError):
        raise BadRequest(
            422, f"image must be a 2-D array of numbers with rows of equal length; {JSON_HELP}"
        ) from None
    if gray.ndim != 2 or gray.size == 0:
        raise BadRequest(
            422,
            f"image must be a 2-D array (rows of pixels), got shape {list(gray.shape)}; "
            "send 28x28 (MNIST-like) or a canvas-sized HxW array",
        )
    # NaN anywhere makes both NaN; an infinity shows in one
    low, high = (
        float(gray.min()),
        float(gray.max()),
    )
    if not (np.isfinite(low) and np.isfinite(high)):
        raise BadRequest(422, "image contains non-finite values (NaN or Infinity)")
    if low < 0 or high > 1:
        raise BadRequest(
            422,
            f"pixel values must lie in [0, 1], got {low:g} to {high:g}; divide 0-255 values by 255",
        )
    return gray


def image_from_bytes(data: bytes) -> np.ndarray:
    """A float32 (H, W) grayscale array in [0, 1] from the bytes of a PNG, and nothing else: the
    header is read first, so an oversized image is refused before it is decoded."""
    if not data:
        raise BadRequest(400, "the image upload is empty")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            width, height = image.size
    except UnidentifiedImageError:
        raise BadRequest(400, "cannot decode the image: it is not a PNG; send a PNG") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise BadRequest(400, f"cannot decode the image ({err}); send a PNG") from None
    if max(width, height) > MAX_SIDE:
        raise BadRequest(422, f"the image is {width}x{height} pixels; at most {MAX_SIDE} per side")
    try:
        return load_image(io.BytesIO(data), formats=("PNG",))
    except ImageError:
        raise BadRequest(
            400, "cannot decode the image: it is truncated or corrupt; send a PNG"
        ) from None


def model_input(gray: np.ndarray, preprocess: bool | None = None) -> tuple[np.ndarray, bool]:
    """The (28, 28) float32 image the model sees, and whether `mnist_like` made it."""
    if preprocess is None:
        preprocess = gray.shape != (28, 28)
    if not preprocess:
        if gray.shape != (28, 28):
            raise BadRequest(
                422, f'"preprocess": false needs a 28x28 image, got {gray.shape[0]}x{gray.shape[1]}'
            )
        if gray.max() < INK_THRESHOLD:
            raise BadRequest(422, "the image is empty: no ink found; draw a digit")
        return np.ascontiguousarray(gray, dtype=np.float32), False
    try:
        return mnist_like(gray), True
    except ImageError as err:
        raise BadRequest(422, f"{err}; draw a digit" if "empty" in str(err) else str(err)) from None
