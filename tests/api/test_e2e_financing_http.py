"""End to end over real HTTP on anvil and PostgreSQL (the gateway a separate process): the notes go
down three tiers, tier 3 discounts its piece with the bank (delivery versus payment), the clock
passes maturity, the core enterprise settles the root, and every holder's settlement-token balance is
what this test works out by hand; then `credchain reconcile` finds SQL and the chain equal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from service.api.problems import ERRORS_BASE
from service.ledger.chain import Chain
from tests.api.test_e2e_http import (  # noqa: F401  (fixtures)
    FACE,
    Http,
    _write_ok,
    gateway,
    reconcile_gateway,
)

pytestmark = pytest.mark.integration

DAY = 86_400
BANK_DEPOSIT = 1_000_000
CORE_DEPOSIT = 2_000_000
RATE = "0.05"
TENOR_DAYS = 90


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def _balance(http: Http, who: str, member_id: str) -> int:
    account = http.ok(who, "GET", f"/v1/settlement-tokens/USD/accounts/{member_id}")
    return int(account["balance"])


def test_discount_and_settlement_over_http(gateway: dict[str, Any]) -> None:  # noqa: F811
    http = Http(gateway["base"])
    http.keys["operator"] = gateway["operator_key"]
    chain: Chain = gateway["chain"]

    ids: dict[str, str] = {}
    cast = {
        "core": ["core_enterprise"],
        "bank": ["financier"],
        "tier1": ["supplier"],
        "tier2": ["supplier"],
        "tier3": ["supplier"],
        "auditor": ["auditor"],
    }
    for name, roles in cast.items():
        member = http.ok("operator", "POST", "/v1/members", {"name": name, "roles": roles}, status=201)
        http.keys[name], ids[name] = member["api_key"], member["id"]
    http.ok("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    http.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "5000000"})

    # the settlement bank's token: registered, deposits tokenized, the payers allow the ledger
    registered = http.ok("operator", "POST", "/v1/settlement-tokens", {"currency": "USD"}, status=201)
    assert registered["indexed"] is True and registered["token"]["currency"] == "USD"
    for who, amount in (("bank", BANK_DEPOSIT), ("core", CORE_DEPOSIT)):
        body = {"member": ids[who], "amount": str(amount), "reference": f"deposit {who}"}
        moved = http.ok("operator", "POST", "/v1/settlement-tokens/USD/deposits", body)
        assert moved["account"]["balance"] == str(amount)
        allowed = http.ok(who, "PUT", "/v1/settlement-tokens/USD/allowance", {"amount": str(amount)})
        assert allowed["account"]["ledger_allowance"] == str(amount)

    # issue to tier 1, who splits to tier 2, who splits to tier 3
    maturity = chain.now() + TENOR_DAYS * DAY
    issued = http.ok(
        "core",
        "POST",
        "/v1/notes",
        {
            "to": ids["tier1"],
            "amount": str(FACE),
            "currency": "USD",
            "maturity": _iso(maturity),
            "document_hash": "0x" + uuid.uuid4().hex * 2,
        },
        status=201,
    )
    (root,) = issued["note_ids"]
    _write_ok(http.ok("tier1", "POST", f"/v1/notes/{root}/accept"))
    first = http.ok(
        "tier1",
        "POST",
        f"/v1/notes/{root}/split",
        {"parts": [{"to": ids["tier1"], "amount": "400000"}, {"to": ids["tier2"], "amount": "600000"}]},
    )
    kept1, piece2 = first["note_ids"]
    second = http.ok(
        "tier2",
        "POST",
        f"/v1/notes/{piece2}/split",
        {"parts": [{"to": ids["tier2"], "amount": "450000"}, {"to": ids["tier3"], "amount": "150000"}]},
    )
    kept2, piece3 = second["note_ids"]

    # the bank quotes tier 3's piece at 5% a year, ACT/360, for the 90 days to maturity:
    # discount = ceil(150,000 x 0.05 x 90 / 360) = 1,875 exactly, price 148,125
    value_date = datetime.fromtimestamp(chain.now(), UTC).date()
    days = (datetime.fromtimestamp(maturity, UTC).date() - value_date).days
    expected_discount = -(-150_000 * Fraction(RATE) * days // 360)
    price = 150_000 - int(expected_discount)
    assert days == TENOR_DAYS and price == 148_125
    quote = http.ok("bank", "GET", "/v1/quotes/discount", note=piece3, rate=RATE)
    assert quote["price"] == str(price)
    offer = http.ok(
        "bank",
        "POST",
        f"/v1/notes/{piece3}/discount-offers",
        {"rate": RATE, "deadline": _iso(chain.now() + 5 * DAY)},
        status=201,
    )["offer"]
    assert (
        offer["price"] == str(price) and offer["status"] == "open" and offer["holder_member"] == ids["tier3"]
    )

    # the offer is none of tier 2's business (404); tier 3's acceptance is the DvP
    refused = http.call("tier2", "POST", f"/v1/discount-offers/{offer['id']}/accept")
    assert refused.status_code == 404 and refused.json()["type"] == ERRORS_BASE + "offer-not-found"
    sold = http.ok("tier3", "POST", f"/v1/discount-offers/{offer['id']}/accept")
    assert sold["offer"]["status"] == "accepted" and sold["indexed"] is True
    assert sold["notes"][0]["holder_member"] == ids["bank"]
    assert _balance(http, "tier3", ids["tier3"]) == price
    assert _balance(http, "bank", ids["bank"]) == BANK_DEPOSIT - price

    # too early to settle; then the clock passes maturity and the core enterprise settles the root
    early = http.call("core", "POST", f"/v1/roots/{root}/settle")
    assert early.status_code == 409 and early.json()["type"] == ERRORS_BASE + "note-not-matured"
    chain.advance_time(TENOR_DAYS * DAY + 60)
    settled = http.ok("core", "POST", f"/v1/roots/{root}/settle")
    assert settled["notes_paid"] == 3 and settled["total_paid"] == str(FACE) and settled["indexed"] is True
    paid = {p["note_id"]: int(p["amount"]) for p in settled["payments"]}
    assert paid == {kept1: 400_000, kept2: 450_000, piece3: 150_000}

    # every balance, by hand
    expected = {
        "tier1": 400_000,
        "tier2": 450_000,
        "tier3": price,
        "bank": BANK_DEPOSIT - price + 150_000,
        "core": CORE_DEPOSIT - FACE,
    }
    assert {who: _balance(http, "auditor", ids[who]) for who in expected} == expected

    # the auditor sees every piece paid, and the obligor's credit freed
    tree = http.ok("auditor", "GET", f"/v1/notes/{piece3}/provenance")["tree"]
    leaves = {n["id"]: n for n in tree if n["status"] != "split"}
    assert set(leaves) == {kept1, kept2, piece3}
    assert all(n["status"] == "settled" and n["paid_amount"] == n["amount"] for n in leaves.values())
    assert any(e["name"] == "NoteDiscounted" for e in leaves[piece3]["events"])
    exposure = http.ok("auditor", "GET", "/v1/risk/exposure")["items"]
    assert next(r for r in exposure if r["obligor_member"] == ids["core"])["outstanding"] == "0"

    reconcile = reconcile_gateway(gateway)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert reconcile.stdout.strip().endswith(": 0 differences"), reconcile.stdout
