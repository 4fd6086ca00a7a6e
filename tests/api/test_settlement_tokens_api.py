"""Settlement tokens through the gateway: registration per currency, deposits and payouts by the
operator, accounts (balance and ledger allowance) and their visibility, a custodial member setting
its allowance, every 4xx of these endpoints, and the embedded demo's clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.financing import TOKENS, Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401

TOKEN_ROUTES = {
    ("GET", "/v1/settlement-tokens"),
    ("POST", "/v1/settlement-tokens"),
    ("POST", "/v1/settlement-tokens/{currency}/deposits"),
    ("POST", "/v1/settlement-tokens/{currency}/withdrawals"),
    ("GET", "/v1/settlement-tokens/{currency}/accounts/{member_id}"),
    ("PUT", "/v1/settlement-tokens/{currency}/allowance"),
    ("POST", "/v1/dev/clock"),
}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered)."""


def _put(fin: Fin, who: str, path: str, body: Any, **headers: str) -> Any:
    return fin.client.put(path, json=body, headers={**fin.auth(who), **headers})


def _account(fin: Fin, who: str, member: str) -> Any:
    return fin.get(who, f"/v1/settlement-tokens/USD/accounts/{fin.ids[member]}")


def _movement(fin: Fin, kind: str, member: str, amount: Any, who: str = "operator", **headers: str) -> Any:
    body = {"member": fin.ids[member], "amount": amount, "reference": f"{kind} of {member}"}
    return fin.post(who, f"/v1/settlement-tokens/USD/{kind}", body, **headers)


# ------------------------------------------------------------------ registry
def test_the_registered_token_is_listed_for_every_member(fin: Fin) -> None:
    assert fin.token is not None
    items = fin.get("s1", "/v1/settlement-tokens").json()["items"]
    assert [(t["currency"], t["token"]) for t in items] == [("USD", fin.token.address)]


