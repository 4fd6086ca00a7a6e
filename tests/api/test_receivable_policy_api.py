"""A financier's policy for evidence-backed receivables over HTTP: set, read, replace, refused
values and roles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Gateway

POLICY: dict[str, Any] = {
    "min_score": 500,
    "min_attesters": 2,
    "four_way_match_required": True,
    "advance_rate_bps": 9000,
    "rate_bands": [{"min_score": 500, "annual_rate_bps": 800}, {"min_score": 700, "annual_rate_bps": 600}],
    "max_exposure_per_supplier": "50000000",
    "auto_approve": True,
    "offer_validity_seconds": 3600,
}
POLICY_ROUTES = {("GET", "/v1/receivable-policy"), ("PUT", "/v1/receivable-policy")}


def put(gw: Gateway, who: str, body: dict[str, Any]) -> Any:
    return gw.client.put("/v1/receivable-policy", json=body, headers=gw.auth(who))


def test_financier_sets_and_reads_its_policy(gw: Gateway) -> None:
    answer = put(gw, "bank", POLICY)
    assert answer.status_code == 200, answer.text
    read = gw.get("bank", "/v1/receivable-policy").json()
    assert read["financier"] == gw.addresses["bank"]
    assert {k: read[k] for k in POLICY} == POLICY


def test_put_replaces_the_whole_policy(gw: Gateway) -> None:
    assert put(gw, "bank", POLICY).status_code == 200
    assert put(gw, "bank", {**POLICY, "min_score": 650, "auto_approve": False}).status_code == 200
    read = gw.get("bank", "/v1/receivable-policy").json()
    assert (read["min_score"], read["auto_approve"]) == (650, False)


def test_financier_without_a_policy_reads_404(gw: Gateway) -> None:
    answer = gw.get("bank", "/v1/receivable-policy")
    assert answer.status_code == 404 and answer.json()["type"].endswith("/no-receivable-policy")


@pytest.mark.parametrize("who", ["s1", "core", "auditor", "operator"])
def test_policy_is_refused_to_other_roles(gw: Gateway, who: str) -> None:
    answer = put(gw, who, POLICY)
    assert answer.status_code == 403 and answer.json()["type"].endswith("/forbidden")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"min_score": 1001}, "min_score"),
        ({"advance_rate_bps": 0}, "advance_rate_bps"),
        ({"rate_bands": []}, "rate_bands"),
        ({"rate_bands": [{"min_score": 500, "annual_rate_bps": 10_000}]}, "rate_bands"),
        ({"max_exposure_per_supplier": 1.5}, "max_exposure_per_supplier"),
        ({"offer_validity_seconds": 10}, "offer_validity_seconds"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_policy_out_of_range_is_refused(gw: Gateway, change: dict[str, Any], field: str) -> None:
    answer = put(gw, "bank", {**POLICY, **change})
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_two_bands_at_one_score_are_refused(gw: Gateway) -> None:
    bands = [{"min_score": 500, "annual_rate_bps": 800}, {"min_score": 500, "annual_rate_bps": 700}]
    answer = put(gw, "bank", {**POLICY, "rate_bands": bands})
    assert answer.status_code == 422 and "same score" in answer.text


def test_policy_needs_an_api_key(gw: Gateway) -> None:
    answer = gw.client.get("/v1/receivable-policy")
    assert answer.status_code == 401 and answer.json()["type"].endswith("/unauthorized")


def test_alert_policy_takes_the_buyer_exposure_threshold_as_a_string_of_minor_units(gw: Gateway) -> None:
    body = {"buyer_indirect_exposure": "25000000"}
    answer = gw.client.put("/v1/alert-policy", json=body, headers=gw.auth("bank"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["overrides"]["buyer_indirect_exposure"] == "25000000"
    assert gw.get("operator", "/v1/alert-policy").json()["effective"]["buyer_indirect_exposure"] == "0"


def test_alert_policy_refuses_a_buyer_exposure_threshold_given_as_a_number(gw: Gateway) -> None:
    body = {"buyer_indirect_exposure": 25.5}
    answer = gw.client.put("/v1/alert-policy", json=body, headers=gw.auth("bank"))
    assert answer.status_code == 422 and "buyer_indirect_exposure" in answer.text
