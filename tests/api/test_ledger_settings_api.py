"""/v1/ledger-settings/min-part-amounts: the operator sets the smallest note or split part of a
currency; every member reads it; issue and split refuse smaller amounts with a 422 before signing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Gateway
from tests.api.financing import problem

LEDGER_SETTINGS_ROUTES = {
    ("GET", "/v1/ledger-settings/min-part-amounts"),
    ("GET", "/v1/ledger-settings/min-part-amounts/{currency}"),
    ("PUT", "/v1/ledger-settings/min-part-amounts/{currency}"),
}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered)."""

MINIMUM = 10_000  # 100.00


def _set(gw: Gateway, currency: str, amount: Any, who: str = "operator", **headers: str) -> Any:
    path = f"/v1/ledger-settings/min-part-amounts/{currency}"
    return gw.client.put(path, json={"amount": amount}, headers={**gw.auth(who), **headers})


def _head(gw: Gateway) -> int:
    with gw.context.write_lock():
        return int(gw.chain.w3.eth.block_number)


def test_the_operator_sets_a_currencys_minimum_part_amount(gw: Gateway) -> None:
    answer = _set(gw, "USD", str(MINIMUM))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["indexed"] is True
    assert body["min_part_amount"] == {
        "currency": "USD",
        "amount": str(MINIMUM),
        "updated_block": body["block_number"],
    }
    with gw.context.write_lock():
        assert gw.context.ledger.min_part_amount("USD") == MINIMUM


def test_every_member_reads_the_minimum(gw: Gateway) -> None:
    assert _set(gw, "USD", MINIMUM).status_code == 200
    for who in ("core", "s1", "bank", "auditor"):
        answer = gw.get(who, "/v1/ledger-settings/min-part-amounts/USD")
        assert answer.status_code == 200, answer.text
        assert answer.json()["amount"] == str(MINIMUM)


def test_a_currency_never_set_has_no_minimum(gw: Gateway) -> None:
    answer = gw.get("s1", "/v1/ledger-settings/min-part-amounts/EUR")
    assert answer.json() == {"currency": "EUR", "amount": "0", "updated_block": None}


def test_the_list_names_every_currency_set(gw: Gateway) -> None:
    assert _set(gw, "USD", MINIMUM).status_code == 200
    assert _set(gw, "EUR", 500).status_code == 200
    items = gw.get("s1", "/v1/ledger-settings/min-part-amounts").json()["items"]
    assert [(i["currency"], i["amount"]) for i in items] == [("EUR", "500"), ("USD", str(MINIMUM))]


@pytest.mark.parametrize("who", ["core", "s1", "bank", "auditor"])
def test_only_the_operator_sets_a_minimum(gw: Gateway, who: str) -> None:
    problem(_set(gw, "USD", MINIMUM, who=who), 403, "forbidden")


def test_setting_a_minimum_needs_an_api_key(gw: Gateway) -> None:
    answer = gw.client.put("/v1/ledger-settings/min-part-amounts/USD", json={"amount": "1"})
    problem(answer, 401, "unauthorized")


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "U$D"])
def test_a_minimum_needs_an_iso_currency_code(gw: Gateway, currency: str) -> None:
    problem(_set(gw, currency, MINIMUM), 422, "invalid-currency")


@pytest.mark.parametrize("amount", [-1, 1.5, "1e3", str(2**80)])
def test_a_minimum_is_a_non_negative_integer_of_minor_units(gw: Gateway, amount: Any) -> None:
    problem(_set(gw, "USD", amount), 422, "invalid-request")


def test_a_retried_change_with_the_same_key_is_replayed(gw: Gateway) -> None:
    first = _set(gw, "USD", MINIMUM, **{"Idempotency-Key": "min-1"})
    again = _set(gw, "USD", MINIMUM, **{"Idempotency-Key": "min-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()


def test_issue_below_the_minimum_is_422_before_signing(gw: Gateway) -> None:
    assert _set(gw, "USD", MINIMUM).status_code == 200
    head = _head(gw)
    body = problem(
        gw.post("core", "/v1/notes", gw.issue_body("s1", str(MINIMUM - 1))), 422, "amount-below-minimum"
    )
    assert (body["field"], body["minimum"]) == ("amount", str(MINIMUM))
    assert _head(gw) == head


def test_issue_of_exactly_the_minimum_is_accepted(gw: Gateway) -> None:
    assert _set(gw, "USD", MINIMUM).status_code == 200
    assert gw.post("core", "/v1/notes", gw.issue_body("s1", str(MINIMUM))).status_code == 201


def test_split_with_a_part_below_the_minimum_is_422_naming_the_part(gw: Gateway) -> None:
    note = gw.active("s1", str(10 * MINIMUM))
    assert _set(gw, "USD", MINIMUM).status_code == 200
    head = _head(gw)
    parts = [
        {"to": gw.ids["s1"], "amount": str(10 * MINIMUM - 1)},
        {"to": gw.ids["s2"], "amount": "1"},
    ]
    body = problem(gw.post("s1", f"/v1/notes/{note}/split", {"parts": parts}), 422, "amount-below-minimum")
    assert (body["field"], body["part_index"], body["minimum"]) == ("parts.1.amount", 1, str(MINIMUM))
    assert _head(gw) == head


def test_split_into_parts_of_the_minimum_is_accepted(gw: Gateway) -> None:
    note = gw.active("s1", str(2 * MINIMUM))
    assert _set(gw, "USD", MINIMUM).status_code == 200
    parts = [{"to": gw.ids["s1"], "amount": str(MINIMUM)}, {"to": gw.ids["s2"], "amount": str(MINIMUM)}]
    answer = gw.post("s1", f"/v1/notes/{note}/split", {"parts": parts})
    assert answer.status_code == 200, answer.text


def test_a_minimum_of_zero_lifts_it(gw: Gateway) -> None:
    assert _set(gw, "USD", MINIMUM).status_code == 200
    assert _set(gw, "USD", 0).status_code == 200
    note = gw.active("s1", "1000")
    parts = [{"to": gw.ids["s1"], "amount": "999"}, {"to": gw.ids["s2"], "amount": "1"}]
    assert gw.post("s1", f"/v1/notes/{note}/split", {"parts": parts}).status_code == 200
