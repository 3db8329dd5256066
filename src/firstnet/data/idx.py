"""Reading and validating IDX files, the format MNIST is distributed in.

An IDX file is a big-endian header -- two zero bytes, a type code, the number of dimensions, then
one uint32 per dimension -- followed by the array's bytes. MNIST uses type 0x08 (unsigned byte), so
the magic number is 2051 (0x00000803) for images (N, 28, 28) and 2049 (0x00000801) for labels (N,).
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firstnet.atomic import read_regular
from firstnet.errors import DataFormatError

# Bounds on a data file, wherever it comes from (a mirror, a folder, a Keras .npz): the largest file
# of any set is 26 MB compressed (Fashion-MNIST's training images) and 47 MB decompressed; a "gzip
# bomb" stops at MAX_INFLATED instead of filling memory or the disk.
MAX_DOWNLOAD = 40_000_000  # bytes as sent by a mirror
MAX_INFLATED = 50_000_000  # bytes decompressed; also the most a file on the disk may have
CHUNK = 1 << 20
GZIP = b"\x1f\x8b"
UBYTE = 0x08
IMAGES_MAGIC = 2051  # 0x00000803: ubyte, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: ubyte, 1 dimension


def read_bytes(path: Path) -> bytes:
    """Return the decompressed content of `path` (gzip is detected by its magic bytes, not the
    name): a regular file of at most MAX_INFLATED bytes, decompressed to at most as many."""
    raw = read_regular(path, MAX_INFLATED, DataFormatError)
    if raw[:2] != GZIP:
        return raw
    pieces, size = [], 0
    while raw:  # one gzip member after another, as gzip.decompress reads them
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        for piece in inflate(decompressor, raw, str(path)):
            size += len(piece)
            if size > MAX_INFLATED:
                raise DataFormatError(
                    f"{path}: decompresses to over {MAX_INFLATED:,} bytes: not a data set file"
                )
            pieces.append(piece)
        if not decompressor.eof:
            raise DataFormatError(f"{path}: corrupt gzip data (it ends early)")
        raw = decompressor.unused_data
    return b"".join(pieces)


def inflate(decompressor, chunk: bytes, name: str) -> Iterator[bytes]:
    """`chunk` decompressed, in pieces of at most CHUNK bytes (a compressed megabyte can hold a
    gigabyte); raw files pass through as they are (`decompressor` None)."""
    if decompressor is None:
        yield chunk
        return
    pending = chunk
    while pending:
        try:
            data = decompressor.decompress(pending, CHUNK)
        except zlib.error as err:
            raise DataFormatError(f"{name}: corrupt gzip data ({err})") from err
        pending = decompressor.unconsumed_tail
        yield data


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def parse_idx(content: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a read-only uint8 array, checking header and length against each
    other."""
    if len(content) < 4:
        raise DataFormatError(f"{name}: too short for an IDX header ({len(content)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(content[:2], "big"), content[2], content[3]
    magic = int.from_bytes(content[:4], "big")
    if zero != 0 or dtype_code != UBYTE or ndim == 0:
        raise DataFormatError(
            f"{name}: bad magic number {magic} (expected {IMAGES_MAGIC} or {LABELS_MAGIC})"
        )
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise DataFormatError(f"{name}: header truncated ({len(content)} of {header_len} bytes)")
    dims = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_len + math.prod(dims)  # Python ints: a corrupt header cannot overflow
    if len(content) != expected:
        problem = "truncated" if len(content) < expected else "has trailing bytes"
        raise DataFormatError(
            f"{name}: file {problem}: header says dimensions {dims} ({expected} bytes), file has "
            f"{len(content)}"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_len).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """Inverse of `parse_idx` for uint8 arrays (used to checksum Keras downloads and in tests)."""
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError("encode_idx takes a uint8 array with at least one dimension")
    header = bytes([0, 0, UBYTE, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def check_images(images: np.ndarray, name: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFormatError(f"{name}: expected images of shape (N, 28, 28), got {images.shape}")


def check_labels(labels: np.ndarray, name: str, num_classes: int = 10) -> None:
    if labels.ndim != 1:
        raise DataFormatError(f"{name}: expected labels of shape (N,), got {labels.shape}")
    if labels.size and int(labels.max()) >= num_classes:
        raise DataFormatError(
            f"{name}: label {int(labels.max())} out of range 0..{num_classes - 1}"
        )
