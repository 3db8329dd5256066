"""Headless Chromium for the browser tests (the page of `firstnet serve`, the report): Debian's
chromium driven by Playwright for Python (dev extras); `.ci/run` installs chromium."""

from __future__ import annotations

import shutil
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extras install it
    sync_playwright = None
needs_browser = pytest.mark.skipif(
    sync_playwright is None or not shutil.which(CHROMIUM),
    reason="needs Playwright for Python and Debian's chromium at /usr/bin/chromium",
)


def wait_for(page, expression: str, seconds: float = 15.0) -> None:
    """Poll the JavaScript `expression` in `page` until it is true. Playwright's wait_for_function
    compiles its predicate in the page, which a Content-Security-Policy without 'unsafe-eval'
    forbids (the pages of `firstnet serve` have one); page.evaluate is not bound by it."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {seconds:g} s: {expression}")
        page.wait_for_timeout(50)
