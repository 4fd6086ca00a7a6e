"""Helpers of the evidence and receivable API tests: a supplier (s1) with trade records against
core, attested by three data providers, a credit limit from the bank, and settlement tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from service.api.tokens.service import deposit, setup_settlement_token
from tests.api.conftest import Gateway

DAY = 86_400
INVOICE_AMOUNT = 10_000_000
SUPPLIER_LIMIT = 50_000_000
BANK_DEPOSIT = 100_000_000
PROVIDERS = ("logistics", "lab", "tax")
KIND_ATTESTER = {"purchase_order": "tax", "delivery": "logistics", "acceptance": "lab", "invoice": "tax"}
POLICY: dict[str, Any] = {
    "min_score": 500,
    "min_attesters": 1,
    "four_way_match_required": True,
    "advance_rate_bps": 9000,
    "rate_bands": [{"min_score": 500, "annual_rate_bps": 800}, {"min_score": 700, "annual_rate_bps": 600}],
    "max_exposure_per_supplier": "50000000",
    "auto_approve": False,
    "offer_validity_seconds": 3600,
}


def doc(text: str) -> str:
    return "0x" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Trade:
    """s1's four records of one sale to core: kind -> document bytes and hash."""

    documents: dict[str, bytes] = field(default_factory=dict)

    def hash(self, kind: str) -> str:
        return "0x" + hashlib.sha256(self.documents[kind]).hexdigest()


def onboard_providers(gw: Gateway) -> None:
    for name in PROVIDERS:
        answer = gw.post("operator", "/v1/members", {"name": name, "roles": ["data_provider"]})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        gw.keys[name], gw.ids[name], gw.addresses[name] = body["api_key"], body["id"], body["address"]


def grant_supplier(gw: Gateway, supplier: str = "s1", amount: int = SUPPLIER_LIMIT) -> None:
    answer = gw.post(supplier, "/v1/credit-relationships", {"financier": gw.ids["bank"]})
    assert answer.status_code == 201, answer.text
    answer = gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids[supplier], "amount": str(amount)})
    assert answer.status_code == 200, answer.text


def fund_bank(gw: Gateway) -> None:
    setup_settlement_token(gw.context)
    deposit(gw.context, gw.ids["bank"], BANK_DEPOSIT, "deposit bank")
    allowance = {"amount": str(BANK_DEPOSIT)}
    answer = gw.client.put("/v1/settlement-tokens/USD/allowance", json=allowance, headers=gw.auth("bank"))
    assert answer.status_code == 200, answer.text


def register(
    gw: Gateway, kind: str, digest: str, amount: int = 0, who: str = "s1", buyer: str = "core"
) -> Any:
    body: dict[str, Any] = {"kind": kind, "document_hash": digest, "buyer": gw.ids[buyer]}
    if amount:
        body.update(amount=str(amount), currency="USD")
    return gw.post(who, "/v1/evidence", body)


def attest(gw: Gateway, who: str, digest: str) -> Any:
    return gw.post(who, f"/v1/evidence/{digest}/attestations")


def trade(gw: Gateway, label: str = "sale 1", amount: int = INVOICE_AMOUNT) -> Trade:
    """s1's order, delivery, acceptance and invoice, each registered and attested."""
    sale = Trade({kind: f"{label} {kind} document".encode() for kind in KIND_ATTESTER})
    for kind, attester in KIND_ATTESTER.items():
        answer = register(gw, kind, sale.hash(kind), amount if kind == "invoice" else 0)
        assert answer.status_code == 201, answer.text
        answer = attest(gw, attester, sale.hash(kind))
        assert answer.status_code == 201, answer.text
    return sale


def originate(gw: Gateway, sale: Trade, amount: int = INVOICE_AMOUNT, days: int = 90) -> Any:
    body = {
        "invoice_hash": sale.hash("invoice"),
        "supporting": [sale.hash(k) for k in ("purchase_order", "delivery", "acceptance")],
        "amount": str(amount),
        "maturity": gw.maturity(days),
    }
    return gw.post("s1", "/v1/receivables", body)


def ready(gw: Gateway) -> Trade:
    """Providers onboarded, s1 granted credit by the bank, one attested four-way trade."""
    onboard_providers(gw)
    grant_supplier(gw)
    return trade(gw)
