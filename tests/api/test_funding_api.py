"""GET /v1/funding and POST /v1/funding/top-ups on the embedded chain: the operator's view and
top-ups; 403 for other members, 404 for an unknown member, 422 for a bad amount."""

from __future__ import annotations

import pytest
from eth_account import Account

from service.db.gateway_models import ApiMember
from tests.api.conftest import MEMBERS, Gateway


def _drain(gw: Gateway, who: str) -> str:
    """Send away (nearly) all the ether of `who`'s custodial account; its address."""
    with gw.context.session() as session:
        member = session.get(ApiMember, gw.ids[who])
        assert member is not None and member.encrypted_key is not None
        account = gw.context.keyring.account(member.address, member.encrypted_key)
    fee = 2 * 10**9
    tx = {
        "to": Account.create().address,
        "value": gw.chain.balance(account.address) - 21_000 * fee,
        "gas": 21_000,
        "maxFeePerGas": fee,
        "maxPriorityFeePerGas": fee,
        "nonce": gw.chain.w3.eth.get_transaction_count(account.address),
        "chainId": gw.chain.w3.eth.chain_id,
    }
    gw.chain.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    gw.context.ledger.nonces.forget(account.address)  # sent behind the gateway's back
    return str(account.address)


def test_the_operator_sees_the_funder_the_funding_and_the_relayer(gw: Gateway) -> None:
    answer = gw.get("operator", "/v1/funding")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert gw.chain.funder is not None and body["funder_address"] == gw.chain.funder.address
    assert int(body["funder_balance_wei"]) > 0 and body["funding_wei"] == str(gw.context.settings.funding_wei)
    assert int(body["low_balance_threshold_wei"]) > 0
    assert body["relayer_address"] and int(body["relayer_balance_wei"]) > 0
    assert body["low_accounts"] == []  # every member was funded when onboarded


def test_funding_lists_a_custodial_account_below_one_writes_cost(gw: Gateway) -> None:
    _drain(gw, "s1")
    body = gw.get("operator", "/v1/funding").json()
    assert [a["member_id"] for a in body["low_accounts"]] == [gw.ids["s1"]]


FUNDING_ROUTES = {("GET", "/v1/funding"), ("POST", "/v1/funding/top-ups")}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered)."""
NOT_THE_OPERATOR = list(MEMBERS)


@pytest.mark.parametrize("who", NOT_THE_OPERATOR)
def test_a_member_that_is_not_the_operator_may_not_see_funding(gw: Gateway, who: str) -> None:
    answer = gw.get(who, "/v1/funding")
    assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json"


def test_the_operator_tops_a_member_up_from_the_funder(gw: Gateway) -> None:
    before = gw.chain.balance(gw.addresses["s1"])
    answer = gw.post("operator", "/v1/funding/top-ups", {"member_id": gw.ids["s1"], "amount_wei": "12345"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["address"] == gw.addresses["s1"] and body["amount_wei"] == "12345"
    assert int(body["balance_wei"]) == before + 12345 == gw.chain.balance(gw.addresses["s1"])


def test_a_top_up_with_an_idempotency_key_is_sent_once(gw: Gateway) -> None:
    before = gw.chain.balance(gw.addresses["s2"])
    body = {"member_id": gw.ids["s2"], "amount_wei": 1000}
    first = gw.post("operator", "/v1/funding/top-ups", body, **{"Idempotency-Key": "top-up-s2"})
    again = gw.post("operator", "/v1/funding/top-ups", body, **{"Idempotency-Key": "top-up-s2"})
    assert first.status_code == again.status_code == 201
    assert (
        again.headers.get("Idempotent-Replayed") == "true"
        and again.json()["tx_hash"] == first.json()["tx_hash"]
    )
    assert gw.chain.balance(gw.addresses["s2"]) == before + 1000


def test_the_relayer_can_be_topped_up_by_name(gw: Gateway) -> None:
    relayer = gw.context.relayer()
    assert relayer is not None
    answer = gw.post("operator", "/v1/funding/top-ups", {"member_id": "relayer", "amount_wei": "7"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["address"] == relayer.address


@pytest.mark.parametrize("who", NOT_THE_OPERATOR)
def test_a_member_that_is_not_the_operator_may_not_top_up(gw: Gateway, who: str) -> None:
    answer = gw.post(who, "/v1/funding/top-ups", {"member_id": gw.ids[who], "amount_wei": "1"})
    assert answer.status_code == 403 and answer.json()["type"].endswith("/forbidden")


def test_a_top_up_for_an_unknown_member_is_404(gw: Gateway) -> None:
    answer = gw.post("operator", "/v1/funding/top-ups", {"member_id": "m_nobody", "amount_wei": "1"})
    assert answer.status_code == 404 and answer.json()["type"].endswith("/member-not-found")


@pytest.mark.parametrize("amount", ["0", "-1", "1.5", 1.5, "1e18", "", None, True, "9" * 32])
def test_a_top_up_with_a_bad_amount_is_422(gw: Gateway, amount: object) -> None:
    answer = gw.post("operator", "/v1/funding/top-ups", {"member_id": gw.ids["s1"], "amount_wei": amount})
    assert answer.status_code == 422 and answer.json()["type"].endswith("/invalid-request")


def test_a_custodial_member_without_gas_gets_insufficient_gas_naming_it(gw: Gateway) -> None:
    address = _drain(gw, "core")
    answer = gw.post("core", "/v1/notes", gw.issue_body(), **{"Idempotency-Key": "issue-no-gas"})
    assert answer.status_code == 503, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/insufficient-gas") and problem["member_id"] == gw.ids["core"]
    assert problem["address"] == address


def test_after_a_top_up_the_same_key_issues_the_note_once(gw: Gateway) -> None:
    _drain(gw, "core")
    body = gw.issue_body()
    key = {"Idempotency-Key": "issue-after-top-up"}
    assert gw.post("core", "/v1/notes", body, **key).status_code == 503
    topped = gw.post("operator", "/v1/funding/top-ups", {"member_id": gw.ids["core"], "amount_wei": 10**18})
    assert topped.status_code == 201, topped.text
    issued = gw.post("core", "/v1/notes", body, **key)
    assert issued.status_code == 201, issued.text
    again = gw.post("core", "/v1/notes", body, **key)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["note_ids"] == issued.json()["note_ids"]
    notes = gw.get("core", "/v1/notes", reference="invoice 42").json()
    assert len([n for n in notes["items"] if n["document_hash"] == body["document_hash"]]) == 1
