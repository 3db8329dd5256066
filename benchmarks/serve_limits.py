"""`firstnet serve` under connection attacks: can idle, pipelining or huge-head clients shut out the
others, or hold a connection for ever?

Starts the real server on a free loopback port, a fresh one for each attack (so that its log is the
attack's), and runs:
- slots: --held connections (300, more than the default --max-connections of 256) opened and left
  idle, each re-opened as soon as the server cuts it, while a legitimate client asks for /healthz
  and the page (/) in turn every 0.1 s for --seconds: how many of its requests were answered 200
  (and what the others got), and how many idle connections the server cut;
- pipeline: one client sends --pipelined GET /api/models requests on one connection (with a 4 kB
  receive buffer) and never reads an answer: how long the server holds that connection open
  (its end seen in /proc/net/tcp every 10 ms, for at most --patience seconds), and /healthz after;
- header: one request whose header line is --header-mb MB long, sent as fast as the server takes
  it, while another client asks for /healthz every 10 ms: what the server answered, after how many
  bytes and seconds, and the slowest /healthz meanwhile;
- disconnect: 12 clients that leave in the middle of a POST body (Content-Length or chunked; PNG,
  JSON or multipart; closed or reset): /healthz after them.
After each attack it prints the lines the server logged beyond its start-up, and how many were
tracebacks. Without RUN it serves a freshly initialised MLP (the attacks do not depend on the
weights). The server runs on whichever firstnet is first on PYTHONPATH, so two source trees can be
compared; client and server share the machine's cores. Usage:
    PYTHONPATH=src python benchmarks/serve_limits.py [RUN] [--only slots,pipeline,header,
    disconnect] [--held 300] [--seconds 25] [--pipelined 30000] [--header-mb 91]
    [--serve-arg=--max-connections=20 ...]
The four attacks take about 45 s with the defaults.
"""

from __future__ import annotations

import argparse
import os
import platform
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import firstnet
from firstnet.device import cpu_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/
from tests.serve_probe import free_port, server_holds, wait_until_healthy  # noqa: E402


