"""What the lab's MNIST panel costs: (1) its training against the same training without the lab,
and (2) the drawing page's answers while a lab job trains beside them.

(1) In one process, alternating, `--runs` times each: `train_run(cfg, data, folder)` alone (what
`firstnet train` runs), and a lab `MnistJob` of the same config played to the end while a reader
takes every frame as the page's event stream does (orjson, as `lab/routes.stream`). Both use the
torch threads `firstnet train` would. Printed: the median wall time of each and their ratio.

(2) A `firstnet serve` of a trained MLP (trained first when no RUN is given), asked one picture at a
time as the drawing page asks (`--requests` 280x280 PNGs of MNIST test digits to POST /api/predict):
latency percentiles with no lab job, then with a lab job training (`--job-model`, as a page that
follows it) on the same server. Client and server share the machine's cores, as on a laptop.
Usage:
    python benchmarks/lab_load.py [RUN] [--runs 5] [--requests 300] [--job-model mlp]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import orjson
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/
sys.path.insert(0, str(Path(__file__).resolve().parent))  # serve_load's payloads and server
from firstnet.data import load_dataset  # noqa: E402
from firstnet.device import cpu_name, training_threads  # noqa: E402
from firstnet.lab.mnist import lab_config  # noqa: E402
from firstnet.training import train_run  # noqa: E402
from serve_load import payloads, server  # noqa: E402


def alone(settings: dict) -> float:
    """Seconds of `train_run` for the lab's settings, in this process with the threads `firstnet
    train` takes (run as a child: `lab_load.py --alone`)."""
    data = load_dataset()
    torch.set_num_threads(training_threads(None))
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1)  # torch's one-off imports, untimed
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        train_run(lab_config(settings), data, Path(folder) / "run", progress=False)
        return time.perf_counter() - started


def in_the_lab(url: str, settings: dict) -> tuple[float, int]:
    """Seconds from Play to the last frame of a lab job on the server at `url`, its event stream
    read as the page reads it; and the frames it sent."""
    job = post(url + "/api/lab/mnist", settings)["job"]
    frames, done = [0], threading.Event()

    def read() -> None:
        with urllib.request.urlopen(f"{url}/api/lab/jobs/{job}/events", timeout=300) as stream:
            for line in stream:
                if line.startswith(b"data: "):
                    frames[0] += 1
                    if orjson.loads(line[6:])["state"] in ("done", "stopped", "diverged"):
                        done.set()
                        return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)  # the stream is open
    started = time.perf_counter()
    post(f"{url}/api/lab/jobs/{job}/play")
    done.wait(300)
    seconds = time.perf_counter() - started
    reader.join(10)
    return seconds, frames[0]


def training_overhead(url: str, settings: dict, runs: int) -> dict:
    """`runs` of each, alternating: a child process's train_run, and the server's lab job."""
    child = [sys.executable, __file__, "--alone", json.dumps(settings)]
    in_the_lab(url, {"model": "linear", "epochs": 1})  # the server's one-off imports, untimed
    lonely, lab, frames = [], [], []
    for _ in range(runs):
        answer = subprocess.run(child, check=True, capture_output=True, text=True)
        lonely.append(float(answer.stdout))
        seconds, count = in_the_lab(url, settings)
        lab.append(seconds)
        frames.append(count)
    return {"alone_s": lonely, "lab_s": lab, "frames": frames,
            "ratio": statistics.median(lab) / statistics.median(lonely)}  # fmt: skip


def latencies(url: str, bodies: list[bytes]) -> list[float]:
    """Milliseconds of each POST /api/predict, one after the other."""
    seconds = []
    for body in bodies:
        request = urllib.request.Request(url + "/api/predict", body, {"Content-Type": "image/png"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
        seconds.append(1000 * (time.perf_counter() - started))
    return seconds


def post(url: str, payload: dict | None = None) -> dict:
    body = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def follow(url: str, stop: threading.Event) -> None:
    """The lab page's event stream, read until `stop` or the job's end."""
    with urllib.request.urlopen(url, timeout=120) as stream:
        for line in stream:
            if stop.is_set() or b'"state":"done"' in line or b'"state":"stopped"' in line:
                return


def page_latency(url: str, requests: int, job_model: str) -> dict:
    bodies, _, _ = payloads("canvas", requests)
    latencies(url, bodies[:20])  # warm up
    quiet = latencies(url, bodies)
    job = post(url + "/api/lab/mnist", {"model": job_model, "epochs": 30})
    stop = threading.Event()
    reader = threading.Thread(target=follow, args=(f"{url}/api/lab/jobs/{job['job']}/events", stop))
    reader.start()
    post(f"{url}/api/lab/jobs/{job['job']}/play")
    time.sleep(1)  # the job is under way
    busy = latencies(url, bodies)
    state = post(f"{url}/api/lab/jobs/{job['job']}/stop")
    stop.set()
    reader.join(10)
    assert state["step"] > 0

    def summary(values: list[float]) -> dict:
        return {
            "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99)),
        }

    return {"without_job": summary(quiet), "with_job": summary(busy), "job_steps": state["step"],
            "p99_ratio": float(np.percentile(busy, 99) / np.percentile(quiet, 99))}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run", nargs="?", type=Path, help="a trained run to serve (default: train one)"
    )
    parser.add_argument("--runs", type=int, default=5, help="trainings of each kind for (1)")
    parser.add_argument("--requests", type=int, default=300, help="pictures asked for in (2)")
    parser.add_argument("--job-model", choices=("linear", "mlp", "cnn"), default="mlp")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--alone", help=argparse.SUPPRESS)  # the child of (1)
    args = parser.parse_args()
    if args.alone:
        print(alone(json.loads(args.alone)))
        return 0
    with server(args.run) as (url, _pid):
        result = {
            "cpu": cpu_name(), "cores": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(),
            "training": training_overhead(url, {"model": "mlp"}, args.runs),
            "page": page_latency(url, args.requests, args.job_model),
        }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    training, page = result["training"], result["page"]
    print(f"{result['cpu']}; torch {result['torch']}, Python {result['python']}")
    print(f"(1) the default MLP (6 epochs), {args.runs} runs each, alternating:")
    print(f"    train_run alone: median {statistics.median(training['alone_s']):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in training['alone_s'])})")  # fmt: skip
    print(f"    in the lab:      median {statistics.median(training['lab_s']):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in training['lab_s'])}), "
          f"{statistics.median(training['frames'])} frames")  # fmt: skip
    print(f"    lab / alone: {training['ratio']:.3f}")
    print(f"(2) {args.requests} drawings asked one at a time (canvas PNG):")
    for name in ("without_job", "with_job"):
        numbers = page[name]
        print(f"    {name.replace('_', ' '):12} p50 {numbers['p50_ms']:.1f} ms, "
              f"p99 {numbers['p99_ms']:.1f} ms")  # fmt: skip
    print(f"    with a {args.job_model} job ({page['job_steps']} steps meanwhile): p99 x "
          f"{page['p99_ratio']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
