"""Load test of `firstnet serve`: a fixed number of POST /api/predict requests from concurrent
clients.

Starts the real server as a subprocess on a free loopback port (or targets --url), sends --requests
requests over --concurrency keep-alive HTTP/1.1 connections, and stops by itself: every request has
a timeout and the whole run a deadline. Prints throughput, latency percentiles, errors, lost
requests (sent but never answered) and the hardware. The client is raw asyncio streams, not an HTTP
library, so that on a small machine it takes as little CPU from the server as it can; it shares the
cores with the server all the same, so the figures are for client and server together on one
machine.

Payloads: `mnist` sends test images as JSON 28x28 arrays in [0, 1] (already MNIST-like, so the
server skips `mnist_like` and this measures HTTP, JSON and the forward pass); `canvas` sends each
test image drawn dark on white at 280x280 as a PNG body, which the server decodes and preprocesses
as it does for the page. Usage:
    python benchmarks/serve_load.py [RUN] [--requests 10000] [--concurrency 32] [--payload
    mnist|canvas]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import orjson
from PIL import Image

from firstnet.data import load_dataset
from firstnet.device import cpu_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/
from tests.serve_probe import free_port, wait_until_healthy  # noqa: E402


def payloads(kind: str, count: int) -> tuple[list[bytes], list[int], str]:
    """`count` request bodies made from the first MNIST test images, their labels, and the content
    type."""
    data = load_dataset()
    images, labels = data.test_images[:count], data.test_labels[:count].tolist()
    if kind == "mnist":
        bodies = [orjson.dumps({"image": (image / 255).round(4).tolist()}) for image in images]
        return bodies, labels, "application/json"
    bodies = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BILINEAR).save(
            buffer, "PNG"
        )
        bodies.append(buffer.getvalue())
    return bodies, labels, "image/png"


def wait_until_up(url: str, process: subprocess.Popen | None, seconds: float = 120) -> None:
    try:
        wait_until_healthy(url, process, seconds)
    except (RuntimeError, TimeoutError) as err:
        sys.exit(str(err))


def default_run(workdir: Path) -> Path:
    """Train `firstnet train --model mlp` with its defaults (about 5 s on an idle 2-core
    machine)."""
    print("No RUN given: training the default MLP first...", file=sys.stderr, flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "firstnet",
            "train",
            "--model",
            "mlp",
            "--runs-dir",
            str(workdir),
            "--name",
            "mlp",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return workdir / "mlp"


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process (Linux /proc), to tell the server's cost from the
    client's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def server(run: Path | None):
    """A `firstnet serve` subprocess on a free loopback port; yields its URL and pid, and stops it
    afterwards."""
    with tempfile.TemporaryDirectory() as workdir:
        run = run or default_run(Path(workdir))
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "firstnet", "serve", str(run), "--port", str(port)],
            stdout=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, process)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Tally:
    """Shared by the clients: the next request to send and what came back."""

    def __init__(self, total: int) -> None:
        self.total, self.issued, self.answered = total, 0, 0
        self.latencies: list[float] = []
        self.healthz: list[float] = []  # seconds of each /healthz asked during the load
        self.errors: dict[str, int] = {}
        self.wrong = 0

    def take(self) -> int | None:
        if self.issued >= self.total:
            return None
        self.issued += 1
        return self.issued - 1

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def exchange(reader, writer, request: bytes) -> tuple[int, bytes, bool]:
    """Send one request on a keep-alive connection and read one response: (status, body, whether
    the server closes the connection after it: at the end of its lifetime, for one)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    start = lower.find(b"content-length:")
    if start < 0:
        raise ConnectionError("response without content-length")
    length = int(lower[start + 15 : lower.index(b"\r\n", start)])
    return status, await reader.readexactly(length), b"\r\nconnection: close\r\n" in lower


