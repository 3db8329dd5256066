"""`firstnet check`: the lecture's homework, checked (docs/homework.md)."""

from __future__ import annotations

import json
from pathlib import Path

from firstnet.cli import options
from firstnet.errors import ConfigError
from firstnet.terminal import out


def add_parser(sub) -> None:
    check = options.add_command(sub, "check", check_homework)
    add = check.add_argument
    add("file", nargs="?", type=Path, help="your file with backward(params, cache, y)")
    template = "print a file to start from: the forward pass given, backward to fill in"
    add("--template", action="store_true", help=template)
    options.add(check, "json")
    exercise = "mlp: the gradients of W1, W2, W3; activations: each activation's derivative"
    add("--exercise", choices=("mlp", "activations"), default="mlp", help=exercise)
    add("--gradescope", type=Path, metavar="FILE",
        help="also write Gradescope's results.json (a point per gradient) to FILE")  # fmt: skip
    secret = "check on other cases, drawn from N, which students do not see (for a grader)"
    add("--secret", type=int, metavar="N", help=secret)


def check_homework(args) -> int:
    """check your derivation of the MLP's gradients: each of dW1 ... db3 right, or the mistake named
    (the homework of the lecture's training slide)"""
    if args.template:
        from firstnet.homework.template import ACTIVATIONS_TEMPLATE, TEMPLATE

        print(ACTIVATIONS_TEMPLATE if args.exercise == "activations" else TEMPLATE, end="")
        return 0
    if args.file is None:
        raise ConfigError(
            "give your file (firstnet check my_backward.py), or --template to start one"
        )
    from firstnet.homework.check import check_derivatives_file, check_file, report_lines

    if args.exercise == "activations":
        report = check_derivatives_file(args.file)
    else:
        report = check_file(args.file, secret=args.secret)
    if args.gradescope is not None:
        from firstnet.homework.check import gradescope

        args.gradescope.write_text(json.dumps(gradescope(report), indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for line in report_lines(report):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0 if report["ok"] else 1
