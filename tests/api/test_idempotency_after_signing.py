"""The writes of evidence, receivables, funding and ledger settings keep the Idempotency-Key promise
when something fails after their transaction was signed and broadcast: the receipt poll fails (503
naming the transaction), the retry with the same key answers from the chain without sending
again, and a third send replays the stored answer. Issuance, deposits and the other note writes
have the same checks in `test_idempotency.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from service.ledger.errors import LedgerUnavailable
from tests.api.conftest import DAY, Gateway
from tests.api.receivables import attest, doc, onboard_providers, originate, ready, register
from tests.api.test_idempotency import KEY, broadcasts, problem, receipt_fails_once

__all__ = ["broadcasts"]  # the fixture, used by name


@dataclass(frozen=True)
class Call:
    who: str
    method: str
    path: str
    body: dict[str, Any] | None


def _register(gw: Gateway) -> Call:
    onboard_providers(gw)
    body = {"kind": "delivery", "document_hash": doc("delivery 7"), "buyer": gw.ids["core"]}
    return Call("s1", "POST", "/v1/evidence", body)


def _attest(gw: Gateway) -> Call:
    onboard_providers(gw)
    assert register(gw, "delivery", doc("delivery 8")).status_code == 201
    return Call("logistics", "POST", f"/v1/evidence/{doc('delivery 8')}/attestations", None)


def _revoke(gw: Gateway) -> Call:
    onboard_providers(gw)
    assert register(gw, "delivery", doc("delivery 9")).status_code == 201
    assert attest(gw, "logistics", doc("delivery 9")).status_code == 201
    return Call("logistics", "DELETE", f"/v1/evidence/{doc('delivery 9')}/attestations/mine", None)


def _originate(gw: Gateway) -> Call:
    sale = ready(gw)
    body = {
        "invoice_hash": sale.hash("invoice"),
        "supporting": [sale.hash(k) for k in ("purchase_order", "delivery", "acceptance")],
        "amount": "10000000",
        "maturity": gw.maturity(90),
    }
    return Call("s1", "POST", "/v1/receivables", body)


def _convert(gw: Gateway) -> Call:
    answer = originate(gw, ready(gw))
    assert answer.status_code == 201, answer.text
    note_id = answer.json()["receivable"]["note_id"]
    return Call("core", "POST", f"/v1/receivables/{note_id}/convert", None)


def _top_up(gw: Gateway) -> Call:
    return Call(
        "operator", "POST", "/v1/funding/top-ups", {"member_id": gw.ids["s2"], "amount_wei": str(10**15)}
    )


def _max_tenor(gw: Gateway) -> Call:
    return Call("operator", "PUT", "/v1/ledger-settings/max-tenor", {"seconds": 200 * DAY})


def _grace_period(gw: Gateway) -> Call:
    return Call("operator", "PUT", "/v1/ledger-settings/grace-period", {"seconds": 20 * DAY})


WRITES: dict[str, Callable[[Gateway], Call]] = {
    "register-evidence": _register,
    "attest-evidence": _attest,
    "revoke-attestation": _revoke,
    "originate-receivable": _originate,
    "convert-receivable": _convert,
    "max-tenor": _max_tenor,
    "grace-period": _grace_period,
}


def _send(gw: Gateway, call: Call, key: str) -> Any:
    headers = {**gw.auth(call.who), KEY: key}
    return gw.client.request(call.method, call.path, json=call.body, headers=headers)


@pytest.mark.parametrize("name", list(WRITES))
def test_a_retry_after_the_receipt_poll_failed_answers_from_the_chain_without_sending_again(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes], name: str
) -> None:
    call = WRITES[name](gw)
    sent_before = len(broadcasts)
    receipt_fails_once(gw, monkeypatch, LedgerUnavailable("connection reset by peer"))
    first = _send(gw, call, f"{name}-1")
    failed = problem(first, 503, "ledger-unavailable")
    assert len(failed["tx_hashes"]) == 1 and len(broadcasts) == sent_before + 1

    retry = _send(gw, call, f"{name}-1")
    assert retry.status_code in (200, 201), retry.text
    assert retry.json()["tx_hash"] == failed["tx_hashes"][0]
    again = _send(gw, call, f"{name}-1")
    assert again.json() == retry.json() and again.headers["idempotent-replayed"] == "true"
    assert len(broadcasts) == sent_before + 1


def test_a_top_up_whose_receipt_poll_failed_is_answered_from_the_chain_on_retry(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    eth = gw.chain.w3.eth
    wait = eth.wait_for_transaction_receipt

    def failing(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(eth, "wait_for_transaction_receipt", wait)
        raise requests.ConnectionError("connection reset by peer")

    monkeypatch.setattr(eth, "wait_for_transaction_receipt", failing)
    call = _top_up(gw)
    first = _send(gw, call, "top-up-1")
    failed = problem(first, 503, "ledger-unavailable")
    assert len(failed["tx_hashes"]) == 1

    retry = _send(gw, call, "top-up-1")
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == failed["tx_hashes"][0]
    assert retry.json()["balance_wei"] == str(gw.chain.balance(gw.addresses["s2"]))
    again = _send(gw, call, "top-up-1")
    assert again.json() == retry.json() and again.headers["idempotent-replayed"] == "true"
