"""The decision-boundary animation: toy data, training with snapshots, and what the frames show."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from firstnet.cli import build_parser, main
from firstnet.data.toy import TOY_DATASETS, make_toy
from firstnet.errors import ConfigError
from firstnet.figures.boundary import (
    CLASS_COLOURS,
    FRAME_DPI,
    ROW_INCHES,
    BoundaryFigure,
    boundary_configs,
    make_grid,
    parse_model,
    region_colours,
    render_frames,
    snapshot_steps,
    train_with_snapshots,
)

MLP = {"hidden": 16, "depth": 2, "activation": "relu"}


def decode_regions(image: np.ndarray, classes: int) -> np.ndarray:
    """The class each pixel of a `region_colours` image shows: the inverse of the drawing, to test
    it."""
    ink = 1 - image.reshape(-1, 3)  # (P, 3): the direction from white towards the class colour
    directions = 1 - CLASS_COLOURS[:classes]  # (K, 3)
    norms = np.linalg.norm(ink, axis=1, keepdims=True) * np.linalg.norm(directions, axis=1)
    return ((ink @ directions.T) / norms).argmax(1).reshape(image.shape[:2])


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_data_sets_are_balanced_deterministic_and_bounded(name):
    classes = 3 if name in ("spirals", "blobs") else None
    data = make_toy(name, points=300, noise=0.05, seed=1, classes=classes)
    again = make_toy(name, points=300, noise=0.05, seed=1, classes=classes)
    assert data.train_images.shape == (150, 2) and data.test_images.shape == (150, 2)
    assert data.train_images.dtype == np.float32 and data.train_labels.dtype == np.int64
    assert np.array_equal(data.train_images, again.train_images)
    everything = np.concatenate([data.train_labels, data.test_labels])
    assert np.bincount(everything).tolist() == [300 // data.num_classes] * data.num_classes
    assert np.abs(data.train_images).max() < 1.6
    assert not np.array_equal(data.train_images, make_toy(name, 300, 0.05, 2, classes).train_images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "swiss-roll"}, "unknown data set"),
        ({"name": "moons", "classes": 3}, "moons is a set of 2"),
        ({"classes": 9}, "2..8"),
        ({"points": 5}, "at least"),
        ({"noise": -0.1}, "^noise must lie in"),
    ],
)
def test_bad_toy_arguments_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_toy(**kwargs)


def test_region_colours_decode_to_the_argmax():
    probabilities = (
        torch.rand(30, 30, 3, generator=torch.Generator().manual_seed(0)).softmax(-1).numpy()
    )
    assert np.array_equal(
        decode_regions(region_colours(probabilities), 3), probabilities.argmax(-1)
    )
    certain = np.eye(3).reshape(1, 3, 3)  # certain pixels: 80% class colour, 20% white
    assert np.allclose(region_colours(certain)[0], 0.2 + 0.8 * CLASS_COLOURS[:3])
    uniform = np.full((1, 1, 3), 1 / 3)  # chance-level pixels stay pale
    assert region_colours(uniform).min() > 0.75


def test_parse_model_specs():
    assert parse_model("linear", MLP) == {"model": "linear"}
    assert parse_model("mlp", MLP) == {"model": "mlp", **MLP}
    assert parse_model("mlp:64:3:tanh", MLP) == {
        "model": "mlp",
        "hidden": 64,
        "depth": 3,
        "activation": "tanh",
    }
    for bad in ("cnn", "mlp:wide", "linear:3", "mlp:1:2:relu:x"):
        with pytest.raises(ConfigError):
            parse_model(bad, MLP)


def test_snapshot_steps_are_even_and_cover_the_run():
    assert snapshot_steps(600, 60)[0] == 0 and snapshot_steps(600, 60)[-1] == 600
    assert len(snapshot_steps(600, 60)) == 60
    assert snapshot_steps(10, 60) == list(range(11))  # fewer steps than frames: one frame per step
    with pytest.raises(ConfigError):
        snapshot_steps(10, 1)


@pytest.fixture(scope="module")
def small_runs():
    data = make_toy("spirals", points=200, seed=0, classes=3)
    grid = make_grid(data, size=40)
    configs = boundary_configs(["linear", "mlp"], steps=30, seed=0, data=data, mlp=MLP, lr=0.3)
    return data, grid, [train_with_snapshots(cfg, data, grid, frames=7) for cfg in configs]


def test_drawn_regions_are_the_model_predictions(small_runs):
    data, grid, runs = small_runs
    figure = BoundaryFigure(runs, data, grid, "test")
    figure.show(6)  # the last frame: the trained models
    for run, row in zip(runs, figure.rows, strict=True):
        with torch.no_grad():
            # row r has y = ys[r]
            predicted = run.model(grid.points).argmax(1).reshape(40, 40).numpy()
        drawn = decode_regions(np.asarray(row["image"].get_array()), data.num_classes)
        assert np.array_equal(drawn, predicted)
        assert row["image"].get_extent() == list(grid.extent)
        # the grid point of row 5, column 9 lies at (xs[9], ys[5])
        x, y = grid.points[5 * 40 + 9]
        assert (x, y) == (grid.xs[9], grid.ys[5])


def test_snapshots_and_curves_follow_the_training(small_runs):
    _, _, runs = small_runs
    for run in runs:
        assert [s.step for s in run.snapshots] == [0, 5, 10, 15, 20, 25, 30]
        assert [r["epoch"] for r in run.history] == list(range(1, 31))
        assert not np.allclose(run.snapshots[0].probabilities, run.snapshots[-1].probabilities)


def test_frames_have_the_figure_size(small_runs):
    data, grid, runs = small_runs
    frames = render_frames(runs, data, grid, "test")
    width, height = ROW_INCHES
    assert len(frames) == 7
    assert {f.shape for f in frames} == {
        (round((height * 2 + 0.4) * FRAME_DPI), round(width * FRAME_DPI), 3)
    }
    assert not np.array_equal(frames[0], frames[-1])


def test_default_animation_mlp_solves_spirals_and_linear_does_not():
    """The acceptance point, with the command's own defaults: MLP >= 98% train, linear <= 70%."""
    args = build_parser().parse_args(["plot", "boundary"])
    data = make_toy(args.dataset, args.points, args.noise, args.seed, args.classes)
    mlp = {"hidden": args.hidden, "depth": args.depth, "activation": args.activation}
    configs = boundary_configs(args.compare.split(","), args.steps, args.seed, data, mlp, args.lr)
    grid = make_grid(data, 20)
    linear, network = (train_with_snapshots(cfg, data, grid, args.frames) for cfg in configs)
    assert linear.label == "linear" and network.history[-1]["train_acc"] >= 0.98
    assert linear.history[-1]["train_acc"] <= 0.70


