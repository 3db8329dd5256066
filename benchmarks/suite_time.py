"""Where the test suite's time goes: `make test`'s pytest run with a timeline of every test.

Runs `pytest -n auto --maxprocesses=4 --dist worksteal` (the Makefile's command; other pytest
arguments may follow `--`) with this file loaded as a plugin in every worker. Each test's wall
time, the CPU its worker spent and the CPU of the processes it started and waited for (`firstnet`
subprocesses, notebook kernels, search workers) are recorded; on Linux the machine's idle CPU is
sampled every half second. It prints the run's wall time beside the sum of its tests' times per
worker (the reference: with N workers the wall can be no shorter than that sum over N), the idle
core-seconds, and the longest tests and files. A browser's or a server's CPU is not in "children"
(they are not waited for by the test), so a test waiting on them shows as wall time only.

    python benchmarks/suite_time.py [--top 25] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT_ENV = "SUITE_TIME_OUT"  # the folder each worker writes its timeline to


def cpu_seconds() -> tuple[float, float]:
    """(this process, its waited-for children): user + system seconds."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """The plugin: setup, call and teardown of one test, timed (only when OUT_ENV is set)."""
    folder = os.environ.get(OUT_ENV)
    start, (own, children) = time.time(), cpu_seconds()
    yield
    if folder:
        end, (own_end, children_end) = time.time(), cpu_seconds()
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        record = {"test": item.nodeid, "worker": worker, "start": start, "end": end,
                  "cpu": own_end - own, "children": children_end - children}  # fmt: skip
        with open(Path(folder) / f"{worker}.jsonl", "a") as file:
            file.write(json.dumps(record) + "\n")


def sample_idle(samples: list, stop: threading.Event) -> None:
    """(time, idle core-seconds since the last sample) every half second, from /proc/stat (idle
    and iowait, in clock ticks)."""

    def idle_ticks() -> int:
        fields = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
        return int(fields[3]) + int(fields[4])

    tick, before = os.sysconf("SC_CLK_TCK"), idle_ticks()
    while not stop.wait(0.5):
        now = idle_ticks()
        samples.append((time.time(), (now - before) / tick))
        before = now


def report(records: list[dict], samples: list, wall: float, top: int) -> None:
    workers = sorted({r["worker"] for r in records})
    busy = {w: sum(r["end"] - r["start"] for r in records if r["worker"] == w) for w in workers}
    per_worker = ", ".join(f"{worker} {seconds:.1f} s" for worker, seconds in busy.items())
    print(f"{len(records)} tests in {wall:.1f} s of wall time on {len(workers)} worker(s); "
          f"the tests' own time per worker: {per_worker}")  # fmt: skip
    if samples:
        start, end = min(r["start"] for r in records), max(r["end"] for r in records)
        idle = sum(seconds for moment, seconds in samples if start <= moment <= end)
        print(f"idle while tests ran: {idle:.0f} core-seconds of {os.cpu_count()} cores")
    print(f"\nlongest {top} tests: wall, their worker's CPU, their children's CPU (seconds)")
    for r in sorted(records, key=lambda r: r["start"] - r["end"])[:top]:
        print(f"{r['end'] - r['start']:7.1f} {r['cpu']:7.1f} {r['children']:7.1f}  {r['test']}")
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for r in records:
        sums = files[r["test"].split("::")[0]]
        sums[0] += r["end"] - r["start"]
        sums[1] += r["cpu"]
        sums[2] += r["children"]
    print(f"\nlongest {top} files: wall, CPU, children's CPU (seconds)")
    for name, (seconds, cpu, children) in sorted(files.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{seconds:7.1f} {cpu:7.1f} {children:7.1f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=25, help="tests and files listed (default 25)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    from firstnet.device import cpu_name  # here, not in the workers that load this as a plugin

    print(f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        env = os.environ | {OUT_ENV: folder}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "benchmarks"), env.get("PYTHONPATH")])
        )
        command = [sys.executable, "-m", "pytest", "-q", "-p", "suite_time", "-n", "auto",
                   "--maxprocesses=4", "--dist", "worksteal", *args.pytest_args]  # fmt: skip
        samples: list = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_idle, args=(samples, stop), daemon=True)
        if Path("/proc/stat").is_file():
            sampler.start()
        start = time.time()
        code = subprocess.run(command, cwd=ROOT, env=env).returncode
        wall = time.time() - start
        stop.set()
        if sampler.is_alive():
            sampler.join()
        records = [json.loads(line) for path in Path(folder).glob("*.jsonl")
                   for line in path.read_text().splitlines()]  # fmt: skip
    if not records:
        print("no test ran", file=sys.stderr)
        return code or 1
    print()
    report(records, samples, wall, args.top)
    return code


if __name__ == "__main__":
    sys.exit(main())
