"""/v1/subscriptions over HTTP: a member's webhook subscriptions (owner-only; the operator lists
all), every 4xx, and end to end through the gateway's own dispatcher to a real receiver process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from service.events.log import EventDraft, append_events
from service.indexer.store import AppliedBatch
from service.webhooks.urls import UrlRefused, check_url
from tests.api.conftest import Gateway, _Template, configured_gateway
from tests.api.financing import problem
from tests.webhooks.support import Receiver, verified, wait_for

SUBSCRIPTION_ROUTES = {
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/{subscription_id}"),
    ("PATCH", "/v1/subscriptions/{subscription_id}"),
    ("DELETE", "/v1/subscriptions/{subscription_id}"),
    ("POST", "/v1/subscriptions/{subscription_id}/pause"),
    ("POST", "/v1/subscriptions/{subscription_id}/resume"),
    ("POST", "/v1/subscriptions/{subscription_id}/replay"),
    ("GET", "/v1/subscriptions/{subscription_id}/deliveries"),
}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered)."""

URL = "http://127.0.0.1:9/hook"  # loopback: allowed in embedded mode (nothing is sent in these tests)


def _create(gw: Gateway, who: str = "s1", **body: Any) -> Any:
    return gw.post(who, "/v1/subscriptions", {"url": URL, **body})


