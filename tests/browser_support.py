"""Debian's headless Chromium for browser tests, and uvicorn serving an app in a thread."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach the internet at start.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
#: Browser tests write their screenshots only when this names a folder, e.g.
#: ``MAILER_TEST_SCREENSHOTS=docs/screenshots pytest -m browser`` refreshes the README's;
#: otherwise a test run leaves the checkout as it found it.
SCREENSHOTS_ENV = "MAILER_TEST_SCREENSHOTS"
# Read once, before any test changes the working directory or the environment.
SCREENSHOTS = Path(os.environ[SCREENSHOTS_ENV]).resolve() if os.environ.get(SCREENSHOTS_ENV) \
    else None


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium browser; skips the test (with the reason) where none is installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str, **options: Any) -> bytes:
    """Take a screenshot (PNG bytes); write it to $MAILER_TEST_SCREENSHOTS/``name`` if set."""
    data: bytes = page.screenshot(**options)
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(data)
    return data


class LiveServer:
    """uvicorn in a thread on 127.0.0.1:<port>, for the browser to talk to."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60  # a bound for a loaded machine
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
