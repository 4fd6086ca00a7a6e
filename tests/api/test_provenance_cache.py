"""The provenance cache: an answer is served again only while it is still the answer (same tree
version, reference, grace period, overdue window and member ids), never to a caller who may not see
the note, and byte for byte what a fresh rendering gives; ETag / If-None-Match on top of it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.api.provenance_answer import render_answer, still_the_answer
from service.api.provenance_cache import MAX_TIME, MIN_TIME, CachedProvenance, ClockWindow, ProvenanceCache
from service.api.queries import read_note
from service.db import provenance
from service.db.gateway_models import NoteReference
from service.db.models import Event, LedgerConfig
from service.db.provenance import TreeVersion
from tests.api.conftest import DAY, Gateway
from tests.api.test_flow import problem


def _split(gw: Gateway, who: str, note_id: str, parts: list[tuple[str, str]]) -> list[str]:
    body = {"parts": [{"to": gw.ids[to], "amount": amount} for to, amount in parts]}
    answer = gw.post(who, f"/v1/notes/{note_id}/split", body)
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["note_ids"]
    return ids


def _trace(gw: Gateway, who: str, note_id: str, **headers: str) -> Any:
    return gw.client.get(f"/v1/notes/{note_id}/provenance", headers={**gw.auth(who), **headers})


def _hits(gw: Gateway) -> tuple[float, float]:
    registry = gw.context.metrics.registry
    hit = registry.get_sample_value("credchain_provenance_cache_requests_total", {"result": "hit"}) or 0.0
    miss = registry.get_sample_value("credchain_provenance_cache_requests_total", {"result": "miss"}) or 0.0
    return hit, miss


def _fresh(gw: Gateway, who: str, note_id: str) -> bytes:
    """The answer as rendered from SQL now, bypassing the cache."""
    saved = gw.context.provenance.max_bytes
    gw.context.provenance.max_bytes = 0
    try:
        answer = _trace(gw, who, note_id)
        assert answer.status_code == 200, answer.text
        body: bytes = answer.content
        return body
    finally:
        gw.context.provenance.max_bytes = saved


def test_a_second_read_of_an_unchanged_tree_is_a_cache_hit_with_the_same_bytes(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    child = _split(gw, "s1", root, [("s2", "600"), ("s1", "400")])[0]
    first = _trace(gw, "s2", child)
    assert _hits(gw) == (0, 1)
    second = _trace(gw, "s2", child)
    assert _hits(gw) == (1, 1)
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == "private, no-cache"
    assert second.content == _fresh(gw, "s2", child)


def test_a_split_anywhere_in_the_tree_renders_the_answer_again(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    left, right = _split(gw, "s1", root, [("s2", "600"), ("s1", "400")])
    before = _trace(gw, "s2", left).json()
    assert len(before["tree"]) == 3
    _split(gw, "s1", right, [("s3", "100"), ("s1", "300")])  # a branch the reader does not hold
    after = _trace(gw, "s2", left)
    assert len(after.json()["tree"]) == 5
    assert after.content == _fresh(gw, "s2", left)
    assert _hits(gw) == (0, 2)


def test_a_transfer_of_the_note_itself_shows_at_once(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    assert _trace(gw, "s1", root).json()["tree"][0]["holder_member"] == gw.ids["s1"]
    moved = gw.post("s1", f"/v1/notes/{root}/transfer", {"to": gw.ids["s3"]})
    assert moved.status_code == 200, moved.text
    trace = _trace(gw, "s1", root).json()  # the seller keeps seeing the tree
    assert trace["tree"][0]["holder_member"] == gw.ids["s3"]
    assert [step["event"] for step in trace["holder_path"]][-1] == "NoteTransferred"


def test_the_cache_never_answers_a_caller_who_may_not_see_the_note(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    assert _trace(gw, "auditor", root).status_code == 200  # cached now
    problem(_trace(gw, "s3", root), 404, "note-not-found")
    problem(
        gw.client.get(f"/v1/notes/{root}/provenance", headers={"Authorization": "Bearer nope"}),
        401,
        "unauthorized",
    )
    assert _hits(gw) == (0, 1)


def test_a_changed_reference_renders_the_answer_again(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    assert _trace(gw, "s1", root).json()["tree"][0]["reference"] == "invoice 42"
    with Session(gw.context.engine) as session:
        session.execute(
            update(NoteReference).where(NoteReference.note_id == int(root)).values(reference="invoice 43")
        )
        session.commit()
    assert _trace(gw, "s1", root).json()["tree"][0]["reference"] == "invoice 43"


def test_a_replaced_block_under_the_last_event_renders_the_answer_again(gw: Gateway) -> None:
    """What the index looks like after a reorganisation re-mined the tree's last transaction in
    another block at the same height: same position, another block hash."""
    root = gw.active("s1", 1000)
    first = _trace(gw, "s1", root)
    with Session(gw.context.engine) as session:
        version = provenance.tree_version(session, int(root))
        assert version is not None
        session.execute(
            update(Event)
            .where(Event.root_id == int(root), Event.block_number == version.block_number)
            .values(block_hash="0x" + "ab" * 32)
        )
        session.commit()
    second = _trace(gw, "s1", root)
    assert _hits(gw) == (0, 2)
    assert second.content == first.content  # the events' block hashes are not in the answer


def test_crossing_maturity_plus_grace_turns_the_cached_note_overdue(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    assert _trace(gw, "s1", root).json()["tree"][0]["overdue"] is False
    assert gw.post("operator", "/v1/dev/clock", {"seconds": 94 * DAY}).status_code == 200
    assert _trace(gw, "s1", root).json()["tree"][0]["overdue"] is False  # matured, within grace
    hits, _ = _hits(gw)
    assert hits == 1
    assert gw.post("operator", "/v1/dev/clock", {"seconds": 2 * DAY}).status_code == 200
    trace = _trace(gw, "s1", root).json()
    assert trace["tree"][0]["overdue"] is True and trace["ancestors"][0]["overdue"] is True
    assert _hits(gw) == (1, 2)


def test_a_changed_grace_period_renders_the_answer_again(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    assert gw.post("operator", "/v1/dev/clock", {"seconds": 91 * DAY}).status_code == 200
    assert _trace(gw, "s1", root).json()["tree"][0]["overdue"] is False
    with Session(gw.context.engine) as session:
        session.execute(update(LedgerConfig).values(grace_period=DAY))
        session.commit()
    assert _trace(gw, "s1", root).json()["tree"][0]["overdue"] is True


def test_an_answer_that_lacked_a_member_id_is_rendered_again_once_there_is_one(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    _trace(gw, "s1", root)
    with Session(gw.context.engine) as session:
        found = read_note(gw.context, session, gw.keys["s1"], root)
        assert found.note is not None
        entry = gw.context.provenance.get(found.note.id)
        assert entry is not None and not entry.unknown_addresses
        assert still_the_answer(gw.context, session, entry, found.note, found)
        # as if s2's address had been nobody's when the answer was rendered
        lacking = CachedProvenance.of(
            entry.body,
            version=entry.version,
            reference=entry.reference,
            clock=entry.clock,
            unknown_addresses=[gw.addresses["s2"]],
        )
        assert not still_the_answer(gw.context, session, lacking, found.note, found)
        stranger = "0x" + "12" * 20
        nobody = CachedProvenance.of(
            entry.body,
            version=entry.version,
            reference=entry.reference,
            clock=entry.clock,
            unknown_addresses=[stranger],
        )
        assert still_the_answer(gw.context, session, nobody, found.note, found)


def test_if_none_match_with_the_current_etag_is_answered_304_without_a_body(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    etag = _trace(gw, "s1", root).headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        answer = _trace(gw, "s1", root, **{"If-None-Match": value})
        assert answer.status_code == 304 and answer.content == b"", value
        assert answer.headers["etag"] == etag
    assert _trace(gw, "s1", root, **{"If-None-Match": '"other"'}).status_code == 200


def test_if_none_match_with_an_old_etag_gets_the_new_answer(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    etag = _trace(gw, "s1", root).headers["etag"]
    _split(gw, "s1", root, [("s2", "600"), ("s1", "400")])
    answer = _trace(gw, "s1", root, **{"If-None-Match": etag})
    assert answer.status_code == 200 and answer.headers["etag"] != etag
    assert len(answer.json()["tree"]) == 3


def test_if_none_match_does_not_reveal_a_note_to_a_caller_who_may_not_see_it(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    etag = _trace(gw, "s1", root).headers["etag"]
    problem(_trace(gw, "s3", root, **{"If-None-Match": etag}), 404, "note-not-found")


def test_a_cache_of_zero_bytes_keeps_nothing_and_still_answers_with_an_etag(gw: Gateway) -> None:
    gw.context.provenance.max_bytes = 0
    root = gw.active("s1", 1000)
    answer = _trace(gw, "s1", root)
    assert answer.status_code == 200 and answer.headers["etag"]
    assert len(gw.context.provenance) == 0 and _hits(gw) == (0, 0)


def test_the_rendered_answer_equals_the_one_before_the_cache_existed(gw: Gateway) -> None:
    """render_answer keeps the answer's shape: ancestors, tree with events, holder path."""
    root = gw.active("s1", 1000)
    child = _split(gw, "s1", root, [("s2", "600"), ("s1", "400")])[0]
    with Session(gw.context.engine) as session:
        found = read_note(gw.context, session, gw.keys["s2"], child)
        assert found.note is not None
        entry = render_answer(gw.context, session, found.note, found)
        assert entry.version == provenance.tree_version(session, int(root))
        steps = provenance.holder_path(session, int(child))
        ids = session.scalars(select(Event.id).where(Event.root_id == int(root))).all()
    body = json.loads(entry.body)
    assert [n["id"] for n in body["ancestors"]] == [root, child]
    assert [s["event"] for s in body["holder_path"]] == [s.event for s in steps]
    assert sum(len(n["events"]) for n in body["tree"]) == len(ids)


