"""The console in a real browser (Debian's chromium driven by Playwright; no browser download),
over one embedded demo gateway on a real port for the whole file: the story by clicking, from the
invoice to the settled tree, with the balances read on screen equal to the hand computation and
every leaf settled on the auditor's provenance graph; refusals shown beside their fields; another
member's note as the 404 page; signing out; a form without its CSRF token refused; axe-core (from
node_modules) on every page visited; no request leaves the loopback. Screenshots of the supplier's
notes and the bank's offer go to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from pydantic import SecretStr

from service.api.app import create_app
from service.api.context import AppContext
from service.console.auth.routes import DemoMember
from service.settings import Settings
from service.setup.embedded import embedded_gateway
from service.setup.seed import Credential
from tests.anvil import free_port
from tests.browser import chromium, loopback_only

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("browser")  # one chromium at a time under `make test`
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
DAY = 86_400
TIMEOUT_MS = 30_000
INVOICE = b"invoice INV-2026-0042: 1,000 gearboxes"

expect.set_options(timeout=15_000)  # a busy 2-core machine: answers can take seconds

if not sys.platform.startswith("linux"):
    pytest.skip("the browser test drives Debian's chromium package: Linux only", allow_module_level=True)


@dataclass
class Demo:
    url: str
    context: AppContext
    members: dict[str, Credential]
    refused: list[str] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The embedded demo (the consortium `credchain run` seeds) behind a gateway on a real port."""
    var = tmp_path_factory.mktemp("console")
    settings = Settings(
        rpc_url="embedded",
        database_url=f"sqlite:///{var / 'demo.sqlite'}",
        master_secret=SecretStr("demo-secret"),
        key_kdf_iterations=1,
        alert_interval_seconds=60.0,
        webhook_poll_seconds=0.5,
    )
    context, _key, seeded = embedded_gateway(settings, seed=True, credentials_path=var / "credentials.json")
    assert seeded is not None
    members = [DemoMember(c.id, c.name, tuple(c.roles)) for c in seeded.values()]
    app = create_app(context, console_demo=members)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.05)
    try:
        yield Demo(f"http://127.0.0.1:{port}", context, seeded)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        context.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def check_accessibility(demo: Demo, page: Page) -> None:
    """axe-core on the page as it stands: serious and critical violations are kept by path."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;0")
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + " " + v.nodes.map(n => n.target.join(" ")).join(", "))"""
    )
    demo.violations[urlsplit(page.url).path] = list(found)


@dataclass
class Member:
    demo: Demo
    context: BrowserContext
    page: Page

    def go(self, path: str) -> Page:
        self.page.goto(self.demo.url + path)
        check_accessibility(self.demo, self.page)
        return self.page


