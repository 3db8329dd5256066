"""How commands are declared: the help formatter, `add_command`, and the options several commands
share (one flag per TrainConfig field, --data-dir, a run directory, --json, --runs-dir,
--out-dir)."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
from pathlib import Path

from firstnet.atomic import loads, read_regular
from firstnet.config import (
    DATASET_RECIPES,
    MODEL_DEFAULTS,
    MODEL_FIELDS,
    TrainConfig,
    check_model_fields,
)
from firstnet.data.datasets import DATASET_HELP, DATASETS
from firstnet.errors import ConfigError, FirstnetError

TYPES = {"int": int, "float": float, "str": str}
DATA_HELP = (
    "folder with the four files of the data set, raw or .gz (default for MNIST: "
    "$FIRSTNET_DATA_DIR, then ~/.cache/firstnet, torchvision/Keras downloads, then the mirrors in "
    "$FIRSTNET_MIRRORS; docs/datasets.md has the other sets')"
)


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose "invalid choice" error also suggests the nearest valid choice."""

    def error(self, message: str):
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:
            choices = re.findall(r"[\w.-]+", wrong[2])
            nearest = difflib.get_close_matches(wrong[1], choices, n=1, cutoff=0.6)
            if nearest:
                message += f"; did you mean '{nearest[0]}'?"
        super().error(message)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' for every option; model-dependent defaults are spelled out in the
    help."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def flag_of(name: str) -> str:
    """The command-line flag of an option's Python name: --batch-size for batch_size."""
    return "--" + name.replace("_", "-")


def in_flags(error: FirstnetError) -> str:
    """The error's message with each option it names (its `fields`) as the flag a command takes:
    "--label-smoothing must lie in [0, 1)" for "label_smoothing must lie in [0, 1)"."""
    text = str(error)
    for name in error.fields:
        # the name as a word of its own, not part of a path (".../dataset/train-images...")
        text = re.sub(rf"(?<![\w\-/\\.]){re.escape(name)}(?![\w\-/\\])", flag_of(name), text)
    return text


def add_command(sub, name: str, handler) -> argparse.ArgumentParser:
    """A subcommand whose parsed arguments go to `handler(args) -> exit status`.

    Its one-line help in `firstnet --help` is the first paragraph of the handler's docstring, so the
    text a user reads and the function that does it stay side by side.
    """
    help_text = " ".join(handler.__doc__.split("\n\n")[0].split())
    parser = sub.add_parser(name, formatter_class=HelpFormatter, help=help_text)
    parser.set_defaults(handler=handler)
    return parser


def add_config_options(parser, names: tuple[str, ...] | None = None, model: str | None = None):
    """One option per TrainConfig field (or per field in `names`): the CLI cannot drift from the
    config. `model` names the only model the command trains, so its defaults alone are shown."""
    group = parser.add_argument_group("training configuration")
    for f in dataclasses.fields(TrainConfig):
        if names is not None and f.name not in names:
            continue
        flag = flag_of(f.name)
        kind, text = str(f.type).replace(" | None", ""), f.metadata["help"]
        if f.name in MODEL_DEFAULTS["mlp"]:  # every model's recipe sets the same fields
            recipes = [
                (name, values) for name, values in MODEL_DEFAULTS.items() if model in (None, name)
            ]
            shown = [f"{name} {values[f.name]}" for name, values in recipes]
            shown += [
                f"{dataset} {name} {values[f.name]}"
                for dataset, own in DATASET_RECIPES.items()
                for name, values in own.items()
                if model in (None, name) and f.name in values
            ]
            text += " (default: " + ", ".join(shown) + ")"
        default = f.default
        if model is None and f.name in MODEL_FIELDS:  # absent unless given: see config_from_args
            default, text = argparse.SUPPRESS, f"{text} (default: {f.default})"
        if kind == "bool":
            action = argparse.BooleanOptionalAction
            group.add_argument(flag, action=action, default=default, help=text)
        else:
            choices = f.metadata.get("choices")
            group.add_argument(flag, type=TYPES[kind], default=default, choices=choices, help=text)


def read_config_file(path: Path) -> dict:
    """The training options of a JSON file (`firstnet search`'s best.json, or written by hand),
    checked as a whole TrainConfig so a wrong field or value is named before anything runs."""
    try:  # a regular file of at most 1 MB (a FIFO or /dev/zero is refused at once)
        values = loads(read_regular(Path(path), 1_000_000, ConfigError))
    except ConfigError as error:
        raise ConfigError(f"--config: {error}") from None
    except ValueError as error:  # not UTF-8, or not JSON
        raise ConfigError(f"--config: {path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--config: {path} must hold an object of training options")
    TrainConfig.from_dict(values)  # unknown fields, wrong types and values: a ConfigError now
    return values


def config_from_args(args: argparse.Namespace, **fixed) -> TrainConfig:
    """The TrainConfig of the options a command has, plus `fixed` fields. An option that shapes
    another kind of model than the one chosen (--hidden for the linear model) is refused."""
    names = [f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)]
    values = {name: getattr(args, name) for name in names if name not in fixed} | fixed
    if "device" in values:  # a GPU's own recipe (config.DEVICE_RECIPES) where one is
        from firstnet.device import recipe_device

        values["device"] = recipe_device(values["device"])
    cfg = TrainConfig(**values)
    check_model_fields(cfg, names)
    return cfg


# The options several commands share, by name: (flag, type, default, help[, choices]). A type of
# None is a flag that is off by default.
# fmt: off
SHARED = {
    "data":        ("--data-dir", Path, None, DATA_HELP),
    "dataset":     ("--dataset", str, "mnist", DATASET_HELP, tuple(DATASETS)),
    "run":         ("run", Path, None, "run directory, run name, latest or latest-KIND"),
    "json":        ("--json", None, False, "print machine-readable JSON"),
    "config":      ("--config", Path, None, "a JSON file of training options (a search's "
                    "best.json); options given beside it win (default: none)"),
    "runs-dir":    ("--runs-dir", Path, Path("runs"), "where run directories go"),
    "run-out-dir": ("--out-dir", Path, None, "where the PNGs go (default: the run directory)"),
    "figures-dir": ("--out-dir", Path, Path("runs/figures"), "where the PNGs go"),
    "threads":     ("--threads", int, None, "torch threads for training (default: one per core "
                    "idle when the command starts, so 1 beside other work)"),
}
# fmt: on


def add(parser, *names: str) -> None:
    """The shared options `names` (keys of SHARED), in that order."""
    for name in names:
        flag, kind, default, help_text, *choices = SHARED[name]
        if kind is None:
            parser.add_argument(flag, action="store_true", help=help_text)
        else:
            choices = choices[0] if choices else None
            parser.add_argument(flag, type=kind, default=default, help=help_text, choices=choices)
