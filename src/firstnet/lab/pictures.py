"""The lab's small pictures, as base64 PNG for its JSON frames: heat-maps of hidden units over the
plane, weights and gradients as 28x28 tiles or as a matrix.

Signed values (weights, gradients) are drawn blue where negative, white at 0 and red where positive,
each tile scaled to its own largest magnitude, so its pattern shows whatever its size.
"""

from __future__ import annotations

import base64

import numpy as np
import torch

from firstnet.figures.boundary import png_bytes

NEGATIVE, POSITIVE = np.array([0.0, 0.45, 0.70]), np.array([0.84, 0.37, 0.0])  # blue, vermilion


def png_base64(rgb: np.ndarray) -> str:
    """An (H, W, 3) image in [0, 1] as base64 PNG."""
    return base64.b64encode(png_bytes((255 * np.clip(rgb, 0, 1)).round().astype(np.uint8))).decode()


def unit_tiles(outputs: torch.Tensor, size: int) -> np.ndarray:
    """The outputs (S * S, U) of U hidden units on a grid of S x S points as one row of U heat-map
    tiles (S, U * S, 3), each scaled to its own range: dark where the unit is quiet, bright where it
    fires."""
    values = outputs.detach().float().numpy().T.reshape(-1, size, size)  # (U, S, S)
    low = values.min(axis=(1, 2), keepdims=True)
    span = np.maximum(values.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    scaled = (values - low) / span
    heat = np.stack([scaled, scaled**2, 0.25 + 0.5 * scaled * (1 - scaled)], -1)  # (U, S, S, 3)
    return np.concatenate(list(heat), axis=1)


def signed_colours(values: np.ndarray) -> np.ndarray:
    """Values (..., ) in [-1, 1] as colours (..., 3): blue, white at 0, vermilion."""
    t = np.clip(values, -1, 1)[..., None]
    return np.where(t < 0, 1 + t * (1 - NEGATIVE), 1 - t * (1 - POSITIVE))


def signed_tiles(rows: np.ndarray, columns: int, side: int = 28) -> np.ndarray:
    """Rows (N, side * side) as a grid of N square tiles, `columns` wide, 1-pixel white gutters
    between them; each tile scaled to its largest magnitude."""
    tiles = rows.reshape(len(rows), side, side)
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    count_rows = -(-len(rows) // columns)
    step = side + 1
    sheet = np.ones((count_rows * step - 1, columns * step - 1, 3))
    for index, tile in enumerate(signed_colours(tiles)):
        top, left = (index // columns) * step, (index % columns) * step
        sheet[top : top + side, left : left + side] = tile
    return sheet


def signed_matrix(matrix: np.ndarray) -> np.ndarray:
    """A matrix (R, C) as one heat-map (R, C, 3), scaled to its largest magnitude."""
    return signed_colours(matrix / max(float(np.abs(matrix).max()), 1e-12))
