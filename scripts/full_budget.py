"""Every experiment at its default (full) budget, and the record of its headline beside the hardware
and the date, in src/firstnet/experiments/full_budget.json. `firstnet report --quick` (what `make
demo` runs) shows these beside its own quick numbers, so a quick number that tells another story is
never alone on a projected page. Rerun it when an experiment or its budget changes:

    python scripts/full_budget.py [--out-dir runs/experiments-full]

The cells are kept in --out-dir, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from firstnet import api
from firstnet.atomic import atomic_write
from firstnet.device import environment, hardware, resolve_device
from firstnet.experiments import EXPERIMENTS
from firstnet.experiments.full_budget import RECORD
from firstnet.experiments.runner import experiment_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/experiments-full"))
    args = parser.parse_args()
    data = api.load_mnist()
    headlines = {}
    for name in EXPERIMENTS:
        start = time.perf_counter()
        results = api.experiment(name, data=data, quick=False, out_dir=args.out_dir)
        text, value = experiment_module(name).headline(results)
        headlines[name] = {"text": text, "value": value}
        print(f"{name} ({time.perf_counter() - start:.0f} s): {text}", flush=True)
    record = {
        "hardware": hardware(environment(resolve_device("auto"))),
        "date": time.strftime("%Y-%m-%d"),
        "headlines": headlines,
    }
    atomic_write(RECORD, json.dumps(record, indent=1) + "\n")
    print(f"written: {RECORD}")


if __name__ == "__main__":
    main()
