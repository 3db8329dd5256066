"""`firstnet serve` as a real process on a free loopback port: the page driven in headless Chromium,
raw HTTP.

The browser tests need Debian's chromium (/usr/bin/chromium) and Playwright for Python (dev extras);
`.ci/run` installs chromium. Set FIRSTNET_SCREENSHOT=1 to write the screenshot to
docs/img/serve.png.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from firstnet.serve.inputs import image_from_bytes, model_input
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_browser, sync_playwright, wait_for
from tests.run_dirs import hostile_runs, untrained_run
from tests.serve_probe import free_port, server_holds, wait_until_healthy
from tests.strokes import draw, strokes_of

SCREENSHOT = Path(__file__).parents[1] / "docs" / "img" / "serve.png"
DEADLINE = 2.0  # seconds to send a whole request, for the server of these tests
LIFETIME, SLOTS = 2.0, 20  # --connection-lifetime and --max-connections of `limited_server`
PROCESSES: dict[str, int] = {}  # server URL -> its process id
LOGS: dict[str, Path] = {}  # server URL -> its log
PNG = "image/png"


@contextlib.contextmanager
def serving(run_dir: Path | list[Path], log: Path, *options: str):
    """`firstnet serve RUN... --port PORT OPTIONS` in a subprocess writing to `log`; yields its base
    URL, stops it afterwards and checks that it logged no traceback."""
    port = free_port()
    served = [str(run) for run in (run_dir if isinstance(run_dir, list) else [run_dir])]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "firstnet", "serve", *served, "--port", str(port)]
            + list(options),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(url, process, seconds=60)
        except (RuntimeError, TimeoutError) as err:
            pytest.fail(f"{err}: {log.read_text()}")
        assert f"Open {url}/" in log.read_text()
        PROCESSES[url], LOGS[url] = process.pid, log
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module")
def server(default_mlp_run, tmp_path_factory):
    """The server of most tests here: default limits but for a receipt deadline of DEADLINE."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with serving(default_mlp_run, log, "--request-timeout", str(DEADLINE)) as url:
        yield url


@pytest.fixture(scope="module")
def limited_server(default_mlp_run, tmp_path_factory):
    """A server with few slots and short-lived connections, for the tests of both."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    options = ["--request-timeout", str(DEADLINE), "--connection-lifetime", str(LIFETIME)]
    with serving(default_mlp_run, log, *options, "--max-connections", str(SLOTS)) as url:
        yield url


def raw_exchange(url: str, request: bytes, read_timeout: float = 10) -> bytes:
    """Send raw bytes to the server; return what it answers before closing or going quiet."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        # the server may answer and close before taking the whole body
        with contextlib.suppress(OSError):
            sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < content_length(
            answer
        ):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def content_length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def good_request(url: str) -> None:
    body = json.dumps({"image": [[0.0] * 10 + [1.0] * 8 + [0.0] * 10 for _ in range(28)]}).encode()
    request = urllib.request.Request(
        url + "/api/predict", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and 0 <= json.load(response)["class"] <= 9


def test_a_declared_huge_body_is_refused_before_it_is_sent(server):
    """Content-Length of 50 MB and no body at all: the 413 comes at once, the server never waits for
    the bytes."""
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    answer = raw_exchange(server, head)
    assert answer.startswith(b"HTTP/1.1 413") and b"over the limit of 1,000,000 bytes" in answer
    good_request(server)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty", b"GET /hea"],
    ids=["nothing", "part of the headers", "part of the request line"],
)
def test_a_client_that_stalls_is_cut_off_at_the_deadline(server, sent):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=4 * DEADLINE) as sock:
        start = time.monotonic()
        sock.sendall(sent)
        assert sock.recv(65536) == b""  # closed by the server, nothing answered
        waited = time.monotonic() - start
    # Cut at the deadline (the server's timer), not earlier, and long before the client's own
    # timeout of 4 x DEADLINE: a bound an idle server meets on any machine.
    assert DEADLINE * 0.9 <= waited < 2 * DEADLINE
    good_request(server)


