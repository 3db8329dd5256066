"""`firstnet serve` and `firstnet lab`: load the models, bind the address, run uvicorn until Ctrl-C.

fastapi, uvicorn and torch are imported only when the server starts: --help never loads them.
"""

from __future__ import annotations

import gc
import socket
import webbrowser
from pathlib import Path

from rich.markup import escape

from firstnet.cli import options
from firstnet.cli.console import trained_run
from firstnet.errors import ServeError
from firstnet.serve.protocol import LIFETIME_SECONDS, MAX_CONNECTIONS, RECEIPT_SECONDS
from firstnet.terminal import err, out

LONGEST_SECONDS = 86_400.0  # a day: longer timers overflow uvloop's


def add_parser(sub) -> None:
    """`firstnet serve [RUN ...]`: the drawing page, the lab and the JSON API; `firstnet lab`: the
    same server, opened at the lab in the browser, with or without trained runs."""
    add_server_options(options.add_command(sub, "serve", run_server).add_argument)
    lab = options.add_command(sub, "lab", run_lab)
    add_server_options(lab.add_argument)
    lab.add_argument("--no-browser", action="store_true", help="do not open the lab in a browser")


def add_server_options(add) -> None:
    runs = "run directories to serve (default: the newest finished run of each model kind in"
    add("runs", type=Path, nargs="*", metavar="RUN", help=runs + " --runs-dir)")
    add("--runs-dir", type=Path, default=Path("runs"), help="where to look when no RUN is given")
    host = "address to listen on (0.0.0.0 exposes it to the network)"
    add("--host", default="127.0.0.1", help=host)
    add("--port", type=int, default=8000, help="port to listen on (0: any free port)")
    timeout = "seconds a client has to send a whole request before its connection is closed"
    add("--request-timeout", type=float, default=RECEIPT_SECONDS, help=timeout)
    lifetime = "seconds a connection stays open in all (a request in hand is answered first)"
    add("--connection-lifetime", type=float, default=LIFETIME_SECONDS, help=lifetime)
    most = (
        "connections at once; when all are open, a new request closes those that waited longest on"
        " their clients (503 when every one has a request in hand)"
    )
    add("--max-connections", type=int, default=MAX_CONNECTIONS, help=most)
    log = "uvicorn's log level; info also logs every request"
    add("--log-level", default="warning", choices=("debug", "info", "warning", "error"), help=log)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a taken port is one clear error (port 0: any free
    port; `run_server` has checked the range)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ServeError(f"cannot use --host {host}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port} ({error.strerror}); pick another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_options(args) -> None:
    """Each option in its range, before the models load: a typo is told at once, in one line."""
    if not 0 <= args.port <= 65535:
        raise ServeError(f"--port must lie in 0..65535 (0: any free port), got {args.port}")
    for flag, seconds in (
        ("--request-timeout", args.request_timeout),
        ("--connection-lifetime", args.connection_lifetime),
    ):
        if not 0 < seconds <= LONGEST_SECONDS:  # NaN fails too
            raise ServeError(
                f"{flag} must be over 0 and at most {LONGEST_SECONDS:.0f} seconds, got {seconds:g}"
            )
    if args.max_connections < 1:
        raise ServeError(f"--max-connections must be at least 1, got {args.max_connections}")


def run_lab(args) -> int:
    """the lecture live in the browser: train a network and watch its decision regions move"""
    return run_server(args, lab=True)


def run_server(args, lab: bool = False) -> int:
    """a web page to draw digits on and a JSON API, over trained runs; the lab at /lab"""
    check_options(args)
    import torch
    import uvicorn

    from firstnet.lab.routes import add_lab
    from firstnet.serve.app import SECURITY_HEADERS, allowed_hosts, create_app
    from firstnet.serve.protocol import with_limits
    from firstnet.serve.registry import load_all

    # One thread per forward pass: requests arrive one at a time per core, and threads only add
    # latency.
    torch.set_num_threads(1)
    with err.status("Loading models..."):
        run_dirs = [trained_run(run, args.runs_dir) for run in args.runs]
        try:
            models, warnings = load_all(run_dirs, args.runs_dir)
        except ServeError as none:  # the lab needs no trained run
            if not lab or run_dirs:
                raise
            models, warnings = [], [f"{none}; until then the drawing page has no model"]
    # the models' many long-lived objects: keep them out of every garbage collection (latency)
    gc.freeze()
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    for model in models:
        accuracy = (
            f"{100 * model.test_acc:.2f}% test accuracy"
            if model.test_acc is not None
            else "no metrics"
        )
        out.print(f"serving {model.kind:6} {model.run_dir} ({accuracy})")
    url = f"http://{shown}:{port}/"
    out.print(
        f"Open {url} to draw a digit, {url}lab to train one live; API schema at /openapi.json. "
        "Ctrl-C stops.",
        soft_wrap=True,
    )
    app = create_app(models, hosts=allowed_hosts(args.host))
    add_lab(app, args.runs_dir)
    if lab and not args.no_browser:
        webbrowser.open(f"{url}lab")
    config = uvicorn.Config(
        app,
        http=with_limits(args.request_timeout, args.connection_lifetime, args.max_connections),
        # beyond it: 503, not an ever longer queue; uvicorn counts the connection that asks
        limit_concurrency=args.max_connections + 1,
        headers=SECURITY_HEADERS,
        log_level=args.log_level,
        access_log=args.log_level == "info",
        timeout_graceful_shutdown=2,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
