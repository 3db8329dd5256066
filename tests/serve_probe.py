"""Starting a server on loopback and knowing when it answers: shared by the browser tests and
the load benchmarks (benchmarks/serve_load.py imports it from here)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(
    url: str, process: subprocess.Popen | None = None, seconds: float = 60.0
) -> None:
    """Poll `url`/healthz until it answers 200. RuntimeError if `process` exits first, TimeoutError
    after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the server exited with status {process.returncode} before answering"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no answer from {url}/healthz within {seconds:.0f} s")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)


def server_holds(port: int, client: socket.socket) -> bool:
    """Whether the server on loopback `port` still holds its end of `client`'s connection open
    (Linux: that socket is ESTABLISHED in /proc/net/tcp), whatever the client has read of it."""
    mine = client.getsockname()[1]
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == mine:
            return state == "01"
    return False


@contextmanager
def lab_server(tmp_path: Path, runs_dir: Path | None = None):
    """`firstnet lab --no-browser` on a free port, its runs in `runs_dir` (none: an empty folder),
    its output in tmp_path/lab-PORT.log, which must hold no traceback when it has stopped."""
    port = free_port()
    log_path = tmp_path / f"lab-{port}.log"
    log = log_path.open("w")
    command = [sys.executable, "-m", "firstnet", "lab", "--no-browser", "--port", str(port),
               "--runs-dir", str(runs_dir or tmp_path / "no-runs")]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, seconds=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert "Traceback" not in log_path.read_text()


def post(url: str, body: bytes = b"") -> tuple[int, dict]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start_and_stop(url: str) -> int:
    """The status of a new job's start; a started job is stopped at once."""
    status, answer = post(url + "/api/lab/toy", b"{}")
    if status == 200:
        post(f"{url}/api/lab/jobs/{answer['job']}/stop")
    return status