# ------------------------------------------------------------------ the cache and its windows
def _entry(body: bytes, block: int = 1) -> CachedProvenance:
    return CachedProvenance.of(
        body,
        version=TreeVersion(block, 0, "0x" + "00" * 32),
        reference=None,
        clock=ClockWindow(grace=5),
        unknown_addresses=(),
    )


def test_the_cache_drops_the_least_recently_used_answers_beyond_its_size() -> None:
    cache = ProvenanceCache(max_bytes=40)
    for note_id in (1, 2, 3, 4):
        cache.put(note_id, _entry(b"x" * 10))
    assert cache.get(1) is not None  # 1 is now the most recently used
    cache.put(5, _entry(b"x" * 10))
    assert cache.get(2) is None and cache.get(1) is not None and cache.get(5) is not None
    assert len(cache) == 4 and cache.size_bytes == 40


def test_the_cache_keeps_no_answer_larger_than_a_quarter_of_its_size() -> None:
    cache = ProvenanceCache(max_bytes=40)
    cache.put(1, _entry(b"x" * 11))
    assert cache.get(1) is None and cache.size_bytes == 0


def test_a_replaced_answer_counts_its_bytes_once() -> None:
    cache = ProvenanceCache(max_bytes=40)
    cache.put(1, _entry(b"x" * 10))
    cache.put(1, _entry(b"y" * 4, block=2))
    assert cache.size_bytes == 4 and cache.get(1) == _entry(b"y" * 4, block=2)


def test_the_clock_window_lies_between_the_deadlines_around_now() -> None:
    window = ClockWindow.around(100, 5, [90, 100, 120, 150])
    assert (window.start, window.end) == (100, 120)
    assert window.holds(100, 5) and window.holds(119, 5)
    assert not window.holds(120, 5) and not window.holds(99, 5) and not window.holds(110, 6)
    assert ClockWindow.around(100, 5, []) == ClockWindow(5, MIN_TIME, MAX_TIME)