def _created(gw: Gateway, who: str = "s1", **body: Any) -> dict[str, Any]:
    answer = _create(gw, who, **body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _patch(gw: Gateway, who: str, sub_id: str, body: Any) -> Any:
    return gw.client.patch(f"/v1/subscriptions/{sub_id}", json=body, headers=gw.auth(who))


def _append(gw: Gateway, count: int, recipient: str) -> list[int]:
    drafts = [
        EventDraft(type="note.received", occurred_at=datetime.now(UTC), data={"n": i}, recipient=recipient)
        for i in range(count)
    ]
    with gw.context.engine.begin() as conn:
        return append_events(conn, drafts)


def test_creating_a_subscription_answers_its_secret_once(gw: Gateway) -> None:
    body = _created(gw, event_types=["note.received", "note.issued"], description="ERP")
    assert body["secret"].startswith("whsec_")
    assert body["status"] == "active"
    assert body["event_types"] == ["note.issued", "note.received"]
    assert body["member_id"] == gw.ids["s1"]
    again = gw.get("s1", f"/v1/subscriptions/{body['id']}")
    assert again.status_code == 200
    assert "secret" not in again.json()


def test_a_member_lists_only_its_own_subscriptions(gw: Gateway) -> None:
    mine = _created(gw, "s1")
    _created(gw, "s2")
    listed = gw.get("s1", "/v1/subscriptions").json()["items"]
    assert [s["id"] for s in listed] == [mine["id"]]


def test_the_operator_lists_every_members_subscriptions(gw: Gateway) -> None:
    ids = {_created(gw, "s1")["id"], _created(gw, "bank")["id"]}
    listed = gw.get("operator", "/v1/subscriptions").json()["items"]
    assert {s["id"] for s in listed} == ids


@pytest.mark.parametrize("who", ["s2", "auditor"])
def test_another_members_subscription_is_not_found(gw: Gateway, who: str) -> None:
    sub_id = _created(gw, "s1")["id"]
    problem(gw.get(who, f"/v1/subscriptions/{sub_id}"), 404, "subscription-not-found")
    problem(gw.get(who, f"/v1/subscriptions/{sub_id}/deliveries"), 404, "subscription-not-found")


def test_the_operator_may_read_but_not_change_a_members_subscription(gw: Gateway) -> None:
    sub_id = _created(gw, "s1")["id"]
    assert gw.get("operator", f"/v1/subscriptions/{sub_id}").status_code == 200
    problem(gw.post("operator", f"/v1/subscriptions/{sub_id}/pause"), 404, "subscription-not-found")


def test_another_member_cannot_change_or_delete_a_subscription(gw: Gateway) -> None:
    sub_id = _created(gw, "s1")["id"]
    problem(_patch(gw, "s2", sub_id, {"url": URL}), 404, "subscription-not-found")
    problem(
        gw.client.delete(f"/v1/subscriptions/{sub_id}", headers=gw.auth("s2")), 404, "subscription-not-found"
    )
    for action, body in (("pause", None), ("resume", None), ("replay", {"from_seq": 1})):
        problem(
            gw.post("s2", f"/v1/subscriptions/{sub_id}/{action}", body),
            404,
            "subscription-not-found",
        )


@pytest.mark.parametrize("sub_id", ["999999", "abc", "1" * 30])
def test_an_unknown_subscription_id_is_not_found(gw: Gateway, sub_id: str) -> None:
    problem(gw.get("s1", f"/v1/subscriptions/{sub_id}"), 404, "subscription-not-found")


def test_without_an_api_key_the_subscriptions_answer_401(gw: Gateway) -> None:
    assert gw.client.get("/v1/subscriptions").status_code == 401


def test_patch_changes_the_url_types_and_filters(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    answer = _patch(
        gw, "s1", sub_id, {"url": "http://127.0.0.1:8/other", "event_types": [], "filters": {"note_id": "7"}}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["url"], body["event_types"], body["filters"]["note_id"]) == (
        "http://127.0.0.1:8/other",
        [],
        7,
    )


def test_an_obligor_filter_is_resolved_from_a_member_id(gw: Gateway) -> None:
    body = _created(gw, filters={"obligor": gw.ids["core"]})
    assert body["filters"]["obligor"] == gw.addresses["core"]


def test_an_obligor_filter_naming_nobody_is_a_422(gw: Gateway) -> None:
    problem(_create(gw, filters={"obligor": "nobody"}), 422, "not-a-member")


def test_delete_removes_the_subscription(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    assert gw.client.delete(f"/v1/subscriptions/{sub_id}", headers=gw.auth("s1")).status_code == 204
    problem(gw.get("s1", f"/v1/subscriptions/{sub_id}"), 404, "subscription-not-found")


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("ftp://127.0.0.1/x", "invalid-webhook-url"),
        ("not a url", "invalid-webhook-url"),
        ("http://user:pw@127.0.0.1/x", "invalid-webhook-url"),
        ("http://127.0.0.1/x#frag", "invalid-webhook-url"),
        ("http://10.1.2.3/hook", "webhook-url-forbidden"),
        ("https://192.168.1.10/hook", "webhook-url-forbidden"),
        ("https://169.254.169.254/latest", "webhook-url-forbidden"),
        ("https://[fd00::1]/hook", "webhook-url-forbidden"),
        ("https://0.0.0.0/hook", "webhook-url-forbidden"),
        ("http://8.8.8.8/hook", "invalid-webhook-url"),  # public, but not https
    ],
)
def test_a_webhook_url_that_may_not_receive_is_a_422(gw: Gateway, url: str, slug: str) -> None:
    body = problem(_create(gw, url=url), 422, slug)
    assert body["field"] == "url"


def test_a_patched_url_is_checked_too(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    problem(_patch(gw, "s1", sub_id, {"url": "https://10.0.0.1/x"}), 422, "webhook-url-forbidden")


def test_loopback_is_refused_outside_dev_mode() -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url("https://127.0.0.1/hook", allow_loopback=False)
    assert refused.value.slug == "webhook-url-forbidden"


def test_a_public_https_url_is_accepted() -> None:
    assert check_url(
        "https://hooks.example.com/x", allow_loopback=False, resolver=lambda h, p: ["93.184.216.34"]
    )


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url("https://nowhere.example/x", allow_loopback=False, resolver=lambda h, p: [])
    assert refused.value.slug == "webhook-host-unresolved"


def test_a_host_resolving_to_any_private_address_is_refused() -> None:
    with pytest.raises(UrlRefused):
        check_url(
            "https://mixed.example/x",
            allow_loopback=False,
            resolver=lambda h, p: ["93.184.216.34", "10.0.0.5"],
        )


@pytest.mark.parametrize(
    "body",
    [
        {"event_types": ["note.exploded"]},
        {"filters": {"note_id": "-1"}},
        {"filters": {"colour": "red"}},
        {"secret": "mine"},
        {"url": ""},
    ],
)
def test_an_invalid_subscription_body_is_a_422(gw: Gateway, body: dict[str, Any]) -> None:
    answer = gw.post("s1", "/v1/subscriptions", {"url": URL, **body})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_an_invalid_patch_is_a_422(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    assert _patch(gw, "s1", sub_id, {"event_types": ["nope"]}).status_code == 422


def test_a_member_over_its_subscription_bound_gets_a_409(_template: _Template, tmp_path: Path) -> None:
    with configured_gateway(_template, tmp_path, webhook_max_subscriptions=2) as gw:
        _created(gw)
        _created(gw)
        problem(_create(gw), 409, "subscription-limit")
        assert _create(gw, "s2").status_code == 201  # the bound is per member


def test_pause_then_resume(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    paused = gw.post("s1", f"/v1/subscriptions/{sub_id}/pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert paused.json()["pause_reason"] == "paused by its owner"
    resumed = gw.post("s1", f"/v1/subscriptions/{sub_id}/resume")
    assert (resumed.status_code, resumed.json()["status"], resumed.json()["pause_reason"]) == (
        200,
        "active",
        None,
    )


def test_pausing_a_paused_subscription_is_a_409(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    gw.post("s1", f"/v1/subscriptions/{sub_id}/pause")
    problem(gw.post("s1", f"/v1/subscriptions/{sub_id}/pause"), 409, "subscription-not-active")


def test_resuming_an_active_subscription_is_a_409(gw: Gateway) -> None:
    sub_id = _created(gw)["id"]
    problem(gw.post("s1", f"/v1/subscriptions/{sub_id}/resume"), 409, "subscription-not-paused")


def test_replay_from_a_sequence_number_moves_the_cursor_back(gw: Gateway) -> None:
    appended = _append(gw, 5, gw.addresses["s1"])
    sub = _created(gw)
    assert sub["cursor"] == appended[-1]  # a new subscription starts with the next event
    answer = gw.post("s1", f"/v1/subscriptions/{sub['id']}/replay", {"from_seq": appended[1]})
    assert (answer.status_code, answer.json()["cursor"]) == (200, appended[0])


def test_replay_from_a_time_moves_the_cursor_to_the_events_recorded_since(gw: Gateway) -> None:
    _append(gw, 3, gw.addresses["s1"])
    sub = _created(gw)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    answer = gw.post("s1", f"/v1/subscriptions/{sub['id']}/replay", {"from_time": since})
    assert (answer.status_code, answer.json()["cursor"]) == (200, 0)


def test_replay_ahead_of_the_cursor_is_a_409(gw: Gateway) -> None:
    sub = _created(gw)
    ahead = sub["cursor"] + 50
    body = problem(
        gw.post("s1", f"/v1/subscriptions/{sub['id']}/replay", {"from_seq": ahead}), 409, "replay-ahead"
    )
    assert body["cursor"] == sub["cursor"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"from_seq": 1, "from_time": "2026-01-01T00:00:00Z"},
        {"from_seq": 0},
        {"from_time": "2026-01-01T00:00:00"},
    ],
)
def test_a_replay_needs_exactly_one_valid_starting_point(gw: Gateway, body: dict[str, Any]) -> None:
    sub = _created(gw)
    assert gw.post("s1", f"/v1/subscriptions/{sub['id']}/replay", body).status_code == 422


def test_a_deliveries_page_limit_out_of_range_is_a_422(gw: Gateway) -> None:
    sub = _created(gw)
    assert gw.get("s1", f"/v1/subscriptions/{sub['id']}/deliveries", limit=0).status_code == 422


def test_the_gateways_dispatcher_delivers_signed_events_and_logs_the_attempts(
    gw: Gateway, tmp_path: Path
) -> None:
    receiver = Receiver(tmp_path / "requests.jsonl").start()
    try:
        sub = _created(gw, url=receiver.url())
        sent = _append(gw, 30, gw.addresses["s1"])
        _append(gw, 5, gw.addresses["s2"])  # not s1's to see
        wait_for(lambda: len(receiver.records()) >= 30, timeout=30)
        bodies = verified(receiver.records(), sub["secret"])
        assert [b["seq"] for b in bodies] == sent
        page = gw.get("s1", f"/v1/subscriptions/{sub['id']}/deliveries", limit=20).json()
        assert [d["event_seq"] for d in page["items"]] == sent[::-1][:20]  # newest first
        assert {(d["attempt"], d["status_code"]) for d in page["items"]} == {(1, 204)}
        older = gw.get("s1", f"/v1/subscriptions/{sub['id']}/deliveries", cursor=page["next_cursor"]).json()
        assert [d["event_seq"] for d in older["items"]] == sent[::-1][20:]
        assert older["next_cursor"] is None
    finally:
        receiver.stop()


def test_events_of_indexed_blocks_reach_the_receiver_through_the_real_indexer(
    gw: Gateway, tmp_path: Path
) -> None:
    """Issue a note over HTTP: the indexer applies its block and, in the same transaction, a batch
    hook appends one event per ledger log addressed to the note's holder (standing in for the event
    derivation); the gateway's dispatcher delivers them to the holder's receiver."""

    def per_log(conn: Connection, applied: AppliedBatch) -> None:
        append_events(
            conn,
            [
                EventDraft(
                    type="note.received",
                    occurred_at=datetime.now(UTC),
                    block_number=log.block_number,
                    tx_hash=log.tx_hash,
                    log_index=log.log_index,
                    note_id=log.note_id,
                    root_id=log.root_id,
                    recipient=gw.addresses["s1"],
                    data={"log": log.name},
                )
                for log in applied.events
            ],
        )

    gw.context.indexer.store.batch_hooks = (per_log,)
    receiver = Receiver(tmp_path / "requests.jsonl").start()
    try:
        sub = _created(gw, url=receiver.url(), event_types=["note.received"])
        note_id = gw.issue("s1")
        wait_for(lambda: len(receiver.records()) >= 1, timeout=30)
        bodies = verified(receiver.records(), sub["secret"])
        assert bodies[0]["note_id"] == note_id
        assert bodies[0]["data"] == {"log": "NoteIssued"}
        assert bodies[0]["ledger"]["tx_hash"].startswith("0x")
    finally:
        receiver.stop()