def test_a_slow_answer_is_not_cut_off(server):
    """The deadline covers receiving a request, not answering it: a request sent in two halves
    within the deadline is answered."""
    body = json.dumps({"image": [[0.0] * 10 + [1.0] * 8 + [0.0] * 10 for _ in range(28)]}).encode()
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body[:100])
        time.sleep(DEADLINE / 2)
        sock.sendall(body[100:])
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_streamed_body_is_cut_off_at_the_limit(server):
    chunk = b"0" * 100_000
    # 1.5 MB, chunked
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(15)) + b"0\r\n\r\n"
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer = raw_exchange(server, head + body)
    assert answer.startswith(b"HTTP/1.1 413") and b"over the limit" in answer
    good_request(server)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def status_of(url: str) -> int | str:
    """The status of GET `url`, or what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return repr(error)


def test_idle_and_slow_connections_in_every_slot_leave_room_for_new_requests(limited_server):
    """Thirty connections that send nothing or part of a head, each opened again as soon as the
    server cuts it, against --max-connections 20: every page load and /healthz meanwhile is
    answered, the held connections that waited longest making room (before: each one a 503)."""
    host, port = address(limited_server)
    partial = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    stop, held, cut = threading.Event(), [], [0]

    def hold(k: int) -> socket.socket:
        sock = socket.create_connection((host, port))
        if k % 2:
            sock.sendall(partial)
        return sock

    held += [hold(k) for k in range(30)]

    def keep() -> None:  # a closed one reads as readable: open it again
        while not stop.is_set():
            for sock in select.select(held, [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    sock.recv(1024)
                index = held.index(sock)
                sock.close()
                held[index] = hold(index)
                cut[0] += 1

    keeper = threading.Thread(target=keep)
    keeper.start()
    try:
        time.sleep(0.3)
        paths = ["/healthz", "/"] * 10
        statuses = [status_of(limited_server + path) for path in paths]
    finally:
        stop.set()
        keeper.join(timeout=10)
        for sock in held:
            sock.close()
    assert statuses == [200] * 20, statuses
    assert cut[0] >= 20  # each request made room by closing held connections


def test_a_client_that_pipelines_and_never_reads_is_cut_off(server):
    """3,000 requests sent at once, none of the answers read: the server closes the connection at
    once, since at most 16 requests may wait behind the one being answered (before: it held the
    connection for as long as the client did not read, 300 s in the report)."""
    host, port = address(server)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its answers fill it soon
        sock.connect((host, port))
        sock.settimeout(10)
        with contextlib.suppress(OSError):  # the server may close before taking them all
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 3000)
        deadline = time.monotonic() + DEADLINE
        while server_holds(port, sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server_holds(port, sock)
    good_request(server)


def test_a_connection_is_closed_at_the_end_of_its_lifetime(limited_server):
    """A client that asks /healthz every 0.2 s on one keep-alive connection is neither idle nor
    slow; its connection is closed after --connection-lifetime (2 s here), an answer in hand sent
    first with Connection: close (before: kept for as long as the client went on)."""
    host, port = address(limited_server)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    start, asked = time.monotonic(), 0
    try:
        while time.monotonic() - start < 3 * LIFETIME:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            asked += 1
            if response.will_close:
                break
            time.sleep(0.2)
            if not server_holds(port, connection.sock):
                break
    finally:
        connection.close()
    lived = time.monotonic() - start
    assert LIFETIME * 0.9 <= lived < 2 * LIFETIME, f"closed after {lived:.1f} s, {asked} requests"
    assert status_of(limited_server + "/healthz") == 200


HUGE_HEAD = 1_000_000


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * HUGE_HEAD + b"\r\n\r\n",
         b"the request line and headers are over 65,536 bytes"),
        (b"GET /healthz?" + b"a" * HUGE_HEAD + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
         b"the request line and headers are over 65,536 bytes"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         + b"".join(b"X-%d: 1\r\n" % k for k in range(100)) + b"\r\n",
         b"more than 100 header fields"),
    ],
    ids=["a 1 MB header line", "a 1 MB request line", "101 header fields"],
)  # fmt: skip
def test_a_head_over_its_limits_is_a_431(server, head, words):
    """The head is counted before the parser sees it: refused at 64 kB, not parsed for seconds
    (a 91 MB header line held the event loop up to 5.9 s); at most 100 header fields."""
    answer = raw_exchange(server, head)
    assert answer.startswith(b"HTTP/1.1 431") and b'{"error":' in answer and words in answer
    big = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n"
    assert raw_exchange(server, big).startswith(b"HTTP/1.1 200")  # under the limit: answered
    good_request(server)


def test_a_body_past_the_limit_or_a_client_leaving_mid_body_logs_nothing(server):
    """A static file asked for with a chunked body over the limit (the answer has started when the
    limit is passed), and uploads cut off mid-body: answered or dropped without a line in the log
    (before: two tracebacks, 90 lines, for the first)."""
    log = LOGS[server]
    before = log.read_text()
    chunk = b"0" * 100_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(15)) + b"0\r\n\r\n"
    answer = raw_exchange(
        server,
        b"GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body,
    )
    assert answer.startswith(b"HTTP/1.1 200")
    host, port = address(server)
    part = b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    for kind, start in (
        (PNG, b""),
        ("application/json", b""),
        ("multipart/form-data; boundary=b", part),
    ):
        with socket.create_connection((host, port)) as sock:
            sock.sendall(
                f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: {kind}\r\n"
                "Content-Length: 500000\r\n\r\n".encode()
                + start
                + b"x" * 100_000
            )
            time.sleep(0.1)
    good_request(server)
    assert log.read_text() == before


def test_every_answer_carries_the_security_headers(server):
    """The page, a static file, the API, its errors and uvicorn's own 400: a Content-Security-Policy
    that lets the page run only its own files and be framed by no one, nosniff, no Referer (the
    browser tests run the page under it without a console error)."""
    asks = [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
    ]
    wanted = {
        b"content-security-policy": b"default-src 'self'; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'none'; object-src 'none'",
        b"x-content-type-options": b"nosniff",
        b"x-frame-options": b"DENY",
        b"referrer-policy": b"no-referrer",
    }
    statuses = []
    for ask in asks:
        head = raw_exchange(server, ask).split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        statuses.append(int(head[0].split()[1]))
        fields = dict(line.split(b": ", 1) for line in head[1:])
        assert {name: fields.get(name) for name in wanted} == wanted, ask
    assert statuses == [200, 200, 200, 404, 415, 400]


SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.48, 0.82)]]  # the top bar, then the long diagonal


def settled(page, label: str) -> None:
    """Waits until the page shows `label` and no answer is still coming (the panel's aria-busy)."""
    wait_for(
        page,
        "document.getElementById('result').getAttribute('aria-busy') === 'false'"
        f" && document.getElementById('prediction').textContent === {json.dumps(label)}",
    )


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def open_page(browser, url: str, width: int, height: int):
    """A fresh page at `url`; returns it and the list that collects its console errors."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    wait_for(page, "document.querySelectorAll('#model option').length > 0")
    return page, errors


@needs_browser
def test_drawing_a_seven_shows_7_its_probabilities_and_the_hidden_layers(server, browser, tmp_path):
    page, errors = open_page(browser, server, 1100, 720)
    draw(page, SEVEN)
    settled(page, "7")
    bars = page.locator("#bars .bar")
    assert bars.count() == 10
    assert page.locator("#bars .bar.top .digit").inner_text() == "7"
    heights = page.locator("#bars .fill").evaluate_all(  # one read: all ten of one answer
        "fills => fills.map(e => parseFloat(e.style.height) || 0)"
    )
    assert (
        heights[7] == max(heights) and heights[7] > 50 and sum(heights) == pytest.approx(100, abs=1)
    )
    assert page.locator("#strips canvas").count() == 2 and page.locator("#hidden").is_visible()
    seen = page.locator("#seen").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data)"
    )
    assert max(seen[0::4]) > 200 and min(seen[0::4]) == 0  # the 28x28 image shows ink on black
    page.wait_for_timeout(300)  # let the bar transition settle for the picture
    path = SCREENSHOT if os.environ.get("FIRSTNET_SCREENSHOT") else tmp_path / "serve.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    assert errors == []
    page.close()


@needs_browser
def test_live_answers_escape_undo_and_a_phone_sized_screen(server, browser):
    page, errors = open_page(browser, server, 390, 844)
    # nothing sticks out sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.2 * box["height"], steps=10)
    # live: an answer arrives while the button is still down
    wait_for(page, "document.getElementById('prediction').textContent !== '\u2013'")
    page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.8 * box["height"], steps=10)
    page.mouse.up()
    settled(page, "7")
    page.keyboard.press("Escape")
    assert page.locator("#prediction").inner_text() == "\u2013"
    draw(page, SEVEN)
    settled(page, "7")
    page.click("#undo")
    assert (
        page.locator("#prediction").inner_text() == "\u2013"
        and not page.locator("#hidden").is_visible()
    )
    assert errors == []
    page.close()


@needs_browser
def test_draw_clear_undo_and_draw_again_without_a_failed_request(server, browser):
    page, errors = open_page(browser, server, 1100, 720)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    prediction = "document.getElementById('prediction').textContent"
    for finish in ("#clear", "#undo", "#clear"):
        draw(page, SEVEN, steps=4)
        page.click(finish)  # at once, while the answer to the last strokes may still be on its way
        wait_for(page, f"{prediction} === '\u2013'")
        page.wait_for_timeout(400)
    draw(page, SEVEN)
    settled(page, "7")
    assert failed == [] and errors == []
    page.close()


# The first 40 MNIST test digits drawn stroke by stroke: how many each default model reads right.
# Before the photo preprocessing (issue 24) they were 38 and 39; it must not lose a digit of them.
DRAWN, HOLD = 40, {"mlp": 38, "cnn": 39}


@needs_browser
def test_mnist_digits_drawn_stroke_by_stroke_are_read_as_well_as_before(
    default_mlp_run, default_cnn_run, mnist, browser, tmp_path
):
    """Each digit is thinned to its strokes (tests/strokes.py) and drawn with the mouse once; the
    model it was drawn for answers, then the other one, chosen in the list, answers the same
    drawing; Escape clears the pad between two; no request fails."""
    with serving([default_mlp_run, default_cnn_run], tmp_path / "server.log") as url:
        page, errors = open_page(browser, url, 1100, 720)
        failed: list[str] = []
        page.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
        kinds = {o.get_attribute("value"): o.inner_text().split()[0]
                 for o in page.locator("#model option").all()}  # fmt: skip
        right, wrong = dict.fromkeys(kinds.values(), 0), {kind: [] for kind in kinds.values()}
        for index in range(DRAWN):
            draw(page, strokes_of(mnist.test_images[index]), steps=1)
            drawn_for = page.input_value("#model")  # the models take turns at the live answers
            for name in sorted(kinds, key=lambda name: name != drawn_for):
                if name != drawn_for:
                    page.select_option("#model", name)  # asks again about the same drawing
                wait_for(
                    page,
                    "document.getElementById('result').getAttribute('aria-busy') === 'false'"
                    " && document.getElementById('prediction').textContent !== '\u2013'"
                    " && document.getElementById('status').textContent"
                    f".includes({json.dumps(f'of run {name};')})",
                )
                read = page.locator("#prediction").inner_text()
                if read == str(mnist.test_labels[index]):
                    right[kinds[name]] += 1
                else:
                    wrong[kinds[name]].append(f"{mnist.test_labels[index]} read as {read}")
            page.keyboard.press("Escape")
            wait_for(page, "document.getElementById('prediction').textContent === '\u2013'")
        page.close()
    print(f"drawn digits read right of {DRAWN}: {right}; wrong: {wrong}")
    assert set(right) == set(HOLD) and all(right[kind] >= HOLD[kind] for kind in HOLD), wrong
    assert failed == [] and errors == []


@pytest.fixture
def server_pid(server) -> int:
    return PROCESSES[server]


def healthz_seconds(server: str, timeout: float) -> float:
    """The time one GET /healthz takes to answer 200."""
    start = time.monotonic()
    with urllib.request.urlopen(server + "/healthz", timeout=timeout) as response:
        assert response.status == 200
    return time.monotonic() - start


def largest_png() -> bytes:
    """The largest image the server decodes (2048x2048 RGBA), a digit-like bar on black: PNG makes
    it about 20 kB, far under the body limit."""
    pixels = np.zeros((2048, 2048, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[400:1600, 900:1150, :3] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_healthz_answers_during_the_largest_uploads(server, server_pid):
    """Two clients upload the largest image the server decodes, again and again, while a third asks
    /healthz. Decoding runs off the event loop, so /healthz never waits for a whole decode: its p99
    stays under half the median upload's time, measured in the same run (on the loop it would wait
    up to a whole decode), and under a second on any machine. The exact figures belong in
    benchmarks/serve_load.py."""
    body, done, uploads, failures = largest_png(), threading.Event(), [], []

    def upload() -> None:
        request = urllib.request.Request(server + "/api/predict", body, {"Content-Type": PNG})
        while not done.is_set():
            start = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    uploads.append((response.status, time.monotonic() - start))
            except OSError as error:  # an HTTP error status included: the test fails below
                failures.append(repr(error))
                return

    uploaders = [threading.Thread(target=upload) for _ in range(2)]
    for thread in uploaders:
        thread.start()
    latencies = []
    try:
        # at least 4 s and 4 uploads, while an uploader is alive; 120 s at most
        deadline, limit = time.monotonic() + 4, time.monotonic() + 120
        while (
            (time.monotonic() < deadline or len(uploads) < 4)
            and time.monotonic() < limit
            and any(thread.is_alive() for thread in uploaders)
        ):
            latencies.append(healthz_seconds(server, timeout=5))
            time.sleep(0.02)
    finally:
        done.set()
        for thread in uploaders:
            thread.join(timeout=30)
    assert failures == [] and len(uploads) >= 4  # the uploads were served meanwhile
    assert {status for status, _ in uploads} == {200}
    p99 = float(np.quantile(latencies, 0.99))
    upload_median = float(np.median([seconds for _, seconds in uploads]))
    shown = (
        f"/healthz p99 {1000 * p99:.1f} ms over {len(latencies)} requests; median upload "
        f"{1000 * upload_median:.0f} ms over {len(uploads)}"
    )
    print(shown)
    assert p99 < min(0.5 * upload_median, 1.0), shown
    peak = peak_memory_mb(server_pid)
    print(f"server peak RSS {peak:.0f} MB")
    assert peak < 500, f"server peak RSS {peak:.0f} MB"


def winding_png(side: int = 512, gap: int = 8) -> bytes:
    """About a kilobyte of PNG: one line winding across a side x side canvas, `gap` pixels
    between its rows; a labelling that spreads a label one pixel per pass took seconds on it."""
    pixels = np.full((side, side), 255, dtype=np.uint8)
    pixels[gap::gap, gap:-gap] = 0
    for k, row in enumerate(range(gap, side - gap, gap)):
        column = side - gap - 1 if k % 2 == 0 else gap
        pixels[row : row + gap + 1, column] = 0
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def post_and_leave(server: str, body: bytes) -> None:
    """A whole POST /api/predict sent over a raw socket, then the connection closed unread."""
    host, port = server.removeprefix("http://").split(":")
    head = (f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {PNG}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head + body)


def image_work_seconds(body: bytes) -> float:
    """The CPU the server spends on one such upload, decoding and preprocessing (median of 3)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model_input(image_from_bytes(body))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def test_a_flood_of_small_crafted_pngs_leaves_healthz_answering(server):
    """Twenty crafted PNGs of about a kilobyte each, sent at once by clients that leave without
    reading, again and again, while /healthz is asked: the image work runs off the event loop, so
    /healthz's p99 stays under 100 ms (a few ms here, at a third of the CPU too; on the loop it
    answered nothing for a minute)."""
    body, done = winding_png(), threading.Event()
    assert len(body) < 2000

    def attack() -> None:
        while not done.is_set():
            for _ in range(20):
                post_and_leave(server, body)
            time.sleep(0.05)

    attacker = threading.Thread(target=attack)
    attacker.start()
    latencies = []
    try:
        time.sleep(0.2)
        for _ in range(100):
            latencies.append(healthz_seconds(server, timeout=60))
            time.sleep(0.01)
    finally:
        done.set()
        attacker.join(timeout=30)
    p99 = float(np.quantile(latencies, 0.99))
    shown = f"/healthz p99 {1000 * p99:.1f} ms over {len(latencies)} requests"
    print(shown)
    assert p99 < 0.1, shown


