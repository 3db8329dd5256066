"""The decision boundary moving while a network trains ("Your First Deep Network: Action!").

Numbers first: the linear model or an MLP trains on a 2-D toy data set with the one `Trainer`
(full-batch gradient descent: every epoch is one step on all training points, softmax and
cross-entropy as on MNIST), keeping snapshots -- the class probabilities on a grid over the plane
and the history so far, at evenly spaced steps. Then the drawing: per model, the regions with the
points beside its curves, one frame per snapshot, written as GIF (Pillow), MP4 (ffmpeg, when
installed) and the last frame as PNG.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import to_rgb
from PIL import Image

from firstnet.atomic import atomic_write
from firstnet.config import TOY_RECIPE, TrainConfig
from firstnet.data.toy import ToyData
from firstnet.errors import ConfigError, FirstnetError
from firstnet.evaluate import predict_logits
from firstnet.figures.style import PALETTE, styled, subplots
from firstnet.models import model_for
from firstnet.terminal import task_bar
from firstnet.trainer import Trainer

CLASS_COLOURS = np.array([to_rgb(c) for c in PALETTE[:7]])  # (7, 3): the palette without black
FRAME_DPI = 80


@dataclass
class Grid:
    xs: np.ndarray  # (S,) first coordinate of the columns
    ys: np.ndarray  # (S,) second coordinate of the rows
    points: torch.Tensor  # (S * S, 2) float32, row-major: point [r * S + c] = (xs[c], ys[r])

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1])


@dataclass
class Snapshot:
    step: int  # gradient steps taken
    probabilities: np.ndarray  # (S, S, K): the model's class probabilities on the grid


@dataclass
class BoundaryRun:
    label: str  # e.g. "linear" or "MLP 2x32 relu"
    snapshots: list[Snapshot]
    history: list[dict]  # one record per step (epoch), as the Trainer writes it
    model: torch.nn.Module  # the trained model


def make_grid(data: ToyData, size: int = 150, margin: float = 0.15) -> Grid:
    """A square grid covering every point with a margin."""
    points = np.concatenate([data.train_images, data.test_images])
    low, high = float(points.min()) - margin, float(points.max()) + margin
    axis = np.linspace(low, high, size, dtype=np.float32)
    xx, yy = np.meshgrid(axis, axis)  # (S, S) each, rows along y
    return Grid(axis, axis, torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1)))


def parse_model(spec: str, defaults: dict) -> dict:
    """`linear`, `mlp`, or `mlp:HIDDEN:DEPTH:ACTIVATION` (trailing parts optional) as TrainConfig
    fields."""
    kind, *parts = spec.strip().split(":")
    if kind == "linear" and not parts:
        return {"model": "linear"}
    if kind != "mlp" or len(parts) > 3:
        raise ConfigError(
            f"model {spec!r}: use linear, mlp or mlp:HIDDEN:DEPTH:ACTIVATION, e.g. mlp:64:3:tanh"
        )
    fields = {"model": "mlp", **defaults}
    try:
        for name, value in zip(("hidden", "depth"), parts[:2], strict=False):
            fields[name] = int(value)
    except ValueError as err:
        raise ConfigError(f"model {spec!r}: hidden units and depth must be integers") from err
    if len(parts) == 3:
        fields["activation"] = parts[2]
    return fields


def describe(cfg: TrainConfig) -> str:
    if cfg.model == "linear":
        return "linear"
    return f"MLP {cfg.depth}x{cfg.hidden} {cfg.activation}"


@torch.no_grad()
def grid_probabilities(model: torch.nn.Module, grid: Grid) -> np.ndarray:
    """(S, S, K) class probabilities of `model` at every grid point."""
    probabilities = predict_logits(model, grid.points).softmax(1)
    return probabilities.reshape(len(grid.ys), len(grid.xs), -1).numpy()


def snapshot_steps(steps: int, frames: int) -> list[int]:
    """`frames` evenly spaced step counts from 0 (the untrained network) to `steps`."""
    if frames < 2 or steps < 1:
        raise ConfigError(
            f"need at least 2 frames and 1 step, got {frames} frames and {steps} steps"
        )
    return sorted({round(i * steps / (frames - 1)) for i in range(frames)})


def train_with_snapshots(
    cfg: TrainConfig,
    data: ToyData,
    grid: Grid,
    frames: int,
    on_step: Callable[[], object] | None = None,
) -> BoundaryRun:
    """Train `cfg` on `data` for `cfg.epochs` full-batch steps, snapshotting the grid `frames`
    times; `on_step` is called after every step (a progress bar)."""
    with single_thread():
        return _train(cfg, data, grid, frames, on_step)


@contextmanager
def single_thread():
    """Toy-sized matrices gain nothing from several threads, and lose a lot when the cores are
    busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, data: ToyData, grid: Grid, frames: int, on_step) -> BoundaryRun:
    model = model_for(cfg, inputs=2, classes=data.num_classes, mean=0.0, std=1.0)
    trainer = Trainer(cfg, data, model=model)
    wanted = set(snapshot_steps(cfg.epochs, frames))
    snapshots = [Snapshot(0, grid_probabilities(trainer.model, grid))]

    def on_epoch(record: dict) -> None:
        if record["epoch"] in wanted:
            snapshots.append(Snapshot(record["epoch"], grid_probabilities(trainer.model, grid)))
        if on_step:
            on_step()

    history = trainer.run(on_epoch=on_epoch)
    return BoundaryRun(describe(cfg), snapshots, history, trainer.model)


