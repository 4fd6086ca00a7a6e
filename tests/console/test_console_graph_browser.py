"""The provenance graph, the risk dashboard, the alerts inbox and the webhook pages in a real browser
(Debian's chromium, headless, every request to a host other than the gateway's aborted): a tree is
built (issue, accept, split, split again, transfer) and settled after the dev clock moved past
maturity; the auditor opens the graph, finds every leaf settled, clicks a leaf (and reaches another
by keyboard) and sees its events and the highlighted path; the dashboard draws its charts; axe-core
finds no serious or critical violation on these pages. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from service.alerts.scheduler import evaluate_now
from service.api.app import create_app
from tests.anvil import free_port
from tests.api.financing import Fin, FinTemplate, fin_template_fixture, gateway_on  # noqa: F401
from tests.browser import chromium, loopback_only

pytestmark = pytest.mark.xdist_group("browser")  # one chromium at a time under `make test`
TIMEOUT_MS = 30_000
ROOT_DIR = Path(__file__).resolve().parents[2]
AXE = ROOT_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT_DIR / "docs" / "screenshots"
FACE = 1_000_000
DAY = 86_400

if not sys.platform.startswith("linux"):
    pytest.skip("the browser test drives Debian's chromium package: Linux only", allow_module_level=True)


@dataclass(frozen=True)
class Story:
    base: str
    fin: Fin
    root: str
    piece: str
    kept: str
    passed: str
    sold: str
    """The settled tree: root (core -> s1, 1,000,000) split by s1 into `kept` (s1, 600,000) and
    `piece` (s2, 400,000); s2 split `piece` into `passed` (s2, 250,000, then transferred to s3) and
    `sold` (s3, 150,000)."""


def _transfer(fin: Fin, who: str, note: str, to: str) -> None:
    answer = fin.post(who, f"/v1/notes/{note}/transfer", {"to": fin.ids[to]})
    assert answer.status_code == 200, answer.text


def _serve(fin: Fin) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(fin.context, manage_indexer=False),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
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


@pytest.fixture(scope="module")
def story(fin_template: FinTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with gateway_on(fin_template, tmp_path_factory.mktemp("console-graph")) as fin:
        root = fin.issue_to("s1", FACE, days=30)
        kept, piece = fin.split("s1", root, [("s1", 600_000), ("s2", 400_000)])
        passed, sold = fin.split("s2", piece, [("s2", 250_000), ("s3", 150_000)])
        _transfer(fin, "s2", passed, "s3")
        # live and overdue notes for the risk dashboard: due in 29 days, 14 days, and 16 days late
        fin.split("s1", fin.issue_to("s1", 3_000_000, days=60), [("s1", 2_000_000), ("s2", 1_000_000)])
        fin.issue_to("s3", 1_500_000, days=45, by="core2")
        fin.issue_to("s2", 800_000, days=10)
        answer = fin.post("operator", "/v1/dev/clock", {"seconds": 31 * DAY})  # the embedded dev clock
        assert answer.status_code == 200, answer.text
        answer = fin.post("core", f"/v1/roots/{root}/settle")
        assert answer.status_code == 200, answer.text
        evaluate_now(fin.context)
        answer = fin.post("s1", "/v1/subscriptions", {"url": "http://127.0.0.1:9/hook"})
        assert answer.status_code == 201, answer.text
        for base in _serve(fin):
            yield Story(base, fin, root, piece, kept, passed, sold)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def pages(browser: Browser) -> Iterator[tuple[Browser, list[str]]]:
    """The browser and the list collecting outside requests (aborted) and script errors of every
    page opened by `open_as`: empty at the end."""
    refused: list[str] = []
    yield browser, refused
    assert refused == []


def open_as(
    browser: Browser, refused: list[str], story: Story, who: str, *, bypass_csp: bool = False
) -> Page:
    """A new signed-in page of `who` (its own browser context). `bypass_csp`: for injecting axe-core."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=bypass_csp)
    page = context.new_page()

    page.route("**/*", loopback_only(refused))
    page.on("pageerror", lambda error: refused.append(f"script error: {error}"))
    page.goto(f"{story.base}/console/sign-in")
    page.fill("#f-api_key", story.fin.keys[who])
    page.click("form button[type=submit] >> nth=0")
    page.wait_for_url(re.compile(r".*/console/?$"), timeout=TIMEOUT_MS)
    return page


def open_graph(page: Page, story: Story, note: str) -> None:
    page.goto(f"{story.base}/console/provenance/{note}")
    page.wait_for_selector('#graph[data-drawn="1"]', timeout=TIMEOUT_MS)


def holdings(page: Page, selector: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        selector,
        "els => els.map(e => ({id: e.dataset.holding, status: e.dataset.status, leaf: e.dataset.leaf}))",
    )
    return found