def test_the_work_of_clients_that_have_gone_is_dropped(server):
    """Twenty of the largest uploads, each client gone at once, then one that waits: it is answered
    in the time of a few decodes, not behind the twenty (their work is dropped unstarted)."""
    body = largest_png()
    one = image_work_seconds(body)
    for _ in range(20):
        post_and_leave(server, body)
    time.sleep(0.2)  # the server has read them all and queued their work
    start = time.monotonic()
    request = urllib.request.Request(server + "/api/predict", body, {"Content-Type": PNG})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
    waited = time.monotonic() - start
    shown = f"answered in {1000 * waited:.0f} ms; one upload's image work {1000 * one:.0f} ms"
    print(shown)
    assert waited < 6 * one, shown


def peak_memory_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of a process so far, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def test_serve_starts_over_hostile_runs_and_names_each_skipped_one(tmp_path):
    cases = hostile_runs(tmp_path)
    good = untrained_run(tmp_path, "good-mlp", "mlp")
    port, log = free_port(), tmp_path / "server.log"
    run_dirs = [str(tmp_path / name) for name in cases] + [str(good)]
    with log.open("w") as output:
        command = [sys.executable, "-m", "firstnet", "serve", *run_dirs, "--port", str(port)]
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, seconds=60)
        with urllib.request.urlopen(url + "/api/models", timeout=10) as response:
            served = {model["name"] for model in json.load(response)["models"]}
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = " ".join(log.read_text().split())
    assert served == {"good-mlp", "fp16-on-cuda"}
    for name, words in cases.items():
        if words:
            assert f"skipped {tmp_path / name}:" in text and words in text, name
    assert "Traceback" not in text