def boundary_configs(
    specs: list[str], steps: int, seed: int, data: ToyData, mlp: dict, lr: float
) -> list:
    """One TrainConfig per model spec, all with the toy recipe, the same steps and seed."""
    recipe = {**TOY_RECIPE, "batch_size": len(data.train_labels), "lr": lr}
    return [
        TrainConfig(**parse_model(spec, mlp), epochs=steps, seed=seed, **recipe) for spec in specs
    ]


@dataclass
class Animation:
    """The decision boundary moving: every frame (RGB arrays of one size), the GIF and the last
    frame's PNG as bytes, and each model's run (label, snapshots, history, trained model)."""

    frames: list[np.ndarray]
    gif: bytes
    png: bytes
    runs: list[BoundaryRun]
    source: str  # the toy data set, described


def animate(
    data: ToyData,
    configs: list[TrainConfig],
    frames: int = 60,
    grid: int = 150,
    dpi: int = FRAME_DPI,
    progress: bool = True,
) -> Animation:
    """Train each of `configs` on `data` with `frames` snapshots on a `grid` x `grid` plane, then
    draw the animation at `dpi`; a bar over every model's steps unless not `progress`."""
    cells = make_grid(data, grid)
    steps = sum(cfg.epochs for cfg in configs)
    with task_bar("training", steps) if progress else nullcontext(None) as advance:
        trained = [train_with_snapshots(cfg, data, cells, frames, advance) for cfg in configs]
    images = render_frames(trained, data, cells, f"Decision regions on {data.source}", dpi)
    return Animation(images, gif_bytes(images), png_bytes(images[-1]), trained, data.source)


# The drawing: one figure built once, its moving artists updated per frame.

CONFIDENCE_BANDS = 5
ROW_INCHES = (12.0, 3.75)  # width, height of one model's row


def region_colours(probabilities: np.ndarray) -> np.ndarray:
    """RGB image (S, S, 3) of decision regions: each pixel the colour of the argmax class, paler
    where the model is less sure (mixed with white by confidence above chance, in CONFIDENCE_BANDS
    steps: the bands read like contour lines of the confidence and keep the GIF small)."""
    classes = probabilities.shape[-1]
    winner = probabilities.argmax(-1)  # (S, S)
    # 0 at chance, 1 when certain
    confidence = (probabilities.max(-1) - 1 / classes) / (1 - 1 / classes)
    # (S, S, 1)
    alpha = (0.2 + 0.6 * np.ceil(confidence * CONFIDENCE_BANDS) / CONFIDENCE_BANDS)[..., None]
    return 1 - alpha * (1 - CLASS_COLOURS[winner])


