"""The provenance cache: a part of an answer is served again only while it is still the answer (same
tree version, reference, grace period, overdue window and member ids), never to a caller who may not
see the note, and byte for byte what a fresh rendering gives; the tree's pages and summary are shared
by every note of the tree; ETag / If-None-Match on top of it; the tree paginated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.api.cache.provenance import MAX_TIME, MIN_TIME, CachedPart, ClockWindow, ProvenanceCache
from service.api.notes.provenance import DEFAULT_TREE_LIMIT, MAX_TREE_LIMIT, TreePage, answer
from service.api.notes.queries import read_note
from service.api.notes.schemas import ProvenanceOut
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


def test_a_part_that_lacked_a_member_id_is_rendered_again_once_there_is_one(gw: Gateway) -> None:
    root = gw.active("s1", 1000)
    first = _trace(gw, "s1", root)
    cache = gw.context.provenance
    entry = cache.get(("path", int(root)))
    assert entry is not None and not entry.unknown_addresses
    # as if s2's address had been nobody's when the path was rendered
    cache.put(("path", int(root)), _replace_unknown(entry, [gw.addresses["s2"]]))
    assert _trace(gw, "s1", root).content == first.content
    assert _hits(gw) == (0, 2)
    rendered = cache.get(("path", int(root)))
    assert rendered is not None and not rendered.unknown_addresses
    # an address that is still nobody's keeps the part
    cache.put(("path", int(root)), _replace_unknown(rendered, ["0x" + "12" * 20]))
    assert _trace(gw, "s1", root).content == first.content
    assert _hits(gw) == (1, 2)


def _replace_unknown(entry: CachedPart, unknown: list[str]) -> CachedPart:
    return CachedPart.of(
        version=entry.version,
        reference=entry.reference,
        clock=entry.clock,
        unknown_addresses=unknown,
        root_id=entry.root_id,
        body=entry.body,
        nodes=entry.nodes,
        next_cursor=entry.next_cursor,
    )


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


def test_the_rendered_answer_keeps_the_shape_of_the_answer(gw: Gateway) -> None:
    """ancestors, holder path, the whole small tree with every event, a summary, no next page."""
    root = gw.active("s1", 1000)
    child = _split(gw, "s1", root, [("s2", "600"), ("s1", "400")])[0]
    with Session(gw.context.engine) as session:
        found = read_note(gw.context, session, gw.keys["s2"], child)
        assert found.note is not None
        rendered = answer(
            gw.context, session, found.note, found, TreePage(-1, DEFAULT_TREE_LIMIT), render=True
        )
        assert rendered is not None
        steps = provenance.holder_path(session, int(child))
        ids = session.scalars(select(Event.id).where(Event.root_id == int(root))).all()
    body = json.loads(rendered.body)
    assert ProvenanceOut.model_validate(body).model_dump(mode="json") == body
    assert list(body) == list(ProvenanceOut.model_fields)
    assert [n["id"] for n in body["ancestors"]] == [root, child]
    assert [s["event"] for s in body["holder_path"]] == [s.event for s in steps]
    assert sum(len(n["events"]) for n in body["tree"]) == len(ids)
    assert body["next_cursor"] is None
    shown = {
        "amount_display": "USD 10.00",
        "paid_amount_display": "USD 0.00",
        "written_off_amount_display": "USD 0.00",
    }
    assert body["summary"] == {
        "notes": 3,
        "by_status": [
            {
                "status": "active",
                "notes": 2,
                "amount": "1000",
                "paid_amount": "0",
                "written_off_amount": "0",
                **shown,
            },
            {
                "status": "split",
                "notes": 1,
                "amount": "1000",
                "paid_amount": "0",
                "written_off_amount": "0",
                **shown,
            },
        ],
    }


# ------------------------------------------------------------------ one tree, shared and paginated
def _tree_of_seven(gw: Gateway) -> tuple[str, list[str]]:
    root = gw.active("s1", 1000)
    a, b, c = _split(gw, "s1", root, [("s2", "500"), ("s1", "300"), ("s3", "200")])
    d, e = _split(gw, "s1", b, [("s1", "100"), ("s2", "200")])
    f, g = _split(gw, "s2", a, [("s2", "250"), ("s3", "250")])
    return root, [root, a, b, c, d, e, f, g]


def test_every_note_of_a_tree_shares_its_pages_and_summary(gw: Gateway) -> None:
    root, notes = _tree_of_seven(gw)
    for note_id in notes:
        assert _trace(gw, "auditor", note_id).status_code == 200
    cache = gw.context.provenance
    kinds = sorted(str(key[0]) for key in cache.kept_keys())  # type: ignore[index]
    assert kinds == ["page"] + ["path"] * len(notes) + ["summary"]
    assert cache.get(("page", int(root), -1, DEFAULT_TREE_LIMIT)) is not None
    assert _hits(gw) == (0, len(notes))  # each rendered only its own path
    assert _trace(gw, "auditor", notes[-1]).content == _fresh(gw, "auditor", notes[-1])


def test_the_tree_is_paginated_by_cursor_and_limit(gw: Gateway) -> None:
    _, notes = _tree_of_seven(gw)
    whole = _trace(gw, "s2", notes[-1]).json()
    assert len(whole["tree"]) == 8 and whole["next_cursor"] is None
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        answer = gw.client.get(f"/v1/notes/{notes[-1]}/provenance", params=params, headers=gw.auth("s2"))
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            break
    assert [len(p["tree"]) for p in pages] == [3, 3, 2]
    assert [n for p in pages for n in p["tree"]] == whole["tree"]
    for page in pages:
        assert page["summary"] == whole["summary"] and page["ancestors"] == whole["ancestors"]
        assert page["holder_path"] == whole["holder_path"]
    assert pages[0]["next_cursor"] == pages[0]["tree"][-1]["id"]
    assert whole["summary"]["notes"] == 8


def test_a_page_past_the_end_is_empty(gw: Gateway) -> None:
    root, _ = _tree_of_seven(gw)
    last = _trace(gw, "s1", root).json()["tree"][-1]["id"]
    answer = gw.client.get(f"/v1/notes/{root}/provenance", params={"cursor": last}, headers=gw.auth("s1"))
    assert answer.status_code == 200 and answer.json()["tree"] == [] and answer.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": str(MAX_TREE_LIMIT + 1)}, {"cursor": "12x"}, {"cursor": str(2**64)}],
)
def test_a_bad_page_is_refused_with_422(gw: Gateway, params: dict[str, str]) -> None:
    root = gw.active("s1", 1000)
    answer = gw.client.get(f"/v1/notes/{root}/provenance", params=params, headers=gw.auth("s1"))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_page_of_another_tree_is_never_served_for_a_note(gw: Gateway) -> None:
    """A cursor into another tree gives this tree's page after that id (empty), not the other's."""
    first = gw.active("s1", 1000)
    second = gw.active("s1", 2000)
    assert _trace(gw, "s1", second).status_code == 200
    answer = gw.client.get(f"/v1/notes/{second}/provenance", params={"cursor": first}, headers=gw.auth("s1"))
    assert [n["root_id"] for n in answer.json()["tree"]] in ([], [second])
    assert all(n["root_id"] == second for n in answer.json()["tree"])


# ------------------------------------------------------------------ the cache and its windows
def _entry(body: bytes, block: int = 1) -> CachedPart:
    return CachedPart.of(
        version=TreeVersion(block, 0, "0x" + "00" * 32),
        reference=None,
        clock=ClockWindow(grace=5),
        unknown_addresses=(),
        root_id=1,
        body=body,
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