class Server:
    """A `firstnet serve` subprocess on a free loopback port, logging to a file."""

    def __init__(self, run: Path, extra: list[str], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        argv = [sys.executable, "-m", "firstnet", "serve", str(run), "--port", str(self.port)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                argv + extra, stdout=log, stderr=subprocess.STDOUT, cwd=folder
            )
        wait_until_healthy(self.url, self.process, 120)
        self.start_lines = len(self.log.read_text().splitlines())

    def stop(self) -> str:
        """Stop the server; what it logged beyond its start-up (and before stopping)."""
        logged = self.log.read_text().splitlines()[self.start_lines :]
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        tracebacks = sum("Traceback" in line for line in logged)
        kinds = sorted({line.strip() for line in logged})
        shown = f": {' | '.join(kinds[:3])}{' ...' if len(kinds) > 3 else ''}" if kinds else ""
        lines = f"{len(logged)} line{'' if len(logged) == 1 else 's'}"
        return f"server log: {lines} beyond start-up, {tracebacks} tracebacks{shown}"


def get(url: str, timeout: float = 10.0) -> tuple[int | str, float]:
    """GET `url`: the status (or the error's name) and the seconds it took."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return response.status, time.monotonic() - start
    except urllib.error.HTTPError as err:
        return err.code, time.monotonic() - start
    except OSError as err:
        return type(err).__name__, time.monotonic() - start


@contextmanager
def healthz_probe(url: str):
    """Ask for /healthz every 10 ms in a thread while the block runs; yields a dict that holds the
    slowest answer ("worst", seconds), the number of probes and the statuses other than 200."""
    seen = {"worst": 0.0, "probes": 0, "failed": []}
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            status, took = get(url + "/healthz", timeout=30)
            seen["worst"], seen["probes"] = max(seen["worst"], took), seen["probes"] + 1
            if status != 200:
                seen["failed"].append(status)
            time.sleep(0.01)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    time.sleep(0.5)  # a few probes before the attack
    try:
        yield seen
    finally:
        time.sleep(0.5)  # and after it
        stop.set()
        thread.join()


def slots(server: Server, args) -> str:
    """Idle connections in every slot, each re-opened as it is cut, against a legitimate client."""

    def connect() -> socket.socket:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", server.port))
        selector.register(sock, selectors.EVENT_READ)
        return sock

    selector = selectors.DefaultSelector()
    held = [connect() for _ in range(args.held)]
    stop, reopened = threading.Event(), [0]

    def keep_held() -> None:
        """A connection the server cuts (end of file or reset) is replaced at once."""
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(100)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    held.remove(key.fileobj)
                    held.append(connect())
                    reopened[0] += 1

    thread = threading.Thread(target=keep_held, daemon=True)
    thread.start()
    time.sleep(1)  # every slot taken before the first legitimate request
    statuses = []
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for path in ("/healthz", "/"):
            statuses.append(get(server.url + path)[0])
        time.sleep(0.1)
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    answered = sum(status == 200 for status in statuses)
    others = sorted({str(status) for status in statuses if status != 200})
    return (
        f"slots: {answered} of {len(statuses)} legitimate requests (/healthz and /, in turn) "
        f"answered 200{f' (others: {others})' if others else ''}; {args.held} idle connections "
        f"held, {reopened[0]:,} of them cut by the server and re-opened, in {args.seconds:g} s"
    )


def pipeline(server: Server, args) -> str:
    """Requests pipelined on one connection and never read: how long the server holds it."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    one = b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    data, sent = one * args.pipelined, 0
    start = time.monotonic()
    while sent < len(data) and time.monotonic() - start < args.patience:
        try:
            sent += sock.send(data[sent:])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:  # the server closed or reset the connection
            break
    closed = None
    while time.monotonic() - start < args.patience:
        if not server_holds(server.port, sock):
            closed = time.monotonic() - start
            break
        time.sleep(0.01)
    sock.close()
    if closed is None:
        held = f"still held after {args.patience:g} s"
    else:
        held = f"closed by the server after {1000 * closed:,.0f} ms (polled every 10 ms)"
    status, took = get(server.url + "/healthz")
    return (
        f"pipeline: {args.pipelined:,} requests pipelined ({sent:,} of {len(data):,} bytes taken) "
        f"and never read: connection {held}; /healthz after: {status} in {1000 * took:.1f} ms"
    )


def header(server: Server, args) -> str:
    """A header line of --header-mb MB, sent as fast as the server takes it."""
    size = int(args.header_mb * 1_000_000)
    head = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Big: ".encode()
    whole, rest = divmod(size, 1_000_000)
    line = [b"a" * 1_000_000] * whole + ([b"a" * rest] if rest else [])
    pieces = iter([head, *line, b"\r\n\r\n"])
    with healthz_probe(server.url) as seen:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setblocking(False)
        pending, sent, answer = next(pieces), 0, b""
        start = time.monotonic()
        while time.monotonic() - start < args.patience:
            # read whatever the server answers as soon as it does: once it has closed, a reset
            # may discard what it sent
            readable, writable = ready(sock, write=pending is not None)
            try:
                if readable:
                    received = sock.recv(65536)
                    answer += received
                    if not received or b"\r\n\r\n" in answer:
                        break
                if writable:
                    done = sock.send(pending)
                    sent, pending = sent + done, pending[done:] or next(pieces, None)
            except BlockingIOError:
                continue
            except OSError as err:
                answer = answer or type(err).__name__.encode()
                break
        took = time.monotonic() - start
        sock.close()
    first = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "nothing"
    return (
        f"header: a {size / 1e6:,.0f} MB header line; the server answered {first!r} after "
        f"{sent / 1e6:,.1f} MB sent in {took:.2f} s; /healthz meanwhile: {seen['probes']} probes, "
        f"worst {1000 * seen['worst']:,.0f} ms"
        + (f", failed: {sorted(set(map(str, seen['failed'])))}" if seen["failed"] else "")
    )


def ready(sock: socket.socket, write: bool) -> tuple[bool, bool]:
    """Whether `sock` can be read, and written (if `write`), within a second."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0))
        events = selector.select(timeout=1.0)
    mask = events[0][1] if events else 0
    return bool(mask & selectors.EVENT_READ), bool(mask & selectors.EVENT_WRITE)


def disconnect(server: Server, args) -> str:
    """Clients that leave in the middle of a POST body, politely (FIN) or not (RST)."""
    part = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    kinds = {
        b"image/png": b"x" * 300_000,
        b"application/json": b'{"image": [' + b"0," * 100_000,
        b"multipart/form-data; boundary=xyz": part + b"x" * 300_000,
    }
    count = 0
    for kind, body in kinds.items():
        for length, sent in [
            (b"Content-Length: 900000", body),  # a third of what it declares
            (b"Transfer-Encoding: chunked", b"493e0\r\n" + body[:200_000]),  # within a chunk
        ]:
            for reset in (False, True):
                sock = socket.create_connection(("127.0.0.1", server.port))
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                head = b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + kind
                sock.sendall(head + b"\r\n" + length + b"\r\n\r\n" + sent)
                time.sleep(0.3)
                sock.close()
                time.sleep(0.5)
                count += 1
    status, took = get(server.url + "/healthz")
    return (
        f"disconnect: {count} clients left mid-body; "
        f"/healthz after: {status} in {1000 * took:.1f} ms"
    )


ATTACKS = {"slots": slots, "pipeline": pipeline, "header": header, "disconnect": disconnect}


def untrained_mlp(folder: Path) -> Path:
    from tests.run_dirs import untrained_run

    return untrained_run(folder / "runs", "mlp", "mlp")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "run", type=Path, nargs="?", help="run to serve (default: an untrained MLP)"
    )
    parser.add_argument("--only", default=",".join(ATTACKS), help="attacks, comma-separated")
    parser.add_argument("--held", type=int, default=300, help="slots: idle connections held")
    parser.add_argument("--seconds", type=float, default=25.0, help="slots: how long")
    parser.add_argument("--pipelined", type=int, default=30_000, help="pipeline: requests sent")
    parser.add_argument("--header-mb", type=float, default=91.0, help="header: its length in MB")
    parser.add_argument(
        "--patience", type=float, default=60.0, help="pipeline, header: seconds before giving up"
    )
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="an option for `firstnet serve`"
    )
    args = parser.parse_args()
    attacks = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := set(attacks) - set(ATTACKS):
        parser.error(f"unknown attacks {sorted(unknown)}: choose among {', '.join(ATTACKS)}")

    print(
        f"firstnet {firstnet.__version__} from {Path(firstnet.__file__).parent}; {cpu_name()}, "
        f"{os.cpu_count()} cores (client and server on the same machine), Python "
        f"{platform.python_version()}; serve {' '.join(args.serve_arg) or 'with its defaults'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as folder:
        run = args.run.resolve() if args.run else untrained_mlp(Path(folder))
        for name in attacks:
            server = Server(run, args.serve_arg, Path(folder))
            try:
                print(ATTACKS[name](server, args), flush=True)
            finally:
                print(f"  {server.stop()}; 1-min load average {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