class BoundaryFigure:
    """The animation's figure: one row per model (regions | loss | accuracy), updated frame by
    frame.

    Axes, ticks and labels are drawn once and kept as a background; each frame redraws only what
    moves (regions, points, curves, markers, titles) on top of it ("blitting"), about 10x faster
    than a full draw.
    """

    def __init__(
        self, runs: list[BoundaryRun], data: ToyData, grid: Grid, title: str, dpi: int = FRAME_DPI
    ) -> None:
        self.runs, self.grid = runs, grid
        width, height = ROW_INCHES
        self.fig, axes = subplots(
            len(runs),
            3,
            figsize=(width, height * len(runs) + 0.4),
            squeeze=False,
            gridspec_kw={"width_ratios": [1, 1.15, 1.15]},
            dpi=dpi,
        )
        self.fig.suptitle(title, fontsize=13)
        self.rows = [self._build_row(run, data, row) for run, row in zip(runs, axes, strict=True)]
        self.fig.tight_layout()
        self.fig.canvas.draw()  # everything but the animated artists
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def _build_row(self, run: BoundaryRun, data: ToyData, axes) -> dict:
        regions_ax, loss_ax, acc_ax = axes
        image = regions_ax.imshow(
            region_colours(run.snapshots[0].probabilities),
            extent=self.grid.extent,
            origin="lower",
            interpolation="nearest",
        )
        points = regions_ax.scatter(
            *data.train_images.T,
            c=CLASS_COLOURS[data.train_labels],
            s=9,
            edgecolors="black",
            linewidths=0.4,
        )
        regions_ax.set(xticks=[], yticks=[], aspect="equal", title=run.label)
        regions_ax.grid(False)
        # placeholders of the final size, so the layout leaves them room
        loss_ax.set_title("step 0")
        acc_ax.set_title("train 100.0%, test 100.0%")
        row = {
            "image": image,
            "lines": {},
            "markers": {},
            "step": loss_ax.title,
            "score": acc_ax.title,
        }
        for ax, metric, label, corner in (
            (loss_ax, "loss", "cross-entropy", "upper right"),
            (acc_ax, "acc", "accuracy", "lower right"),
        ):
            for split, colour in (("train", PALETTE[0]), ("test", PALETTE[1])):
                key = f"{split}_{metric}"
                (row["lines"][key],) = ax.plot([], [], color=colour, label=split)
                (row["markers"][key],) = ax.plot([], [], "o", color=colour, markersize=5)
            ax.set(
                xlim=(0, max(r["epoch"] for r in run.history)), xlabel="gradient step", ylabel=label
            )
            row.setdefault("legends", []).append(ax.legend(loc=corner))
        highest = max(max(r["train_loss"], r["test_loss"]) for r in run.history)
        loss_ax.set_ylim(0, min(highest, 3.0) * 1.05)
        acc_ax.set_ylim(0, 1.02)
        row["order"] = [
            image,
            points,
            row["step"],
            row["score"],
            *row["lines"].values(),
            *row["markers"].values(),
            *row["legends"],
        ]
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
            score = (
                f"train {so_far[-1]['train_acc']:.1%}, test {so_far[-1]['test_acc']:.1%}"
                if so_far
                else "untrained"
            )
            row["score"].set_text(score)

    def pixels(self) -> np.ndarray:
        """The current frame as RGB (H, W, 3) uint8: the background plus the moving artists."""
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for row in self.rows:
            for artist in row["order"]:
                artist.axes.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()


@styled
def render_frames(
    runs: list[BoundaryRun], data: ToyData, grid: Grid, title: str, dpi: int = FRAME_DPI
) -> list[np.ndarray]:
    """Every frame of the animation, RGB uint8 arrays of one size (ROW_INCHES per model at
    `dpi`)."""
    figure = BoundaryFigure(runs, data, grid, title, dpi)
    frames = []
    for index in range(max(len(run.snapshots) for run in runs)):
        figure.show(index)
        frames.append(figure.pixels())
    return frames


def gif_bytes(frames: list[np.ndarray], frame_ms: int = 100, hold_ms: int = 2000) -> bytes:
    """An endlessly looping GIF; the last frame stays up for `hold_ms`."""
    # One palette for every frame (from the last, most varied one): Pillow then stores only the part
    # of each frame that changed, which makes the file several times smaller than one palette per
    # frame.
    palette = Image.fromarray(frames[-1]).quantize(colors=128, method=Image.Quantize.FASTOCTREE)
    images = [
        Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
        for frame in frames
    ]
    durations = [frame_ms] * (len(images) - 1) + [hold_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=durations, optimize=False)  # fmt: skip
    return buffer.getvalue()


def png_bytes(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "PNG")
    return buffer.getvalue()


def write_mp4(frames: list[np.ndarray], path: Path, fps: int = 10) -> Path | None:
    """H.264 MP4 through ffmpeg; None when ffmpeg is not installed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    height, width = (s - s % 2 for s in frames[0].shape[:2])  # yuv420p needs even sizes
    command = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-an",
               "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4"]  # fmt: skip

    def encode(tmp: Path) -> None:
        data = b"".join(np.ascontiguousarray(f[:height, :width]).tobytes() for f in frames)
        result = subprocess.run([*command, str(tmp)], input=data, capture_output=True, check=False)
        if result.returncode != 0:
            raise FirstnetError(f"ffmpeg failed: {result.stderr.decode(errors='replace').strip()}")

    return atomic_write(path, encode)
