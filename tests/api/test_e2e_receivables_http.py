"""End to end over real HTTP on anvil and PostgreSQL (the gateway a separate process): financing
without the buyer's confirmation. A supplier with no confirmed note registers an order, a delivery
attested by a logistics provider, an acceptance report attested by a quality lab and an invoice
attested by an invoice service; originates a receivable; the bank's policy offers at once; the
supplier accepts and is paid by DvP; at maturity the supplier pays the bank. Every balance is worked
out by hand, the buyer's credit limit and outstanding never change, and `credchain reconcile` finds
SQL and the chain equal."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from service.ledger.chain import Chain
from tests.api.test_e2e_http import (  # noqa: F401  (fixtures)
    Http,
    _write_ok,
    gateway,
    reconcile_gateway,
)

pytestmark = pytest.mark.integration

DAY = 86_400
FACE = 1_000_000
LIMIT = 5_000_000
BANK_DEPOSIT = 2_000_000
SUPPLIER_TOP_UP = 200_000
TENOR_DAYS = 90
# score (README's formula): volume 150*1M//100M = 1; three attested records 100*3//24 = 12; one
# buyer 15; three attesters 75; four-way 150; no history 100; exposure 100*4M//5M = 80; one buyer
# holds all 0; no velocity alert 75
SCORE = 1 + 12 + 15 + 75 + 150 + 100 + 80 + 0 + 75
# the policy: advance 90 % = 900,000; band from 500 at 8 %: 900,000 * 0.08 * 90 / 360 = 18,000
PRICE = 900_000 - 18_000


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def _balance(http: Http, member_id: str) -> int:
    return int(http.ok("auditor", "GET", f"/v1/settlement-tokens/USD/accounts/{member_id}")["balance"])


def _credit(http: Http, member_id: str) -> tuple[str, str]:
    rows = http.ok("auditor", "GET", "/v1/risk/exposure")["items"]
    row = next((r for r in rows if r["obligor_member"] == member_id), None)
    return ("0", "0") if row is None else (row["credit_limit"], row["outstanding"])


def test_evidence_backed_receivable_from_attestation_to_repayment_over_http(
    gateway: dict[str, Any],  # noqa: F811
) -> None:
    http = Http(gateway["base"])
    http.keys["operator"] = gateway["operator_key"]
    chain: Chain = gateway["chain"]
    ids: dict[str, str] = {}
    cast = {
        "acme": ["core_enterprise"],
        "bank": ["financier"],
        "gearbox": ["supplier"],
        "carrier": ["data_provider"],
        "lab": ["data_provider"],
        "invoicing": ["data_provider"],
        "auditor": ["auditor"],
    }
    for name, roles in cast.items():
        member = http.ok("operator", "POST", "/v1/members", {"name": name, "roles": roles}, status=201)
        http.keys[name], ids[name] = member["api_key"], member["id"]

    # the buyer has a credit line of its own (from the same bank), which this story never touches
    http.ok("acme", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    http.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["acme"], "amount": str(LIMIT)})
    buyer_credit = _credit(http, ids["acme"])
    assert buyer_credit == (str(LIMIT), "0")
    # the supplier's own limit, granted by the bank it approved
    http.ok("gearbox", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    http.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["gearbox"], "amount": str(LIMIT)})

    http.ok("operator", "POST", "/v1/settlement-tokens", {"currency": "USD"}, status=201)
    for who, amount in (("bank", BANK_DEPOSIT), ("gearbox", SUPPLIER_TOP_UP)):
        body = {"member": ids[who], "amount": str(amount), "reference": f"deposit {who}"}
        http.ok("operator", "POST", "/v1/settlement-tokens/USD/deposits", body)
    http.ok("bank", "PUT", "/v1/settlement-tokens/USD/allowance", {"amount": str(BANK_DEPOSIT)})

    policy = {
        "min_score": 500,
        "min_attesters": 1,
        "four_way_match_required": True,
        "advance_rate_bps": 9000,
        "rate_bands": [
            {"min_score": 500, "annual_rate_bps": 800},
            {"min_score": 700, "annual_rate_bps": 600},
        ],
        "max_exposure_per_supplier": str(LIMIT),
        "auto_approve": True,
        "offer_validity_seconds": 3600,
    }
    http.ok("bank", "PUT", "/v1/receivable-policy", policy)

    # the supplier's four records, three of them attested by the party that produced the evidence
    documents = {
        kind: f"ACME PO-7781 {kind}".encode() for kind in ("purchase_order", "delivery", "acceptance")
    }
    documents["invoice"] = b"ACME INV-2026-0042 USD 10,000.00"
    hashes = {kind: "0x" + hashlib.sha256(data).hexdigest() for kind, data in documents.items()}
    for kind, digest in hashes.items():
        body: dict[str, Any] = {"kind": kind, "document_hash": digest, "buyer": ids["acme"]}
        if kind == "invoice":
            body.update(amount=str(FACE), currency="USD")
        _write_ok(http.ok("gearbox", "POST", "/v1/evidence", body, status=201))
    for kind, attester in (("delivery", "carrier"), ("acceptance", "lab"), ("invoice", "invoicing")):
        attested = http.ok(attester, "POST", f"/v1/evidence/{hashes[kind]}/attestations", status=201)
        assert attested["evidence"]["attester_count"] == 1
    # a supplier cannot attest its own records; a data provider cannot originate
    own = http.call("gearbox", "POST", f"/v1/evidence/{hashes['purchase_order']}/attestations")
    assert own.status_code == 403
    maturity = chain.now() + TENOR_DAYS * DAY
    origination = {
        "invoice_hash": hashes["invoice"],
        "supporting": [hashes[k] for k in ("purchase_order", "delivery", "acceptance")],
        "amount": str(FACE),
        "maturity": _iso(maturity),
    }
    assert http.call("lab", "POST", "/v1/receivables", origination).status_code == 403
    # the bank verifies the invoice the supplier handed it
    verified = http.session.post(
        f"{gateway['base']}/v1/evidence/{hashes['invoice']}/verify",
        data=documents["invoice"],
        headers={"Authorization": f"Bearer {http.keys['bank']}", "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert verified.status_code == 200 and verified.json()["match"] is True

    # origination: the bank's policy offers at once
    made = http.ok("gearbox", "POST", "/v1/receivables", origination, status=201)
    _write_ok(made)
    receivable = made["receivable"]
    note_id = receivable["note_id"]
    assert receivable["obligor"] == receivable["holder"] and receivable["four_way_match"] is True
    score = http.ok("bank", "GET", f"/v1/members/{ids['gearbox']}/credit-score")
    assert score["score"] == SCORE
    [decision] = receivable["auto_offers"]
    assert (decision["status"], decision["price"]) == ("offered", str(PRICE))
    quote = http.ok("bank", "POST", f"/v1/receivables/{note_id}/financing-quote")
    assert quote["approved"] is True and quote["offer_id"] == decision["offer_id"]

    # the supplier accepts: the note to the bank, the price to the supplier, in one transaction
    sold = http.ok("gearbox", "POST", f"/v1/discount-offers/{decision['offer_id']}/accept")
    assert sold["offer"]["status"] == "accepted" and sold["notes"][0]["holder_member"] == ids["bank"]
    assert _balance(http, ids["gearbox"]) == SUPPLIER_TOP_UP + PRICE

    # a second receivable on the same invoice, or a confirmed note on it, is refused
    again = http.call("gearbox", "POST", "/v1/receivables", origination)
    assert again.status_code == 409 and again.json()["type"].endswith("/document-already-used")
    confirmed = {
        "to": ids["gearbox"],
        "amount": "1000",
        "currency": "USD",
        "maturity": _iso(maturity),
        "document_hash": hashes["invoice"],
    }
    doubled = http.call("acme", "POST", "/v1/notes", confirmed)
    assert doubled.status_code == 409 and doubled.json()["type"].endswith("/document-already-used")

    # at maturity the supplier (obligor of record) pays the bank
    chain.advance_time(TENOR_DAYS * DAY + 60)
    http.ok("gearbox", "PUT", "/v1/settlement-tokens/USD/allowance", {"amount": str(FACE)})
    paid = http.ok("gearbox", "POST", f"/v1/notes/{note_id}/settle")
    assert (paid["action"], paid["amount"], paid["remaining"], paid["indexed"]) == (
        "paid",
        str(FACE),
        "0",
        True,
    )
    assert paid["notes"][0]["status"] == "settled"

    expected = {
        "gearbox": SUPPLIER_TOP_UP + PRICE - FACE,
        "bank": BANK_DEPOSIT - PRICE + FACE,
        "acme": 0,
    }
    assert {who: _balance(http, ids[who]) for who in expected} == expected
    assert _credit(http, ids["acme"]) == buyer_credit  # never touched
    assert _credit(http, ids["gearbox"]) == (str(LIMIT), "0")
    history = http.ok("gearbox", "GET", f"/v1/members/{ids['gearbox']}/credit-score")
    repayment = next(f for f in history["factors"] if f["name"] == "repayment")
    assert repayment["value"] == "on_time=1 late=0 overdue=0 written_off=0"

    reconcile = reconcile_gateway(gateway)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert reconcile.stdout.strip().endswith(": 0 differences"), reconcile.stdout
