"""The read path of GET /v1/notes/{id} and /provenance: one statement that authenticates and reads,
the cache of callers (never trusted without the database agreeing), the visibility rule for one
note against the list's, and the retry on a dropped connection."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.api.auth import hash_key
from service.db import provenance
from service.db.gateway_models import ApiMember
from service.setup.bootstrap import reissue_api_key
from tests.api.conftest import Gateway
from tests.api.test_flow import problem
from tests.statements import request_statements

READERS = ("operator", "core", "s1", "s2", "s3", "bank", "auditor")


def _rotate(gw: Gateway, who: str) -> str:
    """A new API key for `who`, written as `credchain keys issue` does (its own session, not
    through the app), so the gateway learns of it only from the database."""
    with Session(gw.context.engine) as session:
        return reissue_api_key(session, gw.ids[who])


def test_a_rotated_key_stops_working_at_once_though_its_member_was_cached(gw: Gateway) -> None:
    note_id = gw.active("s1", 1000)
    for path in (f"/v1/notes/{note_id}", f"/v1/notes/{note_id}/provenance"):
        assert gw.get("s1", path).status_code == 200
    old_key = gw.keys["s1"]
    assert gw.context.callers.get(hash_key(old_key)) is not None  # cached by the reads

    gw.keys["s1"] = _rotate(gw, "s1")
    gw.keys["old"] = old_key
    for path in (f"/v1/notes/{note_id}", f"/v1/notes/{note_id}/provenance", "/v1/notes/12x"):
        answer = problem(gw.get("old", path), 401, "unauthorized")
        assert answer["detail"] == "unknown API key"
    assert gw.context.callers.get(hash_key(old_key)) is None
    assert gw.get("s1", f"/v1/notes/{note_id}").json()["id"] == note_id
    assert gw.get("s1", f"/v1/notes/{note_id}/provenance").status_code == 200


def test_a_cached_member_whose_roles_changed_is_read_again(gw: Gateway) -> None:
    note_id = gw.active("s1", 1000)
    assert gw.get("auditor", f"/v1/notes/{note_id}").status_code == 200  # auditors see every note
    with Session(gw.context.engine) as session:
        session.execute(update(ApiMember).where(ApiMember.id == gw.ids["auditor"]).values(roles="supplier"))
        session.commit()
    problem(gw.get("auditor", f"/v1/notes/{note_id}"), 404, "note-not-found")
    problem(gw.get("auditor", f"/v1/notes/{note_id}/provenance"), 404, "note-not-found")
    cached = gw.context.callers.get(hash_key(gw.keys["auditor"]))
    assert cached is not None and cached.role_names == ["supplier"]


def test_a_suspended_member_still_reads_its_note_but_cannot_write_and_reinstated_writes_again(
    gw: Gateway,
) -> None:
    note_id = gw.active("s1", 1000)
    assert gw.get("s1", f"/v1/notes/{note_id}").status_code == 200  # s1 is cached now
    split = {"parts": [{"to": gw.ids["s2"], "amount": "600"}, {"to": gw.ids["s1"], "amount": "400"}]}

    assert gw.post("operator", f"/v1/members/{gw.ids['s1']}/suspend").status_code == 200
    assert gw.get("s1", f"/v1/notes/{note_id}").json()["status"] == "active"
    problem(gw.post("s1", f"/v1/notes/{note_id}/split", split), 403, "member-suspended")

    assert gw.post("operator", f"/v1/members/{gw.ids['s1']}/reinstate").status_code == 200
    answer = gw.post("s1", f"/v1/notes/{note_id}/split", split)
    assert answer.status_code == 200, answer.text
    assert gw.get("s1", f"/v1/notes/{note_id}").json()["status"] == "split"


def test_unknown_keys_are_refused_and_never_cached(gw: Gateway) -> None:
    note_id = gw.active("s1", 1000)
    before = len(gw.context.callers._entries)
    for i in range(20):
        gw.keys[f"x{i}"] = f"cc_unknown-{i}"
        problem(gw.get(f"x{i}", f"/v1/notes/{note_id}"), 401, "unauthorized")
    assert len(gw.context.callers._entries) == before
    no_header = gw.client.get(f"/v1/notes/{note_id}")
    problem(no_header, 401, "unauthorized")
    assert no_header.headers["www-authenticate"] == "Bearer"


def test_authentication_comes_before_the_note_id(gw: Gateway) -> None:
    gw.keys["nobody"] = "cc_nobody"
    for raw in ("abc", "1" * 21, str(2**63), str(2**64 - 1)):
        problem(gw.get("nobody", f"/v1/notes/{raw}"), 401, "unauthorized")
        problem(gw.get("s1", f"/v1/notes/{raw}"), 404, "note-not-found")
        problem(gw.get("auditor", f"/v1/notes/{raw}/provenance"), 404, "note-not-found")


def _world(gw: Gateway) -> list[str]:
    """Notes in every relation to the members: held, split away, transferred away, pending, revoked,
    and of an obligor the bank finances."""
    held = gw.active("s1", 1000)
    split = gw.post(
        "s1",
        f"/v1/notes/{held}/split",
        {"parts": [{"to": gw.ids["s2"], "amount": "600"}, {"to": gw.ids["s3"], "amount": "400"}]},
    )
    assert split.status_code == 200, split.text
    to_s2, to_s3 = split.json()["note_ids"]
    moved = gw.post("s3", f"/v1/notes/{to_s3}/transfer", {"to": gw.ids["s1"]})
    assert moved.status_code == 200, moved.text
    other = gw.active("s2", 500)
    pending = gw.issue("s3", 700)
    revoked = gw.issue("s2", 300)
    assert gw.post("core", f"/v1/notes/{revoked}/revoke").status_code == 200
    return [held, to_s2, to_s3, other, pending, revoked]


def test_one_note_is_visible_exactly_when_the_list_shows_it(gw: Gateway) -> None:
    notes = _world(gw)
    for who in READERS:
        listed = {n["id"] for n in gw.get(who, "/v1/notes", limit=200).json()["items"]}
        for note_id in notes:
            one = gw.get(who, f"/v1/notes/{note_id}")
            trace = gw.get(who, f"/v1/notes/{note_id}/provenance")
            assert (one.status_code == 200) == (note_id in listed), (who, note_id, one.text)
            assert trace.status_code == one.status_code, (who, note_id, trace.text)
            if one.status_code == 200:
                assert one.json() == next(
                    n for n in gw.get(who, "/v1/notes", limit=200).json()["items"] if n["id"] == note_id
                )
    # s3 split nothing of its own but transferred its piece away: it still sees that tree
    assert gw.get("s3", f"/v1/notes/{notes[0]}").status_code == 200
    assert gw.get("s3", f"/v1/notes/{notes[3]}").status_code == 404


def test_provenance_ancestors_and_holder_path(gw: Gateway) -> None:
    note_id = gw.active("s1", 1000)
    path = [note_id]
    holder = "s1"
    for depth, receiver in enumerate(("s2", "s3", "s1", "s2")):
        amount = 1000 - 100 * (depth + 1)
        parts = [{"to": gw.ids[receiver], "amount": str(amount)}, {"to": gw.ids[holder], "amount": "100"}]
        answer = gw.post(holder, f"/v1/notes/{path[-1]}/split", {"parts": parts})
        assert answer.status_code == 200, answer.text
        path.append(answer.json()["note_ids"][0])
        holder = receiver
    trace = gw.get("auditor", f"/v1/notes/{path[-1]}/provenance").json()
    assert [n["id"] for n in trace["ancestors"]] == path
    assert [n["depth"] for n in trace["ancestors"]] == list(range(len(path)))
    assert len(trace["tree"]) == 1 + 2 * (len(path) - 1)
    with Session(gw.context.engine) as session:
        expected = provenance.holder_path(session, int(path[-1]))
        assert [n.id for n in provenance.ancestors(session, int(path[-1]))] == [int(p) for p in path]
    assert [(s["note_id"], s["event"], s["holder"]) for s in trace["holder_path"]] == [
        (str(s.note_id), s.event, s.holder) for s in expected
    ]
    root = gw.get("s1", f"/v1/notes/{note_id}/provenance").json()
    assert [n["id"] for n in root["ancestors"]] == [note_id]
    assert {n["reference"] for n in root["tree"]} == {"invoice 42"}  # the root's, on every node


def test_a_read_on_a_dropped_connection_is_retried_once(gw: Gateway) -> None:
    calls: list[int] = []

    def flaky(_session: Session) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise DBAPIError(
                "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
            )
        return "read"

    assert gw.context.read(flaky) == "read" and len(calls) == 2

    def broken(_session: Session) -> Any:
        raise DBAPIError("SELECT 1", {}, Exception("syntax"), connection_invalidated=False)

    with pytest.raises(DBAPIError):
        gw.context.read(broken)


def test_a_note_read_is_one_statement_and_provenance_seven_then_two_from_the_cache(gw: Gateway) -> None:
    note_id = gw.active("s1", 1000)
    split = {"parts": [{"to": gw.ids["s2"], "amount": "600"}, {"to": gw.ids["s1"], "amount": "400"}]}
    answer = gw.post("s1", f"/v1/notes/{note_id}/split", split)
    assert answer.status_code == 200
    child = answer.json()["note_ids"][0]
    assert gw.get("s2", f"/v1/notes/{note_id}").status_code == 200  # the caller and members are cached
    engine = gw.context.read_engine or gw.context.engine
    with request_statements(engine) as statements:
        assert gw.get("s2", f"/v1/notes/{note_id}").status_code == 200
        assert len(statements) == 1, statements
        statements.clear()
        assert gw.get("s2", f"/v1/notes/{note_id}/provenance").status_code == 200
        # the caller with the note, the tree's version, the path (ancestors, holder events), the
        # tree's page (nodes, events) and its summary
        assert len(statements) == 7, statements
        statements.clear()
        assert gw.get("s2", f"/v1/notes/{note_id}/provenance").status_code == 200
        # the caller with the note, the tree's version: the rest comes from the cache
        assert len(statements) == 2, statements
        statements.clear()
        assert gw.get("s2", f"/v1/notes/{child}/provenance").status_code == 200
        # another note of the same tree: only its path is rendered, the page and summary are shared
        assert len(statements) == 4, statements
