"""Shared by the browser tests: Debian's chromium driven by Playwright (no browser download; `make
test` installs the package as root), and a request router that lets a page reach the loopback only,
noting every other request it aborted."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = frozenset({"127.0.0.1", "localhost"})


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless chromium, closed after the block."""
    executable = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if executable is None:
        pytest.fail("no chromium: `make test` installs it as root (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def loopback_only(refused: list[str]) -> Callable[[Route], None]:
    """A `page.route` handler: requests to the loopback go on; any other web request is aborted and
    its URL added to `refused`."""

    def route(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname not in LOOPBACK:
            refused.append(url)
            route.abort()
        else:
            route.continue_()

    return route
