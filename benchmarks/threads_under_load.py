"""Training speed with one or two torch threads, on an idle machine and beside other work.

On a 2-core machine with other work (a second training, a test suite, a browser), torch's default of
one thread per core made training several times slower than one thread: its threads meet at a
barrier after every operation, and one of them waiting for its core holds up the other. This script
measures it: for each setting, a fresh process trains one epoch of the default MLP (and of the CNN
on 20,000 images) and reports the epoch's seconds; "loaded" runs one busy process (a Python loop
that never sleeps) beside it for the whole time. Settings: the thread count (1 or 2) and how
OpenMP's threads wait at a barrier: its default (spinning for about 300,000 rounds first), PASSIVE
(a waiting thread sleeps at once), or a short spin (GOMP_SPINCOUNT=10000, torch's CPU builds use
GNU OpenMP).

Prints the median over --repeats runs of each setting and its ratio to one thread on the idle
machine (the reference, measured in the same run). Usage:
    python benchmarks/threads_under_load.py [--repeats 3] [--models mlp cnn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from firstnet.device import cpu_name

TRAIN = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from firstnet.api import load_mnist, train
model = sys.argv[2]
limit = {"mlp": None, "cnn": 20000}[model]
run = train(model, data=load_mnist(), epochs=1, train_limit=limit, progress=False)
print(run.history[-1]["elapsed_s"])
"""
BUSY = "while True: pass"


WAITS = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
         "short spin": {"GOMP_SPINCOUNT": "10000"}}  # fmt: skip


def epoch_seconds(model: str, threads: int, wait: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env |= WAITS[wait]
    done = subprocess.run([sys.executable, "-c", TRAIN, str(threads), model], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    args = parser.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} cores; median of {args.repeats} runs per setting")
    settings = [(1, "default")] + [(2, wait) for wait in WAITS]
    for model in args.models:
        results = {}
        for load in ("idle", "loaded"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load == "loaded" else None
            try:
                for threads, policy in settings:
                    times = [epoch_seconds(model, threads, policy) for _ in range(args.repeats)]
                    results[load, threads, policy] = statistics.median(times)
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
        reference = results["idle", 1, "default"]
        print(f"\n{model}: one epoch, seconds (ratio to 1 thread, idle)")
        print(f"{'threads':>8} {'wait policy':>12} {'idle':>14} {'loaded':>14}")
        for threads, policy in settings:
            seconds = [results[load, threads, policy] for load in ("idle", "loaded")]
            cells = [f"{value:6.2f} ({value / reference:4.2f}x)" for value in seconds]
            print(f"{threads:>8} {policy:>12} {cells[0]:>14} {cells[1]:>14}")


if __name__ == "__main__":
    main()
