"""Domain events over HTTP: derived from the ledger flow, retracted by a reorganisation, seen by
exactly the members that may read what they are about, paged with a cursor and a long poll, and
streamed as Server-Sent Events resumable with Last-Event-ID (on a served app). Every test runs on
SQLite and on PostgreSQL (the financing template copied into a schema of its own), where the long
poll and the stream wake on the appenders' NOTIFY."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from service.api.app import create_app
from service.api.events.hub import PG_SAFETY_SECONDS
from service.db.session import make_engine
from service.events.log import EventDraft, append_events
from tests.api.financing import Fin, FinTemplate, fin_template_fixture, gateway_on  # noqa: F401
from tests.databases import PG_URL, TestDatabase

PROBLEM = "application/problem+json"


@pytest.fixture(name="fin")
def fin_on_each_database(fin_template: FinTemplate, tmp_path: Path, empty_db: TestDatabase) -> Iterator[Fin]:
    """The financing gateway (tests/api/financing.py), once on SQLite and once on PostgreSQL."""
    with gateway_on(fin_template, tmp_path, empty_db) as gateway:
        yield gateway


def events(fin: Fin, who: str = "operator", after: int = 0, **params: Any) -> list[dict[str, Any]]:
    answer = fin.get(who, "/v1/events", after=after, limit=1000, **params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def last_seq(fin: Fin) -> int:
    items = events(fin)
    return items[-1]["seq"] if items else 0


def kinds(items: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in items]


def problem(answer: Any, status: int, slug: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert answer.json()["type"].endswith("/" + slug)


# ------------------------------------------------------------------ derivation
def test_issue_and_accept_tell_the_supplier_then_the_obligor_with_the_note_and_its_position(fin: Fin) -> None:
    start = last_seq(fin)
    note_id = fin.issue_to("s1", 1_000_000, days=30)
    issued, accepted = events(fin, after=start)
    assert (issued["type"], accepted["type"]) == ("note.issued", "note.accepted")
    assert issued["recipient"]["member_id"] == fin.ids["s1"]
    assert issued["subject"]["address"] == fin.addresses["core"]
    assert accepted["recipient"]["member_id"] == fin.ids["core"]
    assert issued["note_id"] == issued["root_id"] == note_id
    assert issued["data"]["amount"] == {"amount": "1000000", "currency": "USD"}
    assert issued["data"]["supplier"]["name"] == "s1"
    assert issued["data"]["note"]["maturity"].endswith("Z")
    assert accepted["data"]["note"]["status"] == "active"
    position = issued["position"]
    assert position["tx_hash"].startswith("0x") and position["block_number"] > 0
    assert accepted["seq"] == issued["seq"] + 1


def test_a_split_is_one_note_split_and_a_note_received_per_part_that_changes_holder(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000)
    start = last_seq(fin)
    part_s2, part_s1 = fin.split("s1", note_id, [("s2", 400_000), ("s1", 600_000)])
    split, received = events(fin, after=start)
    assert (split["type"], received["type"]) == ("note.split", "note.received")
    assert split["note_id"] == note_id
    assert [p["note_id"] for p in split["data"]["parts"]] == [part_s2, part_s1]
    assert received["note_id"] == part_s2
    assert received["recipient"]["member_id"] == fin.ids["s2"]
    assert received["data"]["from"]["name"] == "s1"
    assert received["data"]["amount"] == {"amount": "400000", "currency": "USD"}


def test_a_transfer_voids_the_open_offer_for_its_financier_and_tells_the_new_holder(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000)
    start = last_seq(fin)
    offer = fin.offer(note_id, "bank")
    moved = fin.post("s1", f"/v1/notes/{note_id}/transfer", {"to": fin.ids["s2"]})
    assert moved.status_code == 200, moved.text
    received_offer, void, received = events(fin, after=start)
    assert kinds([received_offer, void, received]) == ["offer.received", "offer.void", "note.received"]
    assert received_offer["recipient"]["member_id"] == fin.ids["s1"]
    assert received_offer["offer_id"] == offer["id"]
    assert received_offer["data"]["offer"]["price"] == {"amount": "990000", "currency": "USD"}
    assert void["recipient"]["member_id"] == fin.ids["bank"] and void["data"]["reason"] == "transferred"
    assert received["recipient"]["member_id"] == fin.ids["s2"] and received["data"]["how"] == "transfer"


def test_a_taken_offer_tells_the_financier_and_the_seller_and_a_cancelled_one_its_financier(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000)
    cancelled = fin.offer(note_id, "bank", price="980000")
    assert fin.post("bank", f"/v1/discount-offers/{cancelled['id']}/cancel").status_code == 200
    offer = fin.offer(note_id, "bank")
    start = last_seq(fin)
    assert fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept").status_code == 200
    accepted, discounted = events(fin, after=start)
    assert kinds([accepted, discounted]) == ["offer.accepted", "note.discounted"]
    assert accepted["recipient"]["member_id"] == fin.ids["bank"]
    assert accepted["data"]["price"] == {"amount": "990000", "currency": "USD"}
    assert discounted["data"]["note"]["holder"]["name"] == "bank"
    cancel = [e for e in events(fin, types="offer.cancelled") if e["offer_id"] == cancelled["id"]]
    assert len(cancel) == 1 and cancel[0]["recipient"]["member_id"] == fin.ids["bank"]


def test_freeze_unfreeze_settle_tell_the_holder(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000, days=30)
    start = last_seq(fin)
    assert fin.post("operator", f"/v1/notes/{note_id}/freeze", {"reason": "court"}).status_code == 200
    assert fin.post("operator", f"/v1/notes/{note_id}/unfreeze").status_code == 200
    fin.advance(31)
    paid = fin.post("core", f"/v1/notes/{note_id}/settle")
    assert paid.status_code == 200, paid.text
    frozen, unfrozen, payment, settled = events(fin, after=start)
    assert kinds([frozen, unfrozen, payment, settled]) == [
        "note.frozen",
        "note.unfrozen",
        "payment.received",
        "note.settled",
    ]
    assert {e["recipient"]["member_id"] for e in (frozen, unfrozen, payment, settled)} == {fin.ids["s1"]}
    assert payment["data"]["amount"] == {"amount": "1000000", "currency": "USD"}
    assert payment["data"]["remaining"]["amount"] == "0"
    assert settled["data"]["note"]["status"] == "settled"


def test_suspension_and_reinstatement_are_member_events_about_the_member(fin: Fin) -> None:
    start = last_seq(fin)
    assert fin.post("operator", f"/v1/members/{fin.ids['s3']}/suspend").status_code == 200
    assert fin.post("operator", f"/v1/members/{fin.ids['s3']}/reinstate").status_code == 200
    suspended, reinstated = events(fin, after=start)
    assert kinds([suspended, reinstated]) == ["member.suspended", "member.reinstated"]
    assert suspended["subject"]["member_id"] == fin.ids["s3"] == reinstated["recipient"]["member_id"]


def test_a_new_credit_limit_tells_its_financier_about_the_obligor(fin: Fin) -> None:
    start = last_seq(fin)
    answer = fin.post("bank", "/v1/credit-limits", {"obligor": fin.ids["core"], "amount": "5000000"})
    assert answer.status_code == 200, answer.text
    (changed,) = events(fin, after=start)
    assert changed["type"] == "credit_limit.changed"
    assert changed["subject"]["member_id"] == fin.ids["core"]
    assert changed["recipient"]["member_id"] == fin.ids["bank"]
    assert changed["data"]["grant"] == "5000000"


# ------------------------------------------------------------------ reorganisations
def test_a_reorg_retracts_each_removed_event_once_and_the_new_branch_derives_new_ones(fin: Fin) -> None:
    snapshot = fin.chain.snapshot()
    start = last_seq(fin)
    note_id = fin.issue_to("s1", 1_000_000)
    removed = events(fin, after=start)
    fin.chain.revert(snapshot)
    assert fin.context.wait_indexed(int(fin.chain.w3.eth.block_number))
    retractions = events(fin, after=removed[-1]["seq"])
    assert kinds(retractions) == ["event.retracted"] * len(removed)
    assert [r["retracts"] for r in retractions] == [e["seq"] for e in removed]
    assert [r["data"]["retracted"]["type"] for r in retractions] == kinds(removed)
    for original, retraction in zip(removed, retractions, strict=True):
        again_read = fin.get("operator", f"/v1/events/{original['seq']}").json()
        assert again_read["retracted_by"] == retraction["seq"]
    # the supplier that saw the issue sees its retraction
    assert {r["retracts"] for r in events(fin, "s1", after=removed[-1]["seq"])} == {e["seq"] for e in removed}
    again = fin.issue_to("s1", 1_000_000)
    assert again == note_id
    fresh = events(fin, after=retractions[-1]["seq"])
    assert kinds(fresh) == ["note.issued", "note.accepted"] and fresh[0]["retracted_by"] is None


# ------------------------------------------------------------------ visibility
MATRIX = {
    # who: (events of the note of core held by s1, the offer bank made to s1 on it, the foreign note)
    "s1": (True, True, False),
    "s2": (False, False, False),
    "core": (True, False, False),
    "bank": (True, True, False),
    "bank2": (False, False, True),
    "auditor": (True, True, True),
    "operator": (True, True, True),
}


def test_each_member_sees_exactly_the_events_of_what_it_may_read(fin: Fin) -> None:
    start = last_seq(fin)
    note_id = fin.issue_to("s1", 1_000_000)
    offer = fin.offer(note_id, "bank")
    foreign = fin.issue_to("s3", 1_000_000, by="core2")
    every = events(fin, after=start)
    note_events = {e["seq"] for e in every if e["note_id"] == note_id and e["offer_id"] is None}
    offer_events = {e["seq"] for e in every if e["offer_id"] == offer["id"]}
    foreign_events = {e["seq"] for e in every if e["note_id"] == foreign}
    assert len(note_events) == 2 and len(offer_events) == 1 and len(foreign_events) == 2
    for who, (sees_note, sees_offer, sees_foreign) in MATRIX.items():
        expected = (
            (note_events if sees_note else set())
            | (offer_events if sees_offer else set())
            | (foreign_events if sees_foreign else set())
        )
        assert {e["seq"] for e in events(fin, who, after=start)} == expected, who
        for seq in note_events | offer_events | foreign_events:
            status = fin.get(who, f"/v1/events/{seq}").status_code
            assert status == (200 if seq in expected else 404), (who, seq)


# ------------------------------------------------------------------ the page
def test_the_cursor_pages_in_seq_order_and_types_filter(fin: Fin) -> None:
    fin.issue_to("s1", 1_000_000)
    first = fin.get("operator", "/v1/events", limit=2).json()
    assert [e["seq"] for e in first["items"]] == [1, 2] and first["next_after"] == 2
    second = fin.get("operator", "/v1/events", after=first["next_after"], limit=2).json()
    assert [e["seq"] for e in second["items"]] == [3, 4]
    only = events(fin, types="note.accepted,note.issued")
    assert set(kinds(only)) == {"note.issued", "note.accepted"}


def test_an_empty_page_keeps_the_cursor(fin: Fin) -> None:
    last = last_seq(fin)
    answer = fin.get("operator", "/v1/events", after=last).json()
    assert answer == {"items": [], "next_after": last}


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"after": "-1"}, "invalid-request"),
        ({"after": "x"}, "invalid-request"),
        ({"limit": "0"}, "invalid-request"),
        ({"limit": "1001"}, "invalid-request"),
        ({"wait": "31"}, "invalid-request"),
        ({"types": "note.issued,note.bogus"}, "invalid-request"),
        ({"types": ","}, "invalid-request"),
    ],
)
def test_a_bad_page_request_is_a_422(fin: Fin, params: dict[str, str], slug: str) -> None:
    problem(fin.get("s1", "/v1/events", **params), 422, slug)


@pytest.mark.parametrize("seq", ["999999", "abc", "0"])
def test_an_unknown_event_is_a_404(fin: Fin, seq: str) -> None:
    problem(fin.get("operator", f"/v1/events/{seq}"), 404, "event-not-found")


EVENT_ROUTES = {("GET", "/v1/events"), ("GET", "/v1/events/stream"), ("GET", "/v1/events/{seq}")}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered): every member
may call them; what each sees is the visibility matrix above."""


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/stream", "/v1/events/1"])
def test_events_need_an_api_key(fin: Fin, path: str) -> None:
    answer = fin.client.get(path)
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


