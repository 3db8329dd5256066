"""`firstnet demo`, the short version of `firstnet report`: the data questions, the linear model,
the MLP and the CNN trained into run directories, and the lecture's claims beside the numbers."""

from __future__ import annotations

import json
import time

from firstnet.cli import options
from firstnet.cli.console import claims_table, next_steps, report_epoch, show_data
from firstnet.separable import data_facts
from firstnet.terminal import err, load_data, out

# Each model's share of the demo's training time, measured on 2-core CPUs (the CNN dominates: with
# bf16 on AVX-512 BF16, linear 1 s, MLP 2.4 s, CNN 12 s): a rough guide to what is left.
DEMO_SHARES = {"linear": 0.06, "mlp": 0.15, "cnn": 0.79}


def add_parser(sub) -> None:
    demo = options.add_command(sub, "demo", demo_command)
    options.add(demo, "runs-dir")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the three trainings")
    options.add(demo, "data", "json", "threads")


def demo_command(args) -> int:
    """short version of report: data questions, linear, MLP and CNN, claims vs measurements"""
    from firstnet import report

    data, start = load_data(args.data_dir), time.perf_counter()
    if args.json:  # one JSON document on stdout: the data's answers go into it
        summary = data_facts(data)
    else:
        summary = show_data(data, args.runs_dir / "mnist-samples.png")

    def announce(step: int, model: str) -> None:
        elapsed = time.perf_counter() - start
        share = f"{DEMO_SHARES[model]:.0%} of the demo's training time is this step"
        total = len(report.DEMO_MODELS)
        so_far = f"{elapsed:.0f} s so far; {share}"
        err.print(f"[bold]demo step {step} of {total}[/]: {model} ({so_far})", markup=True)

    result = report.demo(
        data, args.runs_dir, args.seed, on_model=announce, on_epoch=report_epoch, summary=summary
    )
    if "stopped" in result:
        return 130  # the checkpoint is kept; how to continue it was said
    if args.json:
        print(json.dumps({"data": summary, "results": result["results"]}, indent=2))
    else:
        out.print(claims_table(result["claims"]))
    err.print(f"demo: {time.perf_counter() - start:.0f} s in all", highlight=False)
    if not args.json:
        err.print(next_steps(None, args.runs_dir), highlight=False)
    return 0