def sign_in(demo: Demo, browser: Browser, who: str) -> Member:
    """A browser of its own for `who`, signed in by picking it among the demo members."""
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/*", loopback_only(demo.refused))
    page.goto(demo.url + "/console/sign-in")
    check_accessibility(demo, page)
    pick(page.get_by_label("Demo member", exact=True), demo.members[who].name)
    page.get_by_role("button", name="Sign in as this member").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(demo.members[who].name)
    return Member(demo, context, page)


def pick(select: Locator, name: str) -> None:
    """Choose the option of `select` whose text starts with `name` (a member picker)."""
    value = select.locator("option", has_text=name).first.get_attribute("value")
    assert value, f"no option {name!r}"
    select.select_option(value=value)


def note_id_of(page: Page) -> str:
    found = re.search(r"/console/notes/(\d+)", page.url)
    assert found is not None, page.url
    return found.group(1)


def split(page: Page, parts: list[tuple[str, str]]) -> None:
    for i, (name, amount) in enumerate(parts):
        pick(page.locator(f"#f-parts-{i}-to"), name)
        page.locator(f"#f-parts-{i}-amount").fill(amount)


def balance(member: Member) -> str:
    member.go("/console/")
    return member.page.get_by_test_id("balance-USD").inner_text()


def test_the_story_by_clicking_from_invoice_to_settled_tree(demo: Demo, browser: Browser) -> None:
    acme = sign_in(demo, browser, "acme")
    maturity = (datetime.fromtimestamp(demo.context.chain.now(), UTC) + timedelta(days=120)).date()

    # Acme issues USD 1,000,000.00 to Gearbox against an invoice hashed in the browser
    page = acme.go("/console/issue")
    pick(page.get_by_label("Supplier", exact=True), "Gearbox Ltd")
    page.get_by_label("Amount", exact=True).fill("1,000,000.00")
    page.get_by_label("Maturity date", exact=True).fill(maturity.isoformat())
    page.get_by_label("Invoice file", exact=True).set_input_files(
        {"name": "INV-2026-0042.pdf", "mimeType": "application/pdf", "buffer": INVOICE}
    )
    expect(page.get_by_label("Invoice hash (SHA-256)", exact=True)).to_have_value(
        "0x" + hashlib.sha256(INVOICE).hexdigest()
    )
    page.get_by_label("Reference", exact=True).fill("INV-2026-0042")
    page.get_by_role("button", name="Issue the note").click()
    expect(page.get_by_test_id("note-status")).to_have_text("awaiting answer")
    root = note_id_of(page)

    # Bearings cannot open it: the 404 page
    bearings = sign_in(demo, browser, "bearings")
    bearings.go(f"/console/notes/{root}")
    expect(bearings.page.get_by_role("heading", name="Not found")).to_be_visible()

    # Gearbox accepts, keeps 600,000.00 and passes 400,000.00 to Castings
    gearbox = sign_in(demo, browser, "gearbox")
    page = gearbox.go("/console/notes")
    page.get_by_role("button", name=f"Accept note {root}").click()
    page = gearbox.go(f"/console/notes/{root}")
    split(page, [("Gearbox Ltd", "600,000.00"), ("Castings Co", "400,000.00")])
    expect(page.locator(".sum-check")).to_have_text("The parts add up to the note.")
    page.get_by_role("button", name="Split", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("The note is split.")
    castings_piece = page.locator("li", has_text="Castings Co").locator("a").first.inner_text()
    page = gearbox.go("/console/notes")
    page.screenshot(path=str(SCREENSHOTS / "supplier-notes.png"), full_page=True)

    # Castings tries an over-split, then a bad amount: each refusal beside its field
    castings = sign_in(demo, browser, "castings")
    page = castings.go(f"/console/notes/{castings_piece}")
    split(page, [("Castings Co", "250,000.00"), ("Bearings Inc", "200,000.00")])
    expect(page.locator(".sum-check")).to_contain_text("Still to allocate: -50,000.00")
    page.get_by_role("button", name="Split", exact=True).click()
    expect(page.locator('[data-error-for="parts"]')).to_contain_text("do not add up")
    check_accessibility(demo, page)
    split(page, [("Castings Co", "250,000.005"), ("Bearings Inc", "150,000.00")])
    page.get_by_role("button", name="Split", exact=True).click()
    expect(page.locator('[data-error-for="parts.0.amount"]')).to_have_text("USD has 2 decimals at most.")
    expect(page.locator("#f-parts-0-amount")).to_have_attribute("aria-invalid", "true")
    split(page, [("Castings Co", "250,000.00"), ("Bearings Inc", "150,000.00")])
    page.get_by_role("button", name="Split", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("The note is split.")
    leaf = page.locator("li", has_text="Bearings Inc").locator("a").first.inner_text()

    # First Bank quotes 4.5 % (ACT/360, 120 days) and offers; the computation is on screen
    bank = sign_in(demo, browser, "bank")
    page = bank.go(f"/console/notes/{leaf}")
    page.get_by_role("link", name="Quote and make an offer").click()
    page.wait_for_load_state("load")  # htmx has processed the page: typing asks for the quote
    page.get_by_label("Annual discount rate (%)", exact=True).fill("4.5")
    computation = page.get_by_test_id("quote-computation")
    expect(computation).to_contain_text("= 120 actual days (ACT/360)")
    expect(computation).to_contain_text("⌈USD 150,000.00 × 0.045 × 120 / 360⌉ = USD 2,250.00")  # noqa: RUF001
    expect(computation).to_contain_text("= USD 147,750.00")
    check_accessibility(demo, page)
    page.screenshot(path=str(SCREENSHOTS / "bank-offer.png"), full_page=True)
    page.get_by_label("Offer valid for (days)", exact=True).fill("3")
    page.get_by_role("button", name="Make the offer").click()
    expect(page.get_by_role("status")).to_have_text("The offer is made.")

    # Bearings sees the quote explained and accepts: delivery versus payment
    page = bearings.go("/console/offers")
    offer = page.locator("article", has_text=f"{leaf}")
    expect(offer.get_by_test_id("offer-price")).to_have_text("USD 147,750.00")
    expect(offer.get_by_test_id("quote-computation")).to_contain_text("USD 2,250.00")
    offer.get_by_role("button", name="Accept and receive USD 147,750.00").click()
    expect(page.get_by_role("status")).to_contain_text("The offer is accepted")
    assert balance(bearings) == "USD 147,750.00"

    # the operator moves the demo chain's clock 121 days on
    operator = sign_in(demo, browser, "operator")
    page = operator.go("/console/members")
    page.get_by_label("Days to move forward", exact=True).fill("121")
    page.get_by_role("button", name="Move the clock").click()
    expect(page.get_by_role("status")).to_contain_text("The chain's clock is now")

    # Acme settles the whole tree
    page = acme.go(f"/console/notes/{root}")
    page.get_by_role("button", name="Settle the whole tree").click()
    expect(page.get_by_role("status")).to_have_text("Every payable note of the tree is paid.")
    for piece in (castings_piece, leaf):
        page = acme.go(f"/console/notes/{piece}")
        expect(page.get_by_test_id("note-status")).to_contain_text(
            "split" if piece == castings_piece else "settled"
        )

    # the money where the hand computation puts it
    assert balance(gearbox) == "USD 600,000.00"
    assert balance(castings) == "USD 250,000.00"
    assert balance(bearings) == "USD 147,750.00"
    assert balance(bank) == "USD 10,002,250.00"  # 10,000,000.00 - 147,750.00 + 150,000.00
    assert balance(acme) == "USD 49,000,000.00"  # 50,000,000.00 - 1,000,000.00
    page = gearbox.go("/console/payments")
    expect(page.get_by_test_id("payment-amount").first).to_have_text("USD 600,000.00")

    # the auditor opens the provenance graph: every leaf of the tree settled (Gearbox's 600,000.00,
    # Castings' 250,000.00, and the piece First Bank bought from Bearings), the sold piece among them
    auditor = sign_in(demo, browser, "auditor")
    page = auditor.go(f"/console/provenance/{root}")
    expect(page.locator('#graph[data-drawn="1"]')).to_be_attached()
    leaves = page.locator('#graph g.node[data-leaf="true"]').evaluate_all(
        "els => els.map(e => ({note: e.dataset.note, status: e.dataset.status}))"
    )
    assert len(leaves) == 3 and {item["status"] for item in leaves} == {"settled"}, leaves
    assert leaf in {item["note"] for item in leaves}
    check_accessibility(demo, page)

    # a form without its CSRF token is refused; signing out ends the session
    page = gearbox.go(
        "/console/language?set=en&back=/console/credit-limits".replace("credit-limits", "notes")
    )
    page.evaluate(
        "() => document.querySelector('form[action=\"/console/sign-out\"] input[name=csrf_token]').remove()"
    )
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    cookie = next(c for c in gearbox.context.cookies() if c["name"] == "cc_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page = gearbox.go("/console/notes")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    replay = browser.new_context()
    replay.add_cookies([cookie])
    stale = replay.new_page()
    stale.goto(demo.url + "/console/notes")
    assert urlsplit(stale.url).path == "/console/sign-in"
    replay.close()

    # keyboard: the first Tab reaches the skip link, Enter moves to the main content
    page = acme.go("/console/calendar")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # the language switch: the same page in Simplified Chinese
    page.get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("到期日历")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    check_accessibility(demo, page)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maturity calendar")

    # every other page of each role, for axe-core
    visits = [
        (bearings, ["/console/evidence", "/console/payments", "/console/notes"]),
        (bank, ["/console/holdings", "/console/credit-limits", "/console/offers"]),
        (acme, ["/console/calendar", "/console/notes"]),
        (operator, ["/console/search?q=INV-2026-0042", f"/console/notes/{leaf}"]),
        (auditor, [f"/console/search?q={root}", "/console/notes"]),
    ]
    for member, paths in visits:
        for path in paths:
            assert member.go(path).title()
    for member in (acme, bearings, castings, bank, operator, auditor):
        member.context.close()
    assert demo.refused == []
    assert {path: found for path, found in demo.violations.items() if found} == {}