async def client(
    host: str, port: int, requests: list[bytes], labels: list[int], tally: Tally, timeout: float
):
    """One keep-alive connection sending requests until the tally has issued them all."""
    reader = writer = None
    while (index := tally.take()) is not None:
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout
                )
            start = time.perf_counter()
            status, body, closing = await asyncio.wait_for(
                exchange(reader, writer, requests[index % len(requests)]), timeout
            )
            if closing:
                writer.close()
                reader = writer = None
            tally.latencies.append(time.perf_counter() - start)
            tally.answered += 1
            if status != 200:
                tally.error(f"HTTP {status}")
            elif orjson.loads(body)["class"] != labels[index % len(labels)]:
                tally.wrong += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as err:
            tally.error(type(err).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def load(
    url: str, bodies: list[bytes], labels: list[int], content_type: str, args
) -> tuple[Tally, float]:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    head = f"POST /api/predict HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
    requests = [(head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies]
    warmup = Tally(min(args.warmup, args.requests))
    await asyncio.gather(
        *(client(host, port, requests, labels, warmup, args.timeout) for _ in range(4))
    )
    tally = Tally(args.requests)
    start = time.perf_counter()
    clients = [
        client(host, port, requests, labels, tally, args.timeout) for _ in range(args.concurrency)
    ]
    done = asyncio.Event()
    probe = asyncio.create_task(healthz_probe(host, port, parts.netloc, tally, done))
    try:
        await asyncio.wait_for(asyncio.gather(*clients), args.deadline)
    except asyncio.TimeoutError:
        tally.error("deadline")
    done.set()
    await probe
    return tally, time.perf_counter() - start


async def healthz_probe(host: str, port: int, netloc: str, tally: Tally, done) -> None:
    """GET /healthz every 50 ms on a connection of its own while the load runs: how long a
    health check (or a page load) waits behind the load, kept in `tally.healthz`."""
    request = f"GET /healthz HTTP/1.1\r\nHost: {netloc}\r\n\r\n".encode()
    while not done.is_set():
        began, writer = time.perf_counter(), None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 60)
            writer.write(request)
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            tally.healthz.append(time.perf_counter() - began)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            tally.healthz.append(float("inf"))
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(0.05)


def measure(runner, url: str, pid: int | None, bodies, labels, content_type: str, args) -> dict:
    """Run the load and report it, with the CPU time that the server and this client spent on it."""
    server_before, client_before = cpu_seconds(pid) if pid else None, time.process_time()
    tally, seconds = runner(load(url, bodies, labels, content_type, args))
    server_after, client_cpu = (
        cpu_seconds(pid) if pid else None,
        time.process_time() - client_before,
    )
    result = report(tally, seconds, args, url)
    if server_before is not None and server_after is not None:
        result["server_cpu_ms_per_request"] = round(
            1000 * (server_after - server_before) / args.requests, 3
        )
    result["client_cpu_ms_per_request"] = round(1000 * client_cpu / args.requests, 3)
    return result


def report(tally: Tally, seconds: float, args, url: str) -> dict:
    latencies = np.array(tally.latencies) * 1000
    percentile = (
        (lambda q: float(np.percentile(latencies, q)))
        if len(latencies)
        else (lambda q: float("nan"))
    )
    load_average = os.getloadavg()
    return {
        "url": url,
        "payload": args.payload,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "answered": tally.answered,
        "lost": tally.issued - tally.answered + (args.requests - tally.issued),
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "wrong_class": tally.wrong,
        "seconds": round(seconds, 3),
        "throughput_rps": round(tally.answered / seconds, 1),
        "p50_ms": round(percentile(50), 2),
        "p90_ms": round(percentile(90), 2),
        "p99_ms": round(percentile(99), 2),
        "max_ms": round(float(latencies.max()), 2) if len(latencies) else None,
        "healthz_p50_ms": round(float(np.percentile(tally.healthz, 50)) * 1000, 2)
        if tally.healthz
        else None,
        "healthz_p99_ms": round(float(np.percentile(tally.healthz, 99)) * 1000, 2)
        if tally.healthz
        else None,
        "hardware": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "load_average_1m": round(load_average[0], 2),
            "python": platform.python_version(),
        },
    }


def print_report(result: dict) -> None:
    hardware = result["hardware"]
    print(
        f"{result['requests']:,} POST /api/predict ({result['payload']}) at "
        f"{result['concurrency']} concurrent "
        f"clients against {result['url']}"
    )
    print(
        f"{hardware['cpu']}, {hardware['cores']} cores (client and server on the same machine), "
        "Python "
        f"{hardware['python']}, 1-min load average at the end {hardware['load_average_1m']}"
    )
    print(f"throughput {result['throughput_rps']:,.0f} requests/s in {result['seconds']:.2f} s")
    print(
        f"latency p50 {result['p50_ms']:.2f} ms  p90 {result['p90_ms']:.2f} ms  p99 "
        f"{result['p99_ms']:.2f} ms  "
        f"max {result['max_ms']} ms"
    )
    if result.get("healthz_p50_ms") is not None:
        print(
            f"/healthz during the load (every 50 ms): p50 {result['healthz_p50_ms']:.2f} ms  "
            f"p99 {result['healthz_p99_ms']:.2f} ms"
        )
    if "server_cpu_ms_per_request" in result:
        print(
            f"CPU per request (warm-up included): server {result['server_cpu_ms_per_request']:.3f} "
            "ms, "
            f"client {result['client_cpu_ms_per_request']:.3f} ms"
        )
    kinds = ", ".join(f"{k}: {v}" for k, v in result["error_kinds"].items())
    print(
        f"errors {result['errors']}{f' ({kinds})' if kinds else ''}, lost {result['lost']}, "
        f"answered {result['answered']:,}, wrong class {result['wrong_class']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "run", type=Path, nargs="?", help="run directory to serve (default: train the default MLP)"
    )
    parser.add_argument(
        "--url", help="load an already running server instead of starting one (loopback only)"
    )
    parser.add_argument("--requests", type=int, default=10_000, help="requests to send")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="concurrent keep-alive connections"
    )
    parser.add_argument(
        "--payload", choices=("mnist", "canvas"), default="mnist", help="see the module docstring"
    )
    parser.add_argument(
        "--distinct", type=int, default=1000, help="distinct test images cycled through"
    )
    parser.add_argument("--warmup", type=int, default=200, help="requests sent before measuring")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds before one request counts as lost"
    )
    parser.add_argument(
        "--deadline", type=float, default=300.0, help="seconds before the whole run stops"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must be a loopback address (127.0.0.1, localhost or ::1)")
    bodies, labels, content_type = payloads(args.payload, args.distinct)
    try:
        import uvloop  # the server's own event loop: the cheapest client on these cores
    except ImportError:
        uvloop = None
    runner = uvloop.run if uvloop else asyncio.run
    if args.url:
        wait_until_up(args.url, None, seconds=10)
        result = measure(runner, args.url, None, bodies, labels, content_type, args)
    else:
        with server(args.run) as (url, pid):
            result = measure(runner, url, pid, bodies, labels, content_type, args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0 if result["errors"] == 0 and result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
