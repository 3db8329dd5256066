"""Options several commands share: the help formatter, one flag per TrainConfig field,
--data-dir."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from firstnet.config import MODEL_DEFAULTS, TrainConfig

TYPES = {"int": int, "float": float, "str": str}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' for every option; model-dependent defaults are spelled out in the
    help."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def add_command(sub, name: str, help_text: str, handler) -> argparse.ArgumentParser:
    """A subcommand whose parsed arguments go to `handler(args) -> exit status`."""
    parser = sub.add_parser(name, formatter_class=HelpFormatter, help=help_text)
    parser.set_defaults(handler=handler)
    return parser


def add_config_options(
    parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None, model: str | None = None
) -> None:
    """One option per TrainConfig field (or per field in `names`): the CLI can never drift from the
    config.

    `model` names the only model the command trains, so its per-model defaults alone are shown.
    """
    group = parser.add_argument_group("training configuration")
    for f in dataclasses.fields(TrainConfig):
        if names is not None and f.name not in names:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind, text = str(f.type).replace(" | None", ""), f.metadata["help"]
        per_model = {
            name: values[f.name]
            for name, values in MODEL_DEFAULTS.items()
            if f.name in values and model in (None, name)
        }
        if per_model:
            shown = ", ".join(f"{name} {value}" for name, value in per_model.items())
            text += f" (default: {shown})"
        if kind == "bool":
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=text
            )
        else:
            choices = f.metadata.get("choices")
            group.add_argument(
                flag, type=TYPES[kind], default=f.default, choices=choices, help=text
            )


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the four MNIST files, raw or .gz (default: $FIRSTNET_DATA_DIR, then "
        "~/.cache/firstnet, torchvision/Keras downloads, then the mirrors in $FIRSTNET_MIRRORS)",
    )


def config_from_args(args: argparse.Namespace, **fixed) -> TrainConfig:
    """The TrainConfig of the options a command has, plus `fixed` fields."""
    names = [f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)]
    return TrainConfig(
        **{name: getattr(args, name) for name in names if name not in fixed}, **fixed
    )