@needs_browser
def test_a_fashion_mnist_model_takes_an_uploaded_picture_and_names_its_class(
    default_mlp_run, fashion, browser, tmp_path
):
    """The page with an MNIST and a Fashion-MNIST run: choosing the latter says which classes it
    knows; a picture chosen with the file input is answered by class name."""
    from firstnet.cli import main
    from firstnet.data.datasets import DATASETS

    args = ["train", "--dataset", "fashion-mnist", "--model", "linear", "--epochs", "2"]
    limits = ["--train-limit", "6000", "--runs-dir", str(tmp_path / "runs"), "--name", "clothes"]
    assert main([*args, *limits]) == 0
    trouser = fashion.test_images[int(np.flatnonzero(fashion.test_labels == 1)[0])]
    picture = tmp_path / "trouser.jpg"  # not a PNG: the page converts what the browser reads
    Image.fromarray(np.kron(trouser, np.ones((8, 8), np.uint8))).save(picture)
    port, log = free_port(), tmp_path / "server.log"
    command = [sys.executable, "-m", "firstnet", "serve", str(default_mlp_run)]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, str(tmp_path / "runs" / "clothes"), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, seconds=60)
        page, errors = open_page(browser, url, 1100, 720)
        page.select_option("#model", "clothes")
        assert "This model knows Fashion-MNIST: T-shirt/top" in page.inner_text("#status")
        page.set_input_files("#upload", str(picture))
        names = list(DATASETS["fashion-mnist"].classes)
        wait_for(
            page,
            f"{json.dumps(names)}.includes(document.getElementById('prediction').textContent)",
        )
        answer = page.inner_text("#prediction")
        top = page.locator("#bars .bar.top").get_attribute("title")
        assert top.startswith(f"{answer}: ")  # the bar's title names the class
        assert answer == "Trouser", answer  # the most distinctive class of the set
        assert errors == []
        page.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text()
