"""The command-line tool: maps subcommands to the library's functions, prints, sets exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from firstnet import __version__, commands, plot_commands
from firstnet.activations import ACTIVATIONS
from firstnet.config import MODEL_DEFAULTS, MODELS, TrainConfig
from firstnet.data.toy import TOY_DATASETS
from firstnet.errors import FirstnetError
from firstnet.scratch.train import CONFIG_FIELDS as SCRATCH_OPTIONS

TYPES = {"int": int, "float": float, "str": str}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' for every option; model-dependent defaults are spelled out in the help."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def add_config_options(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None,
                       model: str | None = None) -> None:
    """One option per TrainConfig field (or per field in `names`), so the CLI can never drift from the config.

    `model` names the only model the command trains, so its per-model defaults alone are shown.
    """
    group = parser.add_argument_group("training configuration")
    for f in dataclasses.fields(TrainConfig):
        if names is not None and f.name not in names:
            continue
        flag, kind, text = "--" + f.name.replace("_", "-"), str(f.type).replace(" | None", ""), f.metadata["help"]
        per_model = {name: values[f.name] for name, values in MODEL_DEFAULTS.items()
                     if f.name in values and model in (None, name)}
        if per_model:
            text += " (default: " + ", ".join(f"{model} {value}" for model, value in per_model.items()) + ")"
        if kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=text)
        else:
            group.add_argument(flag, type=TYPES[kind], default=f.default, choices=f.metadata.get("choices"), help=text)


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the four MNIST files, raw or .gz (default: $FIRSTNET_DATA_DIR, then "
                             "~/.cache/firstnet, torchvision/Keras downloads, then the mirrors in $FIRSTNET_MIRRORS)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firstnet", formatter_class=HelpFormatter,
                                     description="The lecture 'Your First Deep Network', measured on MNIST.")
    parser.add_argument("--version", action="version", version=f"firstnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_run_parsers(sub)
    scratch = sub.add_parser("scratch", formatter_class=HelpFormatter,
                             help="train the NumPy MLP with hand-derived gradients (784-H-H-10, SGD) into a run "
                                  "directory, or check its gradients with --gradcheck")
    scratch.add_argument("--gradcheck", action="store_true",
                         help="instead of training, check the gradients of every activation against finite "
                              "differences and torch autograd and print the errors")
    add_config_options(scratch, SCRATCH_OPTIONS, model="mlp")
    scratch.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories go")
    scratch.add_argument("--name", default=None, help="run directory name (default: scratch-mlp-YYYYmmdd-HHMMSS)")
    add_data_option(scratch)

    bench = sub.add_parser("bench", formatter_class=HelpFormatter,
                           help="train several seeds; test accuracy mean ± std, median wall time, hardware")
    bench.add_argument("model", choices=MODELS, help="model to benchmark with its defaults")
    bench.add_argument("--seeds", type=int, default=5, help="number of runs (seeds 0..N-1)")
    bench.add_argument("--json", action="store_true", help="print machine-readable JSON")
    add_config_options(bench, tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "seed")))
    add_data_option(bench)

    demo = sub.add_parser("demo", formatter_class=HelpFormatter,
                          help="the main job: data questions, linear model, MLP and CNN, claims vs measurements")
    demo.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories go")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the three trainings")
    add_data_option(demo)

    add_plot_parser(sub)
    add_serve_parser(sub)
    add_experiment_parser(sub)
    return parser


def add_run_parsers(sub) -> None:
    """The commands that make and use runs: data, train, eval, predict."""
    data = sub.add_parser("data", formatter_class=HelpFormatter,
                          help="answer the lecture's questions about MNIST and draw sample digits")
    add_data_option(data)
    data.add_argument("--out", type=Path, default=Path("runs/mnist-samples.png"), help="PNG grid of sample digits")

    train = sub.add_parser("train", formatter_class=HelpFormatter, help="train a model into a run directory")
    add_config_options(train)
    train.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories go")
    train.add_argument("--name", default=None, help="run directory name (default: MODEL-YYYYmmdd-HHMMSS)")
    train.add_argument("--resume", type=Path, default=None, metavar="RUN",
                       help="continue an interrupted run; its config.json wins over the options above "
                            "(default: start a new run)")
    add_data_option(train)

    evaluate = sub.add_parser("eval", formatter_class=HelpFormatter,
                              help="test accuracy, per-class accuracy, confusion matrix and worst errors")
    evaluate.add_argument("run", type=Path, help="run directory")
    evaluate.add_argument("--json", action="store_true", help="print machine-readable JSON")
    evaluate.add_argument("--out-dir", type=Path, default=None, help="where the PNGs go (default: the run directory)")
    add_data_option(evaluate)

    predict = sub.add_parser("predict", formatter_class=HelpFormatter, help="classify your own digit images")
    predict.add_argument("run", type=Path, help="run directory")
    predict.add_argument("images", type=Path, nargs="+", help="image files (PNG, JPEG, ...)")
    predict.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_plot_parser(sub) -> None:
    """`firstnet plot FIGURE`: one nested subcommand per figure."""
    plot = sub.add_parser("plot", formatter_class=HelpFormatter, help="draw the lecture's pictures from real numbers")
    figures = plot.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    activations = figures.add_parser("activations", formatter_class=HelpFormatter,
                                     help="each activation family beside its derivatives, problems marked "
                                          "(default: into runs/figures)")
    activations.add_argument("--out-dir", type=Path, default=Path("runs/figures"), help="where the PNGs go")
    landscape = figures.add_parser("landscape", formatter_class=HelpFormatter,
                                   help="(a) loss surface and gradient field of a two-weight problem with descent "
                                        "paths; (b) a 2-D slice of a trained MNIST MLP's loss with its training path")
    landscape.add_argument("--part", choices=("a", "b", "both"), default="both",
                           help="a: two-weight problem (seconds); b: MNIST MLP slice (trains one, under a minute)")
    landscape.add_argument("--out-dir", type=Path, default=Path("runs/figures"), help="where the PNGs go")
    landscape.add_argument("--steps", type=int, default=40, help="(a) gradient-descent steps per path")
    landscape.add_argument("--seed", type=int, default=0, help="seed of the data (a), weights and directions (b)")
    landscape.add_argument("--hidden", type=int, default=256, help="(b) units per hidden layer of the MLP")
    landscape.add_argument("--epochs", type=int, default=5, help="(b) training epochs of the MLP")
    landscape.add_argument("--grid", type=int, default=21, help="(b) grid points per side of each slice")
    add_data_option(landscape)
    curves = figures.add_parser("curves", formatter_class=HelpFormatter, help="loss and accuracy per epoch of a run")
    curves.add_argument("run", type=Path, help="run directory")
    curves.add_argument("--out", type=Path, default=None, help="PNG path (default: RUN/curves.png)")
    confusion = figures.add_parser("confusion", formatter_class=HelpFormatter,
                                   help="confusion matrix and most confident errors of a run on the test set")
    confusion.add_argument("run", type=Path, help="run directory")
    confusion.add_argument("--out-dir", type=Path, default=None, help="where the PNGs go (default: the run directory)")
    add_data_option(confusion)
    digits = figures.add_parser("digits", formatter_class=HelpFormatter, help="a grid of MNIST training digits")
    digits.add_argument("--out", type=Path, default=Path("runs/figures/digits.png"), help="PNG path")
    digits.add_argument("--per-class", type=int, default=4, help="digits shown per class")
    add_data_option(digits)
    add_boundary_parser(figures)


def add_boundary_parser(figures) -> None:
    boundary = figures.add_parser("boundary", formatter_class=HelpFormatter,
                                  help="animation: decision regions of models training on 2-D toy data, beside "
                                       "their loss and accuracy curves (GIF, PNG of the last frame, MP4)")
    boundary.add_argument("--dataset", choices=TOY_DATASETS, default="spirals", help="2-D data set")
    boundary.add_argument("--classes", type=int, default=None, help="spirals and blobs: number of classes "
                          "(default: 2; moons, circles and xor have 2)")
    boundary.add_argument("--points", type=int, default=800, help="points in all, half of them held out as test")
    boundary.add_argument("--noise", type=float, default=0.05, help="standard deviation of the Gaussian noise")
    boundary.add_argument("--seed", type=int, default=0, help="seed of the data and the initial weights")
    boundary.add_argument("--compare", default="linear,mlp",
                          help="models side by side, comma-separated: linear, mlp, or mlp:HIDDEN:DEPTH:ACTIVATION "
                               "(e.g. linear,mlp:64:3:tanh)")
    boundary.add_argument("--hidden", type=int, default=32, help="MLP: units per hidden layer")
    boundary.add_argument("--depth", type=int, default=2, help="MLP: hidden layers")
    boundary.add_argument("--activation", choices=tuple(ACTIVATIONS), default="relu", help="MLP: activation")
    boundary.add_argument("--steps", type=int, default=600, help="full-batch gradient-descent steps")
    boundary.add_argument("--lr", type=float, default=0.3, help="learning rate (SGD, momentum 0.9)")
    boundary.add_argument("--frames", type=int, default=60, help="frames of the animation")
    boundary.add_argument("--grid", type=int, default=150, help="grid points per side of the decision regions")
    boundary.add_argument("--dpi", type=int, default=80, help="frame resolution: 80 gives 960 pixels across")
    boundary.add_argument("--mp4", action=argparse.BooleanOptionalAction, default=True,
                          help="also write an MP4 when ffmpeg is installed")
    boundary.add_argument("--out-dir", type=Path, default=Path("runs/figures"), help="where the files go")


def add_serve_parser(sub) -> None:
    """`firstnet serve [RUN ...]`: the drawing page and the JSON API."""
    serve = sub.add_parser("serve", formatter_class=HelpFormatter,
                           help="a web page to draw digits on and a JSON API, over trained runs")
    serve.add_argument("runs", type=Path, nargs="*", metavar="RUN",
                       help="run directories to serve (default: the newest finished run of each model kind in "
                            "--runs-dir)")
    serve.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where to look when no RUN is given")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free port)")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"),
                       help="uvicorn's log level; info also logs every request")


def add_experiment_parser(sub) -> None:
    """`firstnet experiment NAME`: the lecture's open questions, each answered by an experiment."""
    from firstnet.experiments import NAMES

    experiment = sub.add_parser("experiment", formatter_class=HelpFormatter,
                                help="the lecture's questions as experiments: tables, JSON and figures, resumable")
    experiment.add_argument("name", choices=(*NAMES, "all"), metavar="NAME",
                            help=f"one of {', '.join(NAMES)}, or all (also writes an index README.md)")
    experiment.add_argument("--quick", action="store_true", help="a smaller budget through the same code")
    experiment.add_argument("--seeds", type=int, default=None,
                            help="seeds per configuration (default: 2 with --quick, else 3)")
    experiment.add_argument("--out-dir", type=Path, default=Path("runs/experiments"),
                            help="results go to OUT_DIR/NAME; finished cells there are loaded, not re-run")
    add_data_option(experiment)


def command_function(name: str):
    """The function behind a subcommand. serve is imported only when used: --help never loads fastapi."""
    if name == "serve":
        from firstnet.serve.commands import cmd_serve

        return cmd_serve
    if name == "experiment":
        from firstnet.experiments.commands import cmd_experiment

        return cmd_experiment
    return getattr(plot_commands if name == "plot" else commands, f"cmd_{name}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return command_function(args.command)(args)
    except FirstnetError as err:
        print(f"firstnet: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("firstnet: interrupted", file=sys.stderr)
        return 130
