"""Drawing the decision-boundary animation: per model, the regions with the points, beside its curves.

One figure is built once and its artists updated per frame (much faster than a figure per frame); each
frame is the canvas's pixels. Writers: GIF (Pillow), MP4 (ffmpeg, when installed), the last frame as PNG.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb
from PIL import Image

from firstnet.boundary import BoundaryRun, Grid
from firstnet.data.toy import ToyData
from firstnet.errors import FirstnetError
from firstnet.viz.style import PALETTE, plt, write_atomic

CLASS_COLOURS = np.array([to_rgb(c) for c in PALETTE[:7]])  # (7, 3): the palette without black
FRAME_DPI = 80
CONFIDENCE_BANDS = 5
ROW_INCHES = (12.0, 3.75)  # width, height of one model's row


def region_colours(probabilities: np.ndarray) -> np.ndarray:
    """RGB image (S, S, 3) of decision regions: each pixel the colour of the argmax class, paler where the
    model is less sure (mixed with white by confidence above chance, in CONFIDENCE_BANDS steps: the bands
    read like contour lines of the confidence and keep the GIF small)."""
    classes = probabilities.shape[-1]
    winner = probabilities.argmax(-1)  # (S, S)
    confidence = (probabilities.max(-1) - 1 / classes) / (1 - 1 / classes)  # 0 at chance, 1 when certain
    alpha = (0.2 + 0.6 * np.ceil(confidence * CONFIDENCE_BANDS) / CONFIDENCE_BANDS)[..., None]  # (S, S, 1)
    return 1 - alpha * (1 - CLASS_COLOURS[winner])


def decode_regions(image: np.ndarray, classes: int) -> np.ndarray:
    """The class each pixel of a `region_colours` image shows (the inverse, used to test the drawing)."""
    ink = 1 - image.reshape(-1, 3)  # (P, 3): the direction from white towards the class colour
    directions = 1 - CLASS_COLOURS[:classes]  # (K, 3)
    cosine = (ink @ directions.T) / (np.linalg.norm(ink, axis=1, keepdims=True) * np.linalg.norm(directions, axis=1))
    return cosine.argmax(1).reshape(image.shape[:2])


class BoundaryFigure:
    """The animation's figure: one row per model (regions | loss | accuracy), updated frame by frame.

    Axes, ticks and labels are drawn once and kept as a background; each frame redraws only what moves
    (regions, points, curves, markers, titles) on top of it ("blitting"), about 10x faster than a full draw.
    """

    def __init__(self, runs: list[BoundaryRun], data: ToyData, grid: Grid, title: str, dpi: int = FRAME_DPI) -> None:
        self.runs, self.grid = runs, grid
        width, height = ROW_INCHES
        self.fig, axes = plt.subplots(len(runs), 3, figsize=(width, height * len(runs) + 0.4), squeeze=False,
                                      gridspec_kw={"width_ratios": [1, 1.15, 1.15]}, dpi=dpi)
        self.fig.suptitle(title, fontsize=13)
        self.rows = [self._build_row(run, data, row) for run, row in zip(runs, axes, strict=True)]
        self.fig.tight_layout()
        self.fig.canvas.draw()  # everything but the animated artists
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def _build_row(self, run: BoundaryRun, data: ToyData, axes) -> dict:
        regions_ax, loss_ax, acc_ax = axes
        image = regions_ax.imshow(region_colours(run.snapshots[0].probabilities), extent=self.grid.extent,
                                  origin="lower", interpolation="nearest")
        points = regions_ax.scatter(*data.train_images.T, c=CLASS_COLOURS[data.train_labels], s=9,
                                    edgecolors="black", linewidths=0.4)
        regions_ax.set(xticks=[], yticks=[], aspect="equal", title=run.label)
        regions_ax.grid(False)
        loss_ax.set_title("step 0")  # placeholders of the final size, so the layout leaves them room
        acc_ax.set_title("train 100.0%, test 100.0%")
        row = {"image": image, "lines": {}, "markers": {}, "step": loss_ax.title, "score": acc_ax.title}
        for ax, metric, label, corner in ((loss_ax, "loss", "cross-entropy", "upper right"),
                                          (acc_ax, "acc", "accuracy", "lower right")):
            for split, colour in (("train", PALETTE[0]), ("test", PALETTE[1])):
                key = f"{split}_{metric}"
                (row["lines"][key],) = ax.plot([], [], color=colour, label=split)
                (row["markers"][key],) = ax.plot([], [], "o", color=colour, markersize=5)
            ax.set(xlim=(0, max(r["epoch"] for r in run.history)), xlabel="gradient step", ylabel=label)
            row.setdefault("legends", []).append(ax.legend(loc=corner))
        highest = max(max(r["train_loss"], r["test_loss"]) for r in run.history)
        loss_ax.set_ylim(0, min(highest, 3.0) * 1.05)
        acc_ax.set_ylim(0, 1.02)
        row["order"] = [image, points, row["step"], row["score"], *row["lines"].values(), *row["markers"].values(),
                        *row["legends"]]
        for artist in row["order"]:
            artist.set_animated(True)
        return row

    def show(self, frame: int) -> None:
        """Update every row to snapshot `frame` (the same index in every run)."""
        for run, row in zip(self.runs, self.rows, strict=True):
            snapshot = run.snapshots[min(frame, len(run.snapshots) - 1)]
            row["image"].set_data(region_colours(snapshot.probabilities))
            so_far = [r for r in run.history if r["epoch"] <= snapshot.step]
            steps = [r["epoch"] for r in so_far]
            for key, line in row["lines"].items():
                values = [r[key] for r in so_far]
                line.set_data(steps, values)
                row["markers"][key].set_data(steps[-1:], values[-1:])
            row["step"].set_text(f"step {snapshot.step}")
            score = f"train {so_far[-1]['train_acc']:.1%}, test {so_far[-1]['test_acc']:.1%}" if so_far else "untrained"
            row["score"].set_text(score)

    def pixels(self) -> np.ndarray:
        """The current frame as RGB (H, W, 3) uint8: the background plus the moving artists."""
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for row in self.rows:
            for artist in row["order"]:
                artist.axes.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        plt.close(self.fig)


def render_frames(runs: list[BoundaryRun], data: ToyData, grid: Grid, title: str,
                  dpi: int = FRAME_DPI) -> list[np.ndarray]:
    """Every frame of the animation, RGB uint8 arrays of one size (ROW_INCHES per model at `dpi`)."""
    figure = BoundaryFigure(runs, data, grid, title, dpi)
    try:
        frames = []
        for index in range(max(len(run.snapshots) for run in runs)):
            figure.show(index)
            frames.append(figure.pixels())
        return frames
    finally:
        figure.close()


def write_gif(frames: list[np.ndarray], path: Path, frame_ms: int = 100, hold_ms: int = 2000) -> Path:
    """An endlessly looping GIF; the last frame stays up for `hold_ms`. Written atomically."""
    # One palette for every frame (from the last, most varied one): Pillow then stores only the part of each
    # frame that changed, which makes the file several times smaller than one palette per frame.
    palette = Image.fromarray(frames[-1]).quantize(colors=128, method=Image.Quantize.FASTOCTREE)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    durations = [frame_ms] * (len(images) - 1) + [hold_ms]
    return write_atomic(path, lambda tmp: images[0].save(tmp, save_all=True, append_images=images[1:], loop=0,
                                                    duration=durations, optimize=False))


def write_png(frame: np.ndarray, path: Path) -> Path:
    return write_atomic(path, lambda tmp: Image.fromarray(frame).save(tmp))


def write_mp4(frames: list[np.ndarray], path: Path, fps: int = 10) -> Path | None:
    """H.264 MP4 through ffmpeg; None when ffmpeg is not installed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    height, width = (s - s % 2 for s in frames[0].shape[:2])  # yuv420p needs even sizes
    command = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-r", str(fps), "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4"]

    def encode(tmp: Path) -> None:
        data = b"".join(np.ascontiguousarray(f[:height, :width]).tobytes() for f in frames)
        result = subprocess.run([*command, str(tmp)], input=data, capture_output=True, check=False)
        if result.returncode != 0:
            raise FirstnetError(f"ffmpeg failed: {result.stderr.decode(errors='replace').strip()}")

    return write_atomic(path, encode)