def test_plot_boundary_command_writes_gif_and_png(tmp_path, capsys):
    code = main(
        [
            "plot",
            "boundary",
            "--dataset",
            "xor",
            "--steps",
            "20",
            "--frames",
            "5",
            "--grid",
            "30",
            "--points",
            "100",
            "--compare",
            "linear,mlp:8:1:tanh",
            "--out-dir",
            str(tmp_path),
            "--no-mp4",
            "--dpi",
            "40",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "linear: train" in printed and "MLP 1x8 tanh: train" in printed and "5 frames" in printed
    with Image.open(tmp_path / "boundary-xor.gif") as gif:
        assert gif.n_frames == 5 and gif.info["loop"] == 0
        size = gif.size
    width, height = ROW_INCHES
    assert size == (round(width * 40), round((2 * height + 0.4) * 40))  # two rows at --dpi 40
    with Image.open(tmp_path / "boundary-xor.png") as png:
        assert png.size == size
    assert not (tmp_path / "boundary-xor.mp4").exists()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_plot_boundary_writes_mp4_with_ffmpeg(tmp_path):
    assert (
        main(
            [
                "plot",
                "boundary",
                "--dataset",
                "moons",
                "--steps",
                "10",
                "--frames",
                "4",
                "--grid",
                "20",
                "--points",
                "60",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    data = (tmp_path / "boundary-moons.mp4").read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 1000


def test_plot_boundary_bad_model_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["plot", "boundary", "--compare", "linear,transformer", "--out-dir", str(tmp_path)])
        == 2
    )
    assert "use linear, mlp or mlp:HIDDEN:DEPTH:ACTIVATION" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
