"""PNG files built byte by byte: damaged where a decoder meets it, or huge in pixels and small on
the disk. Shared by the tests of `predict`, the page's uploads and the bounded reads."""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    crc = zlib.crc32(kind + body).to_bytes(4, "big")
    return len(body).to_bytes(4, "big") + kind + body + crc


def garbled_png() -> bytes:
    """An 89-byte 28x28 PNG whose pixel data comes in two IDAT chunks, the second chunk's type
    garbled: the header reads well and the decoder meets the damage (Pillow raises SyntaxError
    there)."""
    buffer = io.BytesIO()
    Image.fromarray(np.eye(28, dtype=np.uint8) * 255).save(buffer, "PNG")
    data = buffer.getvalue()
    start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[start : start + 4], "big")
    pixels, rest = data[start + 8 : start + 8 + length], data[start + 12 + length :]
    half = len(pixels) // 2
    damaged = chunk(b"IDAT", pixels[:half]) + chunk(b"I\xdf\xd0\xce", pixels[half:])
    return data[:start] + damaged + rest


def blank_png(width: int, height: int) -> bytes:
    """A black grayscale PNG of width x height, compressed row by row (13000x13000: 190 kB on the
    disk, 169 MB as pixels)."""
    packer, row = zlib.compressobj(9), bytes(width + 1)  # filter byte 0, then the pixels
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
