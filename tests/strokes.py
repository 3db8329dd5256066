"""An MNIST digit as the pen strokes a person would draw: the ink thinned to a one-pixel skeleton
(Zhang and Suen, 1984), then the skeleton walked into polylines, endpoints first. The browser tests
draw these with the mouse on the page's pad."""

from __future__ import annotations

import numpy as np

# the 8 neighbours of a pixel, clockwise from the one above (P2 .. P9 in Zhang and Suen's paper)
RING = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


def thinned(ink: np.ndarray) -> np.ndarray:
    """A boolean image thinned to lines one pixel wide that keep its shape and connections."""
    image = np.pad(ink.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            around = [np.roll(image, (-dy, -dx), (0, 1)) for dy, dx in RING]
            count = sum(p.astype(int) for p in around)
            ring = around + around[:1]
            turns = sum((~a & b).astype(int) for a, b in zip(ring[:-1], ring[1:], strict=True))
            p2, p4, p6, p8 = around[0], around[2], around[4], around[6]
            if step == 0:
                away = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                away = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = image & (count >= 2) & (count <= 6) & (turns == 1) & away
            if remove.any():
                image &= ~remove
                changed = True
        if not changed:
            return image[1:-1, 1:-1]


def strokes_of(digit: np.ndarray, threshold: int = 100) -> list[list[tuple[float, float]]]:
    """The strokes of a (28, 28) uint8 digit, each a list of points as fractions (x, y) of the
    picture's width and height."""
    skeleton = thinned(digit > threshold)
    pixels = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton), strict=True)}

    def neighbours(pixel):
        y, x = pixel
        return [(y + dy, x + dx) for dy, dx in RING if (y + dy, x + dx) in pixels]

    walked: set[frozenset] = set()
    strokes, drawn = [], set()
    # endpoints first (one neighbour), then whatever is left (loops: an 0, the top of a 9)
    starts = sorted(pixels, key=lambda p: (len(neighbours(p)) != 1, p))
    for start in starts:
        for first in neighbours(start):
            if frozenset((start, first)) in walked:
                continue
            line, here, nxt = [start], start, first
            while nxt is not None:
                walked.add(frozenset((here, nxt)))
                line.append(nxt)
                here = nxt
                fresh = [n for n in neighbours(here) if frozenset((here, n)) not in walked]
                nxt = fresh[0] if len(fresh) == 1 or (fresh and len(line) < 3) else None
                if fresh and nxt is None:  # a junction: go straight on where the line went
                    dy, dx = here[0] - line[-2][0], here[1] - line[-2][1]
                    nxt = min(
                        fresh, key=lambda n: abs(n[0] - here[0] - dy) + abs(n[1] - here[1] - dx)
                    )
            if not drawn.issuperset(line):  # skip what only retraces ink drawn already
                strokes.append(line)
                drawn.update(line)
    if not strokes and pixels:  # a dot
        strokes = [[next(iter(pixels))]]
    return [[((x + 0.5) / 28, (y + 0.5) / 28) for y, x in simplified(line)] for line in strokes]


def simplified(line: list[tuple[int, int]], tolerance: float = 0.6) -> list[tuple[int, int]]:
    """The polyline's corners (Ramer-Douglas-Peucker): the points without which it would move by
    more than `tolerance` pixels; a pen drawing straight between them draws the same line."""
    if len(line) < 3:
        return line
    (y0, x0), (y1, x1) = line[0], line[-1]
    length = max(((y1 - y0) ** 2 + (x1 - x0) ** 2) ** 0.5, 1e-9)
    distances = [abs((y1 - y0) * (x - x0) - (x1 - x0) * (y - y0)) / length for y, x in line]
    if line[0] == line[-1]:  # a loop: how far from its start
        distances = [((y - y0) ** 2 + (x - x0) ** 2) ** 0.5 for y, x in line]
    far = max(range(len(line)), key=distances.__getitem__)
    if distances[far] <= tolerance:
        return [line[0], line[-1]]
    return simplified(line[: far + 1], tolerance)[:-1] + simplified(line[far:], tolerance)


def draw(page, strokes: list[list[tuple[float, float]]], steps: int = 8, pad: str = "#pad") -> None:
    """Mouse strokes on the pad `pad` of a Playwright page; points are fractions of its width and
    height."""
    page.locator(pad).scroll_into_view_if_needed()
    box = page.locator(pad).bounding_box()
    for stroke in strokes:
        points = [
            (box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in stroke
        ]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
        page.mouse.up()