def test_a_long_poll_answers_as_soon_as_a_visible_event_arrives(fin: Fin) -> None:
    last = last_seq(fin)
    answers: list[Any] = []
    began = time.monotonic()
    poll = threading.Thread(
        target=lambda: answers.append(fin.get("s1", "/v1/events", after=last, wait=20)), daemon=True
    )
    poll.start()
    time.sleep(0.5)
    fin.issue_to("s1", 1_000_000)
    poll.join(20)
    took = time.monotonic() - began
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["items"][0]["type"] == "note.issued"
    assert took < 10


def test_a_long_poll_with_nothing_new_answers_empty_after_its_wait(fin: Fin) -> None:
    last = last_seq(fin)
    began = time.monotonic()
    answer = fin.get("s2", "/v1/events", after=last, wait=0.6)
    assert answer.json() == {"items": [], "next_after": last}
    assert 0.5 <= time.monotonic() - began < 5


# ------------------------------------------------------------------ the stream (a served app)
@pytest.fixture
def served(fin: Fin) -> Iterator[str]:
    with serve(fin) as url:
        yield url


@contextmanager
def serve(fin: Fin) -> Iterator[str]:
    """The gateway's app served by uvicorn on a free port, for the stream's tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(fin.context, manage_indexer=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def read_sse(response: requests.Response, count: int) -> list[dict[str, str]]:
    """The first `count` events of an open SSE response (comments skipped)."""
    found: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in current:
                found.append(current)
                if len(found) == count:
                    return found
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = value
    return found


def test_the_stream_resumes_after_last_event_id(fin: Fin, served: str) -> None:
    start = last_seq(fin)
    fin.issue_to("s1", 1_000_000)
    fin.issue_to("s1", 2_000_000)
    headers = fin.auth("s1")
    with requests.get(
        f"{served}/v1/events/stream", params={"after": start}, headers=headers, stream=True, timeout=20
    ) as first:
        assert first.headers["content-type"].startswith("text/event-stream")
        got = read_sse(first, 2)
    assert [g["event"] for g in got] == ["note.issued", "note.accepted"]
    assert json.loads(got[0]["data"])["seq"] == int(got[0]["id"])
    with requests.get(
        f"{served}/v1/events/stream",
        headers={**headers, "Last-Event-ID": got[1]["id"]},
        stream=True,
        timeout=20,
    ) as resumed:
        rest = read_sse(resumed, 2)
    assert [int(r["id"]) for r in rest] == [int(got[1]["id"]) + 1, int(got[1]["id"]) + 2]
    assert json.loads(rest[0]["data"])["data"]["amount"]["amount"] == "2000000"


def test_the_stream_delivers_an_event_appended_while_it_is_open(fin: Fin, served: str) -> None:
    with requests.get(f"{served}/v1/events/stream", headers=fin.auth("s1"), stream=True, timeout=20) as open_:
        threading.Timer(0.5, lambda: fin.issue_to("s1", 1_000_000)).start()
        (got,) = read_sse(open_, 1)
    assert got["event"] == "note.issued"


def test_a_member_beyond_its_open_streams_gets_a_429(fin: Fin, served: str) -> None:
    limit = fin.context.settings.event_streams_per_member
    opened = [
        requests.get(f"{served}/v1/events/stream", headers=fin.auth("s2"), stream=True, timeout=20)
        for _ in range(limit)
    ]
    try:
        extra = requests.get(f"{served}/v1/events/stream", headers=fin.auth("s2"), timeout=20)
        problem(extra, 429, "too-many-streams")
        assert extra.headers["Retry-After"]
    finally:
        for response in opened:
            response.close()


def test_a_bad_last_event_id_is_a_422(fin: Fin) -> None:
    answer = fin.client.get("/v1/events/stream", headers={**fin.auth("s1"), "Last-Event-ID": "abc"})
    problem(answer, 422, "invalid-request")


# ------------------------------------------------------------------ PostgreSQL: woken by NOTIFY
@pytest.fixture
def fin_pg(fin_template: FinTemplate, tmp_path: Path, pg_schema: str) -> Iterator[Fin]:
    """The financing gateway on PostgreSQL only."""
    database = TestDatabase("postgresql", PG_URL, pg_schema, make_engine(PG_URL, schema=pg_schema))
    with gateway_on(fin_template, tmp_path, database) as gateway:
        yield gateway
    database.engine.dispose()


def append_from_another_connection(fin: Fin, delay: float, appended: list[float]) -> threading.Thread:
    """After `delay`, append one event through an engine of its own, as another gateway process or
    `credchain index` would: neither this app's index coordinator nor its writes know of it."""
    settings = fin.context.settings

    def append() -> None:
        time.sleep(delay)
        engine = make_engine(settings.database_url, schema=settings.database_schema)
        try:
            with engine.begin() as conn:
                draft = EventDraft("member.suspended", datetime.now(UTC), {}, subject=fin.addresses["s3"])
                append_events(conn, [draft])
            appended.append(time.monotonic())
        finally:
            engine.dispose()

    thread = threading.Thread(target=append, daemon=True)
    thread.start()
    return thread


