"""The command-line tool: `main()` parses, calls the command's handler, prints errors, sets exit
codes.

Each command group lives in its own `cmd_*.py` with an `add_parser(sub)` that registers its handler
(`parser.set_defaults(handler=...)`). Those modules import torch, matplotlib and fastapi inside
their handlers only, so `firstnet --help` and `firstnet CMD --help` load none of them.
"""

from __future__ import annotations

import argparse
import os
import sys

from firstnet.cli import (
    cmd_bench,
    cmd_check,
    cmd_data,
    cmd_demo,
    cmd_eval,
    cmd_experiment,
    cmd_export,
    cmd_plot,
    cmd_report,
    cmd_runs,
    cmd_scratch,
    cmd_search,
    cmd_serve,
    cmd_train,
    options,
)
from firstnet.cli.options import HelpFormatter
from firstnet.errors import ConfigError, FirstnetError
from firstnet.version import __version__

# The command groups in the order `firstnet --help` lists them.
COMMAND_GROUPS = (
    cmd_data,
    cmd_train,
    cmd_eval,
    cmd_runs,
    cmd_scratch,
    cmd_check,
    cmd_bench,
    cmd_demo,
    cmd_report,
    cmd_plot,
    cmd_serve,
    cmd_experiment,
    cmd_search,
    cmd_export,
)


def build_parser(defaults: dict[str, dict] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; `defaults` maps a command to new defaults of its options (the
    values of a --config file, which flags on the command line override)."""
    parser = options.Parser(
        prog="firstnet",
        formatter_class=HelpFormatter,
        description="The lecture 'Your First Deep Network', measured on MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"firstnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    for command, values in (defaults or {}).items():
        sub.choices[command].set_defaults(**values)
    return parser


def use_threads(requested: int | None) -> None:
    """This process's torch threads for a training command: --threads, else FIRSTNET_THREADS,
    else one per idle core (`device.training_threads`)."""
    if requested is None and os.environ.get("FIRSTNET_THREADS", "").strip():
        try:
            requested = int(os.environ["FIRSTNET_THREADS"])
        except ValueError:
            raise ConfigError("FIRSTNET_THREADS must be a whole number") from None
        if requested < 1:
            raise ConfigError(f"FIRSTNET_THREADS must be at least 1, got {requested}")
    if requested is not None and requested < 1:
        raise ConfigError(f"--threads must be at least 1, got {requested}")
    import torch

    from firstnet.device import training_threads

    torch.set_num_threads(training_threads(requested))


def main(argv: list[str] | None = None) -> int:
    # The command line is firstnet's own process and shows no windows: the plots Optuna draws
    # through pyplot (`firstnet search`) use the headless Agg backend on any system.
    os.environ.setdefault("MPLBACKEND", "agg")
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "config", None) is not None:  # parse again, the file's values as defaults
            values = options.read_config_file(args.config)
            args = build_parser({args.command: values}).parse_args(argv)
        if hasattr(args, "threads") and args.command != "search":  # search: threads per worker
            use_threads(args.threads)
        return args.handler(args)
    except FirstnetError as error:
        print(f"firstnet: error: {options.in_flags(error)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("firstnet: interrupted", file=sys.stderr)
        return 130
