"""`firstnet demo`, the main job: the data questions, the linear model, the MLP and the CNN trained,
and the lecture's claims beside the numbers firstnet measured."""

from __future__ import annotations

import json
import time

from firstnet.cli import options
from firstnet.cli.cmd_data import show_data
from firstnet.cli.cmd_report import claims_table
from firstnet.cli.cmd_train import train_run
from firstnet.cli.console import load_data
from firstnet.config import TrainConfig
from firstnet.terminal import err, out

MINIMAL_LINES = 40  # non-blank lines of examples/minimal.py; a test keeps this in step


def add_parser(sub) -> None:
    demo = options.add_command(sub, "demo", demo_command)
    options.add(demo, "runs-dir")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the three trainings")
    options.add(demo, "data", "json")


def demo_command(args) -> int:
    """the main job: data questions, linear model, MLP and CNN, claims vs measurements"""
    from firstnet import runs

    data, start = load_data(args.data_dir), time.perf_counter()
    summary = show_data(data, args.runs_dir / "mnist-samples.png", as_json=args.json)
    results = {}
    for step, model in enumerate(DEMO_MODELS, 1):
        elapsed = time.perf_counter() - start
        share = f"{DEMO_SHARES[model]:.0%} of the demo's training time is this step"
        err.print(f"[bold]demo step {step} of 3[/]: {model} ({elapsed:.0f} s so far; {share})")
        cfg = TrainConfig(model=model, seed=args.seed)
        run_dir = runs.create_run_dir(args.runs_dir, runs.default_name(cfg), numbered=True)
        trainer = train_run(cfg, data, run_dir)
        if trainer is None:
            return 130
        results[model] = trainer.history[-1] | {"run": str(run_dir)}
    if args.json:
        print(json.dumps({"data": summary, "results": results}, indent=2))
    else:
        out.print(claims_table(demo_claims(summary, results)))
    err.print(f"demo: {time.perf_counter() - start:.0f} s in all", highlight=False)
    return 0


DEMO_MODELS = ("linear", "mlp", "cnn")
# Each model's share of the demo's training time, measured on 2-core CPUs (the CNN dominates: with
# bf16 on AVX-512 BF16, linear 1 s, MLP 2.4 s, CNN 12 s): a rough guide to what is left.
DEMO_SHARES = {"linear": 0.06, "mlp": 0.15, "cnn": 0.79}


def demo_claims(summary: dict, results: dict[str, dict]) -> list[dict]:
    """The claims (lecture, measured, command) of `data_summary` and the final epoch records, for
    `cmd_report.claims_table`."""
    rows = []

    def row(lecture: str, measured: str, command: str) -> None:
        rows.append({"lecture": lecture, "measured": measured, "command": command})

    row(
        "D (dimension of a sample)?  \\[slide: '764 units']",
        f"{summary['dimension']} = 28 x 28",
        "firstnet data",
    )
    row("How many classes?", str(summary["num_classes"]), "firstnet data")
    linear, mlp = results.get("linear"), results.get("mlp")
    if linear:
        separable = "no" if linear["train_acc"] < 1 else "yes"
        row(
            "Linearly separable?",
            f"{separable}: the linear model fits {100 * linear['train_acc']:.2f}% of the training "
            "set",
            "firstnet train --model linear",
        )
        row(
            "A linear model reaches 94%",
            f"test {100 * linear['test_acc']:.2f}%, train {100 * linear['train_acc']:.2f}% "
            f"({linear['elapsed_s']:.1f} s)",
            "firstnet train --model linear",
        )
    if mlp:
        row(
            "3-layer MLP with ReLU (784-H-H-10)",
            f"test {100 * mlp['test_acc']:.2f}%, train {100 * mlp['train_acc']:.2f}% "
            f"({mlp['elapsed_s']:.1f} s)",
            "firstnet train --model mlp",
        )
    cnn = results.get("cnn")
    if cnn:
        row(
            "A deep network reaches 99.5%",
            f"test {100 * cnn['test_acc']:.2f}% with a 5-layer CNN ({cnn['elapsed_s']:.1f} s)",
            "firstnet train --model cnn",
        )
    row(
        "How many lines of code reach 99.5%?",
        f"{MINIMAL_LINES} lines, torch only",
        "python examples/minimal.py",
    )
    return rows
