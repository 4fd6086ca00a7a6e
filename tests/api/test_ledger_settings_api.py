"""/v1/ledger-settings/min-part-amounts: the operator sets the smallest note or split part of a
currency; every member reads it; issue and split refuse smaller amounts with a 422 before signing."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain import MAX_GRACE_PERIOD, MAX_TENOR_BOUND, MIN_TENOR_BOUND
from tests.api.conftest import Gateway
from tests.api.financing import problem

LEDGER_SETTINGS_ROUTES = {
    ("GET", "/v1/ledger-settings/min-part-amounts"),
    ("GET", "/v1/ledger-settings/min-part-amounts/{currency}"),
    ("PUT", "/v1/ledger-settings/min-part-amounts/{currency}"),
    ("GET", "/v1/ledger-settings"),
    ("PUT", "/v1/ledger-settings/max-tenor"),
    ("PUT", "/v1/ledger-settings/grace-period"),
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


# ------------------------------------------------------------------ maximum tenor and grace period

DAY = 86_400


def _duration(gw: Gateway, setting: str, seconds: Any, who: str = "operator", **headers: str) -> Any:
    path = f"/v1/ledger-settings/{setting}"
    return gw.client.put(path, json={"seconds": seconds}, headers={**gw.auth(who), **headers})


def test_the_settings_start_at_the_deployments_defaults(gw: Gateway) -> None:
    answer = gw.get("s1", "/v1/ledger-settings")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "max_tenor": {"seconds": 365 * DAY, "duration": "P365D", "updated_block": None},
        "grace_period": {"seconds": 5 * DAY, "duration": "P5D", "updated_block": None},
        "min_part_amounts": [],
    }


def test_the_operator_sets_the_maximum_tenor(gw: Gateway) -> None:
    answer = _duration(gw, "max-tenor", 180 * DAY)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["indexed"] is True
    assert body["ledger_settings"]["max_tenor"] == {
        "seconds": 180 * DAY,
        "duration": "P180D",
        "updated_block": body["block_number"],
    }
    with gw.context.write_lock():
        assert gw.context.ledger.max_tenor() == 180 * DAY


def test_the_operator_sets_the_grace_period(gw: Gateway) -> None:
    answer = _duration(gw, "grace-period", 36 * 3600)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ledger_settings"]["grace_period"] == {
        "seconds": 36 * 3600,
        "duration": "P1DT12H",
        "updated_block": body["block_number"],
    }
    with gw.context.write_lock():
        assert gw.context.ledger.grace_period() == 36 * 3600


def test_a_grace_period_of_zero_is_accepted(gw: Gateway) -> None:
    answer = _duration(gw, "grace-period", 0)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ledger_settings"]["grace_period"]["duration"] == "PT0S"


def test_every_member_reads_the_settings_as_changed(gw: Gateway) -> None:
    tenor = _duration(gw, "max-tenor", 90 * DAY).json()
    assert _set(gw, "USD", MINIMUM).status_code == 200
    for who in ("core", "s1", "bank", "auditor"):
        body = gw.get(who, "/v1/ledger-settings").json()
        assert body["max_tenor"]["updated_block"] == tenor["block_number"]
        assert [(m["currency"], m["amount"]) for m in body["min_part_amounts"]] == [("USD", str(MINIMUM))]


def test_issue_beyond_the_new_maximum_tenor_is_refused(gw: Gateway) -> None:
    assert _duration(gw, "max-tenor", 30 * DAY).status_code == 200
    answer = gw.post("core", "/v1/notes", gw.issue_body("s1", maturity=gw.maturity(60)))
    problem(answer, 422, "invalid-maturity")


@pytest.mark.parametrize("seconds", [DAY - 1, 3650 * DAY + 1, 0])
def test_a_maximum_tenor_out_of_bounds_is_422_before_signing(gw: Gateway, seconds: int) -> None:
    head = _head(gw)
    body = problem(_duration(gw, "max-tenor", seconds), 422, "invalid-tenor")
    assert (body["ledger_error"], body["minimum"], body["maximum"]) == (
        "InvalidTenor",
        str(DAY),
        str(3650 * DAY),
    )
    assert _head(gw) == head


def test_a_grace_period_beyond_ninety_days_is_422_before_signing(gw: Gateway) -> None:
    head = _head(gw)
    body = problem(_duration(gw, "grace-period", 90 * DAY + 1), 422, "invalid-grace-period")
    assert (body["ledger_error"], body["maximum"]) == ("InvalidGracePeriod", str(90 * DAY))
    assert _head(gw) == head


def test_the_bounds_are_the_contracts(gw: Gateway) -> None:
    functions = gw.context.ledger.contract.functions
    with gw.context.write_lock():
        chain = (
            functions.MIN_TENOR_BOUND().call(),
            functions.MAX_TENOR_BOUND().call(),
            functions.MAX_GRACE_PERIOD().call(),
        )
    assert chain == (MIN_TENOR_BOUND, MAX_TENOR_BOUND, MAX_GRACE_PERIOD)


@pytest.mark.parametrize("seconds", [-1, 1.5, "86400", None, True])
def test_a_duration_is_a_whole_number_of_seconds(gw: Gateway, seconds: Any) -> None:
    problem(_duration(gw, "max-tenor", seconds), 422, "invalid-request")


def test_a_duration_body_names_seconds_only(gw: Gateway) -> None:
    answer = gw.client.put("/v1/ledger-settings/grace-period", json={"days": 3}, headers=gw.auth("operator"))
    problem(answer, 422, "invalid-request")


@pytest.mark.parametrize("setting", ["max-tenor", "grace-period"])
@pytest.mark.parametrize("who", ["core", "s1", "bank", "auditor"])
def test_only_the_operator_sets_a_duration(gw: Gateway, setting: str, who: str) -> None:
    problem(_duration(gw, setting, 30 * DAY, who=who), 403, "forbidden")


def test_reading_the_settings_needs_an_api_key(gw: Gateway) -> None:
    problem(gw.client.get("/v1/ledger-settings"), 401, "unauthorized")


def test_a_retried_duration_change_with_the_same_key_is_replayed(gw: Gateway) -> None:
    first = _duration(gw, "max-tenor", 200 * DAY, **{"Idempotency-Key": "tenor-1"})
    again = _duration(gw, "max-tenor", 200 * DAY, **{"Idempotency-Key": "tenor-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
