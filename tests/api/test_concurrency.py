"""Concurrent writes against the ASGI app (TestClient from many threads): a note is split once, and an
Idempotency-Key makes a write act once however many copies race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.api.idempotency import REPLAY_HEADER
from service.api.problems import ERRORS_BASE, PROBLEM_JSON
from service.domain import NoteStatus
from tests.api.conftest import Gateway


def _race(n: int, request: Callable[[], Any]) -> list[Any]:
    """`n` copies of `request`, released together from `n` threads."""
    barrier = threading.Barrier(n)

    def one() -> Any:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(one) for _ in range(n)]
        return [f.result(timeout=120) for f in futures]


def _split_body(gw: Gateway) -> dict[str, Any]:
    return {"parts": [{"to": gw.ids["s2"], "amount": "600"}, {"to": gw.ids["s1"], "amount": "400"}]}


def _assert_ledger_matches_sql(gw: Gateway, parent: str, children: list[str]) -> None:
    ledger = gw.context.ledger
    assert ledger.get_note(int(parent)).status is NoteStatus.SPLIT
    assert gw.get("s1", f"/v1/notes/{parent}").json()["status"] == "split"
    for child in children:
        on_chain = ledger.get_note(int(child))
        answer = gw.get("s1", f"/v1/notes/{child}")
        assert answer.status_code == 200, answer.text
        row = answer.json()
        assert row["parent_id"] == parent and row["root_id"] == parent
        assert row["holder"] == on_chain.holder
        assert row["amount"] == str(on_chain.amount)
        assert row["status"] == on_chain.status.name.lower() == "active"
    tree = gw.get("s1", "/v1/notes", root=parent).json()["items"]
    assert sorted(n["id"] for n in tree) == sorted([parent, *children])
    assert gw.context.ledger.tree_size(int(parent)) == len(children) + 1


def test_fifty_concurrent_splits_one_wins(gw: Gateway) -> None:
    note_id = gw.active("s1", "1000")
    body = _split_body(gw)
    answers = _race(50, lambda: gw.post("s1", f"/v1/notes/{note_id}/split", body))

    won = [a for a in answers if a.status_code == 200]
    lost = [a for a in answers if a.status_code != 200]
    assert len(won) == 1, [a.text for a in won]
    assert len(lost) == 49
    for answer in lost:
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)
        problem = answer.json()
        assert problem["type"] == ERRORS_BASE + "note-not-active", problem
        assert problem["status"] == 409

    result = won[0].json()
    assert result["tx_hash"].startswith("0x") and len(result["tx_hash"]) == 66
    children = result["note_ids"]
    assert len(children) == 2 and [n["amount"] for n in result["notes"]] == ["600", "400"]
    _assert_ledger_matches_sql(gw, note_id, children)


def test_same_idempotency_key_ten_times_acts_once(gw: Gateway) -> None:
    note_id = gw.active("s1", "1000")
    body = _split_body(gw)
    path = f"/v1/notes/{note_id}/split"
    answers = _race(10, lambda: gw.post("s1", path, body, **{"Idempotency-Key": "split-once"}))

    done = [a for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code != 200]
    for answer in busy:
        # still being processed by the first: 409 idempotency-key-in-use, retry later
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)
        assert answer.json()["type"] == ERRORS_BASE + "idempotency-key-in-use"
        assert answer.headers["retry-after"]
    originals = [a for a in done if a.headers.get(REPLAY_HEADER) != "true"]
    assert len(originals) == 1, [a.headers for a in done]
    first = originals[0].json()
    assert all(a.json() == first for a in done)

    # a later retry replays the stored answer, without acting again
    again = gw.post("s1", path, body, **{"Idempotency-Key": "split-once"})
    assert again.status_code == 200 and again.headers[REPLAY_HEADER] == "true"
    assert again.json() == first

    _assert_ledger_matches_sql(gw, note_id, first["note_ids"])
    notes = gw.get("auditor", "/v1/notes", obligor=gw.ids["core"], limit=200).json()["items"]
    assert sum(1 for n in notes if n["parent_id"] == note_id) == 2
