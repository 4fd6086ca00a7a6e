"""/docs and /redoc in a real browser (headless chromium, the system's: `make test` installs it),
with every request to a host other than the gateway's aborted: both pages render the operations
from the gateway alone."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from service.api.app import create_app
from tests.anvil import free_port
from tests.api.conftest import Gateway
from tests.browser import chromium, loopback_only

RENDER_TIMEOUT_MS = 30_000
pytestmark = pytest.mark.xdist_group("browser")  # one chromium at a time under `make test`

if not sys.platform.startswith("linux"):
    pytest.skip("the browser test drives Debian's chromium package: Linux only", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def served(gw: Gateway) -> Iterator[str]:
    """The gateway over `gw`'s context on a real port (no lifespan: `gw` runs it), its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(gw.context, manage_indexer=False),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,  # uvicorn's own would stop its loggers propagating, for later tests too
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def offline_page(browser: Browser) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A page whose requests to any host but the loopback are aborted (the first list collects
    them), and the Content-Security-Policy violations the browser reported (the second)."""
    context = browser.new_context()
    page = context.new_page()
    refused: list[str] = []
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.route("**/*", loopback_only(refused))
    try:
        yield page, refused, violations
    finally:
        context.close()


def test_swagger_ui_lists_every_operation_with_no_request_out(
    served: str, offline_page: tuple[Page, list[str], list[str]], gw: Gateway
) -> None:
    page, refused, violations = offline_page
    page.goto(f"{served}/docs")
    page.wait_for_selector(".opblock", timeout=RENDER_TIMEOUT_MS)
    operations = sum(len(ops) for ops in gw.client.get("/openapi.json").json()["paths"].values())
    assert page.locator(".opblock").count() == operations
    issue = page.locator(".opblock-post", has=page.locator('[data-path="/v1/notes"]'))
    assert issue.count() == 1 and issue.first.is_visible()
    assert page.locator('.opblock-get [data-path="/v1/notes/{note_id}/provenance"]').count() == 1
    assert page.locator("button.authorize").is_visible()
    assert refused == []
    assert violations == []


def test_swagger_ui_shows_the_issue_example_and_the_problem_answers(
    served: str, offline_page: tuple[Page, list[str], list[str]]
) -> None:
    page, refused, violations = offline_page
    page.goto(f"{served}/docs")
    page.wait_for_selector(".opblock", timeout=RENDER_TIMEOUT_MS)
    issue = page.locator(".opblock-post", has=page.locator('[data-path="/v1/notes"]')).first
    issue.locator(".opblock-summary").click()
    body = issue.locator(".body-param__example, .microlight").first
    body.wait_for(timeout=RENDER_TIMEOUT_MS)
    assert '"currency": "USD"' in body.inner_text()
    assert issue.locator("text=application/problem+json").count() >= 1
    assert refused == []
    assert violations == []


def test_redoc_lists_the_operations_with_no_request_out(
    served: str, offline_page: tuple[Page, list[str], list[str]]
) -> None:
    page, refused, violations = offline_page
    page.goto(f"{served}/redoc")
    page.wait_for_selector("[role=menuitem]", timeout=RENDER_TIMEOUT_MS)
    menu = page.locator("[role=menuitem]")
    assert menu.count() >= 20
    assert page.locator("[role=menuitem]", has_text="Issue").count() >= 1
    assert refused == []
    # ReDoc's own logo is on cdn.redoc.ly: the page's policy refuses it before any request
    assert all("https://cdn.redoc.ly/" in violation for violation in violations), violations