def test_the_auditor_finds_every_leaf_of_the_settled_tree_settled(
    story: Story, pages: tuple[Browser, list[str]]
) -> None:
    page = open_as(*pages, story, "auditor")
    open_graph(page, story, story.root)
    leaves = holdings(page, '#graph g.node[data-leaf="true"]')
    assert sorted(leaf["id"] for leaf in leaves) == sorted(
        [f"{story.kept}.0", f"{story.passed}.1", f"{story.sold}.0"]
    )
    assert {leaf["status"] for leaf in leaves} == {"settled"}
    rows = holdings(page, '#tree-table tr[data-leaf="true"]')
    assert sorted(r["id"] for r in rows) == sorted(leaf["id"] for leaf in leaves)
    assert {r["status"] for r in rows} == {"settled"}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(f'#graph g.node[data-holding="{story.passed}.1"]').click()
    page.wait_for_selector('#panel-body [data-testid="node-events"]', timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "provenance-graph.png"), full_page=False)


def test_clicking_a_leaf_shows_its_events_and_highlights_the_path_from_the_root(
    story: Story, pages: tuple[Browser, list[str]]
) -> None:
    page = open_as(*pages, story, "auditor")
    open_graph(page, story, story.root)
    page.locator(f'#graph g.node[data-holding="{story.passed}.1"]').click()
    events = page.locator('#panel-body [data-testid="node-events"] tbody tr')
    names = events.locator("td:nth-child(1)").all_inner_texts()
    assert names[0] == "NoteSplit" and "NoteTransferred" in names and names[-1] == "NotePaid"
    hashes = events.locator("code.tx").all_inner_texts()
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", h) for h in hashes) and len(hashes) == len(names)
    assert all(t.endswith(" UTC") for t in events.locator("td:nth-child(4)").all_inner_texts())
    on_path = [h["id"] for h in holdings(page, "#graph g.node.on-path")]
    assert sorted(on_path) == sorted(
        [f"{story.root}.0", f"{story.piece}.0", f"{story.passed}.0", f"{story.passed}.1"]
    )
    assert page.locator("#graph path.edge.on-path").count() == 3


def test_a_node_is_selected_by_keyboard(story: Story, pages: tuple[Browser, list[str]]) -> None:
    page = open_as(*pages, story, "auditor")
    open_graph(page, story, story.root)
    page.locator(f'#graph g.node[data-holding="{story.kept}.0"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel-node", timeout=TIMEOUT_MS)
    assert story.kept in page.inner_text("#panel-node")
    assert (
        page.locator(f'#graph g.node[data-holding="{story.kept}.0"]').get_attribute("aria-pressed") == "true"
    )


def test_a_subtree_collapses_and_expands_from_the_keyboard(
    story: Story, pages: tuple[Browser, list[str]]
) -> None:
    page = open_as(*pages, story, "auditor")
    open_graph(page, story, story.root)
    before = page.locator("#graph g.node").count()
    page.locator(f'#graph g.node[data-holding="{story.piece}.0"]').focus()
    page.keyboard.press("-")
    assert page.locator("#graph g.node").count() == before - 3
    page.locator(f'#graph g.node[data-holding="{story.piece}.0"]').focus()
    page.keyboard.press("+")
    assert page.locator("#graph g.node").count() == before


def test_a_supplier_of_the_tree_sees_the_path_to_its_piece(
    story: Story, pages: tuple[Browser, list[str]]
) -> None:
    page = open_as(*pages, story, "s3")
    open_graph(page, story, story.sold)
    on_path = [h["id"] for h in holdings(page, "#graph g.node.on-path")]
    assert sorted(on_path) == sorted([f"{story.root}.0", f"{story.piece}.0", f"{story.sold}.0"])


def test_the_risk_dashboard_draws_its_charts_above_their_tables(
    story: Story, pages: tuple[Browser, list[str]]
) -> None:
    page = open_as(*pages, story, "auditor")
    page.goto(f"{story.base}/console/risk")
    for name in ("exposure", "ladder", "concentration", "ageing"):
        page.wait_for_selector(f'#chart-{name}[data-drawn="1"] canvas', timeout=TIMEOUT_MS)
    assert page.locator(".chart canvas").count() >= 4
    assert page.locator("section.card table").count() == 5
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "risk-dashboard.png"), full_page=True)


AXE_PAGES = {
    "graph": "/console/provenance/{root}",
    "risk": "/console/risk",
    "alerts": "/console/alerts?status=all",
    "subscriptions": "/console/subscriptions",
    "find": "/console/provenance",
}


@pytest.mark.parametrize("name", sorted(AXE_PAGES))
def test_axe_finds_no_serious_violation(story: Story, pages: tuple[Browser, list[str]], name: str) -> None:
    who = "s1" if name == "subscriptions" else "auditor"
    page = open_as(*pages, story, who, bypass_csp=True)
    page.goto(story.base + AXE_PAGES[name].format(root=story.root))
    if name == "graph":
        page.wait_for_selector('#graph[data-drawn="1"]', timeout=TIMEOUT_MS)
        page.locator("#graph g.node >> nth=1").click()
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run()).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`)"
    )
    assert violations == []
