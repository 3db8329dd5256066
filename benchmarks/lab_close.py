"""How soon a lab job ends when its page goes: a page of `firstnet lab` plays for a second, its tab
is closed, and a new start is tried until the server accepts it (it refuses one while a page
follows a job). Needs Playwright and Debian's chromium (the dev extras; tests/browser.py). Usage:
    python benchmarks/lab_close.py [--closes 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the browser helpers

from tests.browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright, wait_for  # noqa: E402
from tests.serve_probe import free_port, start_and_stop, wait_until_healthy  # noqa: E402

from firstnet.device import cpu_name  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--closes", type=int, default=7)
    args = parser.parse_args()
    port, empty = free_port(), tempfile.mkdtemp()
    command = [sys.executable, "-m", "firstnet", "lab", "--no-browser", "--port", str(port),
               "--runs-dir", empty]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, seconds = f"http://127.0.0.1:{port}", []
    try:
        wait_until_healthy(url, server, seconds=60)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.closes):
                page = browser.new_page()
                page.goto(url + "/lab")
                wait_for(page, "document.querySelectorAll('#tiles canvas').length > 0")
                page.click("#play")
                time.sleep(1)
                page.close()
                closed = time.monotonic()
                while start_and_stop(url) == 409:
                    time.sleep(0.01)
                seconds.append(time.monotonic() - closed)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    shown = ", ".join(f"{1000 * s:.0f}" for s in seconds)
    print(f"{cpu_name()}: a new start accepted {shown} ms after the tab closed "
          f"(median {1000 * statistics.median(seconds):.0f} ms over {len(seconds)})")  # fmt: skip


if __name__ == "__main__":
    main()
