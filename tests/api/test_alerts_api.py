"""Alerts over HTTP on the embedded gateway: the scheduler raising funding-shortfall and overdue
alerts as the ledger's clock moves (no ledger event in between), the acknowledgement lifecycle, the
double-financing alert, CSV export, the alert policy and the closed loop on discount offers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.alerts.scheduler import evaluate_now
from service.api.tokens.service import deposit, setup_settlement_token
from tests.api.conftest import Gateway, configured_gateway
from tests.chaos.rig import await_condition

DAY = 86_400


def advance(gw: Gateway, days: int) -> None:
    answer = gw.post("operator", "/v1/dev/clock", {"seconds": days * DAY})
    assert answer.status_code == 200, answer.text


def live(gw: Gateway, rule: str, who: str = "operator") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = gw.get(who, "/v1/alerts", rule=rule).json()["items"]
    return [a for a in items if a["status"] != "resolved"]


def offer(gw: Gateway, note_id: str, deadline_days: int = 20) -> Any:
    body = {"price": "900000", "deadline": gw.maturity(deadline_days), "off_chain": True}
    return gw.post("bank", f"/v1/notes/{note_id}/discount-offers", body)


def overdue_note(gw: Gateway) -> tuple[str, dict[str, Any]]:
    """A note of `core` 10 days from maturity, then the clock moved 16 days: 6 days past due (the
    grace period is 5 days), evaluated by the scheduler."""
    note_id = _active_in(gw, 10)
    advance(gw, 16)
    evaluate_now(gw.context)
    [alert] = live(gw, "overdue")
    return note_id, alert


def _active_in(gw: Gateway, days: int) -> str:
    answer = gw.post("core", "/v1/notes", gw.issue_body("s1", "1000000", maturity=gw.maturity(days)))
    assert answer.status_code == 201, answer.text
    note_id: str = answer.json()["note_ids"][0]
    assert gw.post("s1", f"/v1/notes/{note_id}/accept").status_code == 200
    return note_id


def test_scheduler_raises_a_funding_shortfall_when_the_clock_brings_a_maturity_within_7_days(
    gw: Gateway,
) -> None:
    _active_in(gw, 10)
    evaluate_now(gw.context)
    assert live(gw, "funding_shortfall") == []
    advance(gw, 4)  # an empty block: nothing for the index's hook, 6 days to maturity
    assert live(gw, "funding_shortfall") == []
    evaluate_now(gw.context)
    [alert] = live(gw, "funding_shortfall")
    assert alert["obligor"] == gw.addresses["core"] and alert["figures"]["notes"] == 1
    assert (alert["figures"]["due"], alert["figures"]["available"], alert["figures"]["shortfall"]) == (
        "1000000",
        "0",
        "1000000",
    )


def test_scheduler_raises_overdue_with_days_past_due(gw: Gateway) -> None:
    note_id, alert = overdue_note(gw)
    assert alert["subject"] == note_id and alert["severity"] == "critical"
    assert alert["figures"]["days_past_due"] == 6 and alert["figures"]["unpaid"] == "1000000"


def test_acknowledgement_lifecycle(gw: Gateway) -> None:
    _, alert = overdue_note(gw)
    path = f"/v1/alerts/{alert['id']}/acknowledge"
    answer = gw.post("operator", path)
    assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == "operator"
    assert gw.post("operator", path).json()["status"] == "acknowledged"  # again: as it is
    evaluate_now(gw.context)
    assert gw.get("auditor", f"/v1/alerts/{alert['id']}").json()["status"] == "acknowledged"


def test_acknowledging_a_platform_alert_is_the_operators(gw: Gateway) -> None:
    _, alert = overdue_note(gw)
    answer = gw.post("auditor", f"/v1/alerts/{alert['id']}/acknowledge")
    assert answer.status_code == 403 and answer.json()["type"].endswith("forbidden")


def test_a_member_cannot_read_or_acknowledge_another_owners_alert(gw: Gateway) -> None:
    _, alert = overdue_note(gw)
    assert gw.get("bank", f"/v1/alerts/{alert['id']}").status_code == 404
    assert gw.post("s1", f"/v1/alerts/{alert['id']}/acknowledge").status_code == 404
    assert gw.get("bank", "/v1/alerts").json()["items"] == []


def test_unknown_alert_is_404(gw: Gateway) -> None:
    answer = gw.get("operator", "/v1/alerts/999999")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")


def test_acknowledging_a_resolved_alert_is_409(gw: Gateway) -> None:
    body = gw.issue_body("s1", "1000")
    assert gw.post("core", "/v1/notes", body).status_code == 201
    assert gw.post("core", "/v1/notes", body).status_code == 409
    [alert] = live(gw, "duplicate_document")
    resolved = gw.post("operator", f"/v1/alerts/{alert['id']}/acknowledge")
    assert resolved.json()["status"] == "resolved"  # a double-financing alert: acknowledged = resolved
    answer = gw.post("operator", f"/v1/alerts/{alert['id']}/acknowledge")
    assert answer.status_code == 409 and answer.json()["type"].endswith("alert-resolved")


def test_a_refused_duplicate_document_raises_a_double_financing_alert_counting_attempts(gw: Gateway) -> None:
    body = gw.issue_body("s1", "5000")
    assert gw.post("core", "/v1/notes", body).status_code == 201
    for _ in range(2):
        assert gw.post("core", "/v1/notes", {**body, "amount": "7000"}).status_code == 409
    [alert] = live(gw, "duplicate_document")
    assert alert["subject"] == body["document_hash"] and alert["severity"] == "critical"
    assert (alert["figures"]["amount"], alert["figures"]["attempts"]) == ("7000", 2)


def test_alert_filters_reject_unknown_values(gw: Gateway) -> None:
    for name, value in (("status", "closed"), ("rule", "nope"), ("severity", "high"), ("format", "xml")):
        answer = gw.get("operator", "/v1/alerts", **{name: value})
        assert answer.status_code == 422, name


def test_alerts_export_as_csv(gw: Gateway) -> None:
    note_id, alert = overdue_note(gw)
    answer = gw.get("auditor", "/v1/alerts", format="csv", rule="overdue")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    header, row = answer.text.strip().split("\r\n")
    assert header.startswith("id,rule,severity,status")
    assert row.startswith(f"{alert['id']},overdue,critical,open") and note_id in row


def test_policy_is_for_the_operator_and_financiers(gw: Gateway) -> None:
    answer = gw.client.put("/v1/alert-policy", json={"shortfall_days": 3}, headers=gw.auth("s1"))
    assert answer.status_code == 403
    assert gw.get("core", "/v1/alert-policy").status_code == 403


def test_policy_rejects_thresholds_out_of_range(gw: Gateway) -> None:
    for body in ({"utilisation_warning_bps": 10_001}, {"shortfall_days": 0}, {"unknown": 1}):
        answer = gw.client.put("/v1/alert-policy", json=body, headers=gw.auth("operator"))
        assert answer.status_code == 422, body


def test_policy_rejects_a_warning_above_the_critical_threshold(gw: Gateway) -> None:
    body = {"utilisation_warning_bps": 9_600}
    answer = gw.client.put("/v1/alert-policy", json=body, headers=gw.auth("bank"))
    assert answer.status_code == 422  # the platform's critical threshold is 9_500


def test_the_closed_loop_switch_is_not_a_platform_default(gw: Gateway) -> None:
    body = {"block_offers_under_alert": True}
    answer = gw.client.put("/v1/alert-policy", json=body, headers=gw.auth("operator"))
    assert answer.status_code == 422


def test_a_financier_policy_overrides_the_platform_defaults(gw: Gateway) -> None:
    put = gw.client.put
    assert (
        put("/v1/alert-policy", json={"shortfall_days": 10}, headers=gw.auth("operator")).status_code == 200
    )
    answer = put("/v1/alert-policy", json={"shortfall_days": 3}, headers=gw.auth("bank"))
    assert answer.status_code == 200
    assert answer.json()["overrides"] == {"shortfall_days": 3}
    assert gw.get("bank", "/v1/alert-policy").json()["effective"]["shortfall_days"] == 3
    assert gw.get("operator", "/v1/alert-policy").json()["effective"]["shortfall_days"] == 10


def test_closed_loop_refuses_offers_on_an_obligor_under_an_overdue_alert_until_switched_off(
    gw: Gateway,
) -> None:
    _, alert = overdue_note(gw)
    target = _active_in(gw, 60)
    switch = {"block_offers_under_alert": True}
    assert gw.client.put("/v1/alert-policy", json=switch, headers=gw.auth("bank")).status_code == 200
    refused = offer(gw, target)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("obligor-under-alert")
    named = gw.get("operator", f"/v1/alerts/{problem['alert']['id']}").json()
    assert named["obligor"] == alert["obligor"] and named["status"] == "open"
    assert problem["alert"] == {k: named[k] for k in ("id", "rule", "severity", "figures")}
    assert named["rule"] in ("overdue", "funding_shortfall")  # past due and unpaid: both hold
    switch = {"block_offers_under_alert": False}
    assert gw.client.put("/v1/alert-policy", json=switch, headers=gw.auth("bank")).status_code == 200
    assert offer(gw, target).status_code == 201


def test_closed_loop_lets_offers_through_once_the_alert_is_resolved(gw: Gateway) -> None:
    target = _active_in(gw, 60)
    switch = {"block_offers_under_alert": True}
    assert gw.client.put("/v1/alert-policy", json=switch, headers=gw.auth("bank")).status_code == 200
    advance(gw, 55)  # 5 days to maturity: a funding shortfall (core has no settlement tokens)
    evaluate_now(gw.context)
    platform, own = sorted(live(gw, "funding_shortfall"), key=lambda a: a["owner"] or "")
    assert platform["owner"] is None and own["owner"] == gw.addresses["bank"]  # the bank has a policy
    assert [a["id"] for a in live(gw, "funding_shortfall", "bank")] == [own["id"]]
    assert offer(gw, target, 2).json()["alert"]["id"] == platform["id"]
    setup_settlement_token(gw.context)
    deposit(gw.context, gw.ids["core"], 1_000_000, "deposit 1")
    allowance = {"amount": "1000000"}
    answer = gw.client.put("/v1/settlement-tokens/USD/allowance", json=allowance, headers=gw.auth("core"))
    assert answer.status_code == 200, answer.text
    evaluate_now(gw.context)  # due 1_000_000, available min(1_000_000, 1_000_000): no shortfall
    assert gw.get("bank", f"/v1/alerts/{own['id']}").json()["status"] == "resolved"
    assert gw.get("operator", f"/v1/alerts/{platform['id']}").json()["status"] == "resolved"
    assert offer(gw, target, 2).status_code == 201


ALERT_ROUTES = {
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/{alert_id}"),
    ("POST", "/v1/alerts/{alert_id}/acknowledge"),
    ("GET", "/v1/alert-policy"),
    ("PUT", "/v1/alert-policy"),
}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered)."""


@pytest.mark.parametrize(("method", "path"), sorted(ALERT_ROUTES))
def test_alert_routes_need_an_api_key(gw: Gateway, method: str, path: str) -> None:
    answer = gw.client.request(method, path.replace("{alert_id}", "1"), json={})
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


def test_the_scheduler_thread_raises_overdue_on_its_own_round(_template: Any, tmp_path: Path) -> None:
    with configured_gateway(_template, tmp_path, alert_interval_seconds=0.2) as fast:
        _active_in(fast, 10)
        advance(fast, 16)  # no block after the clock moved: only the scheduler's round can see it
        assert await_condition(lambda: live(fast, "overdue"), 10.0)
        [alert] = live(fast, "overdue")
        assert alert["figures"]["days_past_due"] == 6