def test_a_long_poll_on_postgresql_wakes_on_the_notify_of_another_connection(fin_pg: Fin) -> None:
    """Answered well within the hub's PostgreSQL safety interval (5 s): by the notification."""
    assert PG_SAFETY_SECONDS >= 5
    last = last_seq(fin_pg)
    appended: list[float] = []
    writer = append_from_another_connection(fin_pg, 1.0, appended)
    answer = fin_pg.get("operator", "/v1/events", after=last, wait=20)
    answered = time.monotonic()
    writer.join(10)
    assert [e["type"] for e in answer.json()["items"]] == ["member.suspended"]
    assert answered - appended[0] < 1.0


def test_the_stream_on_postgresql_wakes_on_the_notify_of_another_connection(fin_pg: Fin) -> None:
    """The open stream (from the log's end) sends the event well within the 5 s safety interval."""
    appended: list[float] = []
    headers = fin_pg.auth("operator")
    with (
        serve(fin_pg) as url,
        requests.get(f"{url}/v1/events/stream", headers=headers, stream=True, timeout=20) as open_,
    ):
        writer = append_from_another_connection(fin_pg, 1.0, appended)
        (got,) = read_sse(open_, 1)
        arrived = time.monotonic()
        writer.join(10)
    assert got["event"] == "member.suspended"
    assert arrived - appended[0] < 1.0