def test_the_operator_registers_a_token_for_a_new_currency(fin: Fin) -> None:
    answer = fin.post("operator", "/v1/settlement-tokens", {"currency": "EUR"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["indexed"] is True and body["token"]["currency"] == "EUR"
    assert body["token"]["registered_block"] == body["block_number"]
    with fin.context.write_lock():
        assert fin.context.ledger.settlement_token("EUR") == body["token"]["token"]
    assert {t["currency"] for t in fin.get("auditor", "/v1/settlement-tokens").json()["items"]} == {
        "EUR",
        "USD",
    }


def test_registering_a_currency_twice_is_409(fin: Fin) -> None:
    problem(
        fin.post("operator", "/v1/settlement-tokens", {"currency": "USD"}),
        409,
        "settlement-token-already-set",
    )


def test_registering_needs_an_iso_currency_code(fin: Fin) -> None:
    problem(fin.post("operator", "/v1/settlement-tokens", {"currency": "usd"}), 422, "invalid-request")


def test_only_the_operator_registers_tokens(fin: Fin) -> None:
    problem(fin.post("bank", "/v1/settlement-tokens", {"currency": "EUR"}), 403, "forbidden")


# ------------------------------------------------------------------ deposits and payouts
def test_a_deposit_mints_tokens_to_the_member(fin: Fin) -> None:
    answer = _movement(fin, "deposits", "s1", "2500")
    assert answer.status_code == 200, answer.text
    account = answer.json()["account"]
    assert account == {
        "member": fin.ids["s1"],
        "address": fin.addresses["s1"],
        "currency": "USD",
        "balance": "2500",
        "ledger_allowance": "0",
    }
    assert fin.balance("s1") == 2500


def test_a_withdrawal_burns_the_members_tokens(fin: Fin) -> None:
    answer = _movement(fin, "withdrawals", "bank", 1_000)
    assert answer.status_code == 200, answer.text
    assert answer.json()["account"]["balance"] == str(TOKENS - 1_000)
    assert fin.balance("bank") == TOKENS - 1_000


def test_a_withdrawal_above_the_balance_is_409_and_burns_nothing(fin: Fin) -> None:
    body = problem(_movement(fin, "withdrawals", "s1", 1), 409, "insufficient-settlement-tokens")
    assert body["balance"] == "0" and body["needed"] == "1"


def test_a_deposit_to_a_suspended_member_is_409(fin: Fin) -> None:
    assert fin.post("operator", f"/v1/members/{fin.ids['s2']}/suspend").status_code == 200
    problem(_movement(fin, "deposits", "s2", 10), 409, "not-an-active-member")
    assert fin.balance("s2") == 0


def test_a_deposit_in_a_currency_without_a_token_is_409(fin: Fin) -> None:
    body = {"member": fin.ids["s1"], "amount": 1, "reference": "r"}
    problem(fin.post("operator", "/v1/settlement-tokens/EUR/deposits", body), 409, "settlement-token-not-set")


def test_a_deposit_to_an_unknown_member_is_404(fin: Fin) -> None:
    body = {"member": "m_nobody", "amount": 1, "reference": "r"}
    answer = fin.post("operator", "/v1/settlement-tokens/USD/deposits", body)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("amount", [0, -5, 1.5, "1e3", "12.00"])
def test_a_deposit_amount_must_be_a_positive_integer_of_minor_units(fin: Fin, amount: Any) -> None:
    problem(_movement(fin, "deposits", "s1", amount), 422, "invalid-request")


def test_a_deposit_needs_a_reference(fin: Fin) -> None:
    body = {"member": fin.ids["s1"], "amount": 1, "reference": ""}
    problem(fin.post("operator", "/v1/settlement-tokens/USD/deposits", body), 422, "invalid-request")


def test_only_the_operator_moves_deposits(fin: Fin) -> None:
    problem(_movement(fin, "deposits", "bank", 1, who="bank"), 403, "forbidden")
    problem(_movement(fin, "withdrawals", "bank", 1, who="auditor"), 403, "forbidden")


def test_a_retried_deposit_with_the_same_key_mints_once(fin: Fin) -> None:
    first = _movement(fin, "deposits", "s3", 700, **{"Idempotency-Key": "dep-1"})
    again = _movement(fin, "deposits", "s3", 700, **{"Idempotency-Key": "dep-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json() and fin.balance("s3") == 700


# ------------------------------------------------------------------ accounts and allowance
def test_a_member_reads_its_own_account(fin: Fin) -> None:
    account = _account(fin, "core", "core").json()
    assert account["balance"] == str(TOKENS) and account["ledger_allowance"] == str(TOKENS)


@pytest.mark.parametrize("who", ["auditor", "operator"])
def test_the_auditor_and_operator_read_any_account(fin: Fin, who: str) -> None:
    assert _account(fin, who, "bank").json()["balance"] == str(TOKENS)


def test_another_members_account_is_404(fin: Fin) -> None:
    problem(_account(fin, "s1", "bank"), 404, "not-found")


def test_an_account_in_a_currency_without_a_token_is_409(fin: Fin) -> None:
    answer = fin.get("s1", f"/v1/settlement-tokens/EUR/accounts/{fin.ids['s1']}")
    problem(answer, 409, "settlement-token-not-set")


def test_a_custodial_member_sets_its_ledger_allowance(fin: Fin) -> None:
    answer = _put(fin, "bank", "/v1/settlement-tokens/USD/allowance", {"amount": "1234"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["account"]["ledger_allowance"] == "1234"
    assert fin.token is not None
    with fin.context.write_lock():
        assert fin.token.allowance(fin.addresses["bank"], fin.context.ledger.address) == 1234


def test_an_allowance_of_zero_withdraws_it(fin: Fin) -> None:
    answer = _put(fin, "core", "/v1/settlement-tokens/USD/allowance", {"amount": 0})
    assert answer.status_code == 200 and answer.json()["account"]["ledger_allowance"] == "0"


def test_an_allowance_must_not_be_a_float(fin: Fin) -> None:
    problem(_put(fin, "bank", "/v1/settlement-tokens/USD/allowance", {"amount": 1.0}), 422, "invalid-request")


def test_a_self_custodied_member_cannot_have_the_gateway_set_its_allowance(fin: Fin) -> None:
    created = fin.post(
        "operator", "/v1/members", {"name": "HSM bank", "roles": ["financier"], "address": "0x" + "cd" * 20}
    )
    assert created.status_code == 201, created.text
    fin.keys["hsm"] = created.json()["api_key"]
    problem(_put(fin, "hsm", "/v1/settlement-tokens/USD/allowance", {"amount": 1}), 409, "self-custody")


def test_settlement_token_endpoints_need_an_api_key(fin: Fin) -> None:
    answer = fin.client.get("/v1/settlement-tokens")
    assert answer.status_code == 401 and answer.headers["content-type"].startswith("application/problem+json")


# ------------------------------------------------------------------ the embedded clock
def test_the_operator_moves_the_embedded_chains_clock(fin: Fin) -> None:
    with fin.context.write_lock():
        before = fin.chain.now()
    answer = fin.post("operator", "/v1/dev/clock", {"seconds": 86_400})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["block_time"] >= before + 86_400 and body["block_time_iso"].endswith("Z")


def test_only_the_operator_moves_the_clock(fin: Fin) -> None:
    problem(fin.post("core", "/v1/dev/clock", {"seconds": 60}), 403, "forbidden")


def test_the_clock_moves_forward_only(fin: Fin) -> None:
    problem(fin.post("operator", "/v1/dev/clock", {"seconds": 0}), 422, "invalid-request")


# ------------------------------------------------------------------ single-use references
def _move(fin: Fin, kind: str, member: str, amount: int, reference: str, **headers: str) -> Any:
    body = {"member": fin.ids[member], "amount": str(amount), "reference": reference}
    return fin.post("operator", f"/v1/settlement-tokens/USD/{kind}", body, **headers)


def test_a_deposit_with_a_reference_already_used_is_409_and_mints_nothing(fin: Fin) -> None:
    assert _move(fin, "deposits", "s1", 700, "BANK-REF-1").status_code == 200
    body = problem(_move(fin, "deposits", "s1", 700, "BANK-REF-1"), 409, "reference-already-used")
    assert body["field"] == "reference"
    assert fin.balance("s1") == 700


def test_a_reference_cannot_be_reused_with_another_member_or_amount(fin: Fin) -> None:
    assert _move(fin, "deposits", "s1", 700, "BANK-REF-1").status_code == 200
    problem(_move(fin, "deposits", "s2", 5, "BANK-REF-1"), 409, "reference-already-used")
    assert fin.balance("s2") == 0


def test_a_withdrawal_with_a_reference_already_used_is_409_and_burns_nothing(fin: Fin) -> None:
    assert _move(fin, "withdrawals", "bank", 1_000, "PAYOUT-1").status_code == 200
    problem(_move(fin, "withdrawals", "bank", 1_000, "PAYOUT-1"), 409, "reference-already-used")
    assert fin.balance("bank") == TOKENS - 1_000


def test_a_withdrawal_cannot_reuse_a_deposits_reference(fin: Fin) -> None:
    assert _move(fin, "deposits", "bank", 1_000, "BANK-REF-9").status_code == 200
    problem(_move(fin, "withdrawals", "bank", 1_000, "BANK-REF-9"), 409, "reference-already-used")
    assert fin.balance("bank") == TOKENS + 1_000


def test_a_retry_with_a_new_idempotency_key_and_a_used_reference_is_refused_before_signing(fin: Fin) -> None:
    assert _move(fin, "deposits", "s3", 700, "BANK-REF-2", **{"Idempotency-Key": "a"}).status_code == 200
    height = fin.client.app.state.context.chain.w3.eth.block_number  # type: ignore[attr-defined]
    answer = _move(fin, "deposits", "s3", 700, "BANK-REF-2", **{"Idempotency-Key": "b"})
    problem(answer, 409, "reference-already-used")
    assert fin.client.app.state.context.chain.w3.eth.block_number == height  # type: ignore[attr-defined]
    assert fin.balance("s3") == 700
