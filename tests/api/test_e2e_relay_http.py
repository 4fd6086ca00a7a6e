"""End to end over real HTTP (anvil, PostgreSQL, `credchain init` + `credchain run`): a supplier
that holds its own key accepts and splits a note through /v1/relay, signing locally with
eth_account; the gateway relays and pays; `credchain reconcile` finds SQL and the chain equal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from service.ledger.artifacts import load_artifact
from service.ledger.chain import Chain
from tests.api.test_e2e_http import (  # noqa: F401  (fixtures)
    FACE,
    Http,
    _write_ok,
    gateway,
    reconcile_gateway,
)

pytestmark = pytest.mark.integration


def _signed(http: Http, account: LocalAccount, data: str) -> dict[str, Any]:
    """Prepare `data` as the self-custodied member, sign the typed data locally, return the relay body."""
    typed = http.ok("self", "POST", "/v1/relay/prepare", {"data": data})
    signature = Account.sign_message(encode_typed_data(full_message=typed), account.key).signature
    return {"request": typed["message"], "signature": "0x" + bytes(signature).hex()}


def test_self_custodied_supplier_relays_over_http(gateway: dict[str, Any]) -> None:  # noqa: F811
    http = Http(gateway["base"])
    http.keys["operator"] = gateway["operator_key"]
    chain: Chain = gateway["chain"]
    ids: dict[str, str] = {}
    for name, roles in {"core": ["core_enterprise"], "bank": ["financier"], "tier2": ["supplier"]}.items():
        member = http.ok("operator", "POST", "/v1/members", {"name": name, "roles": roles}, status=201)
        http.keys[name], ids[name] = member["api_key"], member["id"]
    account: LocalAccount = Account.create()
    own = {"name": "HSM Supplier", "roles": ["supplier"], "address": account.address}
    member = http.ok("operator", "POST", "/v1/members", own, status=201)
    assert member["custody"] == "self"
    http.keys["self"], ids["self"] = member["api_key"], member["id"]
    http.ok("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    http.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "5000000"})
    maturity = datetime.fromtimestamp(chain.now() + 90 * 86_400, UTC).isoformat().replace("+00:00", "Z")
    issue = {
        "to": ids["self"],
        "amount": str(FACE),
        "currency": "USD",
        "maturity": maturity,
        "document_hash": "0x" + uuid.uuid4().hex * 2,
    }
    (root,) = http.ok("core", "POST", "/v1/notes", issue, status=201)["note_ids"]

    ledger = chain.w3.eth.contract(address=gateway["contract"], abi=load_artifact("CreditNoteLedger").abi)
    accepted = http.ok(
        "self", "POST", "/v1/relay", _signed(http, account, ledger.encode_abi("accept", [int(root)]))
    )
    _write_ok(accepted)
    assert accepted["notes"][0]["status"] == "active"

    tier2 = http.ok("self", "GET", f"/v1/members/{ids['tier2']}")["address"]
    parts = [(account.address, FACE - 250_000), (tier2, 250_000)]
    split = http.ok(
        "self", "POST", "/v1/relay", _signed(http, account, ledger.encode_abi("split", [int(root), parts]))
    )
    _write_ok(split)
    assert split["note_ids"] == [root, str(int(root) + 1), str(int(root) + 2)]
    assert [n["holder_member"] for n in split["notes"][1:]] == [ids["self"], ids["tier2"]]
    assert chain.w3.eth.get_balance(account.address) == 0

    reconciled = reconcile_gateway(gateway)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
