"""Writes run on their own bounded threads (`service.api.write_capacity`), answered off the request
thread (`service.api.deferred_write`): a read is served while every write thread is taken, one
write too many is answered 503 `gateway-busy`, a write's errors are still problem+json, and
`Prefer: respond-async` answers 202 once the transaction is broadcast."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.ledger.errors import LedgerUnavailable
from tests.api.conftest import Gateway, _Template, configured_gateway

KEY = "Idempotency-Key"


def split_body(gw: Gateway) -> dict[str, Any]:
    return {"parts": [{"to": gw.ids["s2"], "amount": "600000"}, {"to": gw.ids["s1"], "amount": "400000"}]}


class HeldReceipts:
    """Every transaction the gateway broadcasts waits for `release()` before its receipt is looked
    up (a block that has not come yet); `broadcast` is set when the first one is waiting."""

    def __init__(self, gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
        self.released = threading.Event()
        self.broadcast = threading.Event()
        sender = gw.context.ledger.sender
        receipt = sender._receipt

        def held(tx_hash: str) -> Any:
            self.broadcast.set()
            assert self.released.wait(30)
            return receipt(tx_hash)

        monkeypatch.setattr(sender, "_receipt", held)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def narrow(_template: _Template, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway that runs one write at a time and queues none."""
    with configured_gateway(_template, tmp_path, write_concurrency=1, write_queue=0) as gw:
        yield gw


def problem(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["type"].endswith("/" + slug)
    return body


def test_a_read_is_served_while_every_write_thread_waits_for_its_block(
    narrow: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    note_id = narrow.active()
    held = HeldReceipts(narrow, monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        write: Future[Any] = pool.submit(narrow.post, "s1", f"/v1/notes/{note_id}/split", split_body(narrow))
        assert held.broadcast.wait(10)
        read = narrow.get("s1", f"/v1/notes/{note_id}")
        assert read.status_code == 200, read.text
        assert narrow.context.writes.admitted == 1
        held.release()
        assert write.result(30).status_code == 200


def test_a_write_beyond_the_capacity_is_answered_gateway_busy_with_retry_after(
    narrow: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = narrow.active(), narrow.active()
    held = HeldReceipts(narrow, monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        write: Future[Any] = pool.submit(narrow.post, "s1", f"/v1/notes/{first}/split", split_body(narrow))
        assert held.broadcast.wait(10)
        busy = narrow.post("s1", f"/v1/notes/{second}/split", split_body(narrow))
        held.release()
        assert write.result(30).status_code == 200
    problem(busy, 503, "gateway-busy")
    assert int(busy.headers["Retry-After"]) >= 1
    assert narrow.post("s1", f"/v1/notes/{second}/split", split_body(narrow)).status_code == 200


def test_a_problem_raised_inside_a_write_is_answered_problem_json(gw: Gateway) -> None:
    problem(gw.post("s1", "/v1/notes/999999/split", split_body(gw)), 404, "note-not-found")


def test_a_node_fault_inside_a_write_is_answered_503_problem_json(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    note_id = gw.active()
    sender = gw.context.ledger.sender

    def node_away(tx_hash: str) -> Any:
        raise LedgerUnavailable("connection refused")

    monkeypatch.setattr(sender, "_receipt", node_away)
    answer = gw.post("s1", f"/v1/notes/{note_id}/split", split_body(gw))
    problem(answer, 503, "ledger-unavailable")
    assert "Retry-After" in answer.headers


def test_respond_async_answers_202_with_the_transaction_once_it_is_broadcast(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    note_id = gw.active()
    held = HeldReceipts(gw, monkeypatch)
    headers = {"Prefer": "respond-async", KEY: "async-split"}
    accepted = gw.post("s1", f"/v1/notes/{note_id}/split", split_body(gw), **headers)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "pending"
    assert body["tx_hashes"] == [body["tx_hash"]]
    assert accepted.headers["Location"] == f"/v1/transactions/{body['tx_hash']}"
    assert body["links"]["transaction"] == accepted.headers["Location"]
    assert accepted.headers["Preference-Applied"] == "respond-async"
    problem(
        gw.post("s1", f"/v1/notes/{note_id}/split", split_body(gw), **headers), 409, "idempotency-key-in-use"
    )
    held.release()
    _wait_idle(gw)
    final = gw.post("s1", f"/v1/notes/{note_id}/split", split_body(gw), **headers)
    assert final.status_code == 200, final.text
    assert final.json()["tx_hash"] == body["tx_hash"]
    assert len(final.json()["note_ids"]) == 2
    assert final.headers["Idempotent-Replayed"] == "true"


def test_respond_async_answers_an_error_before_broadcast_as_usual(gw: Gateway) -> None:
    answer = gw.post("s1", "/v1/notes/999999/split", split_body(gw), Prefer="respond-async")
    problem(answer, 404, "note-not-found")
    assert "Preference-Applied" not in answer.headers


def test_without_prefer_a_write_answers_its_final_result(gw: Gateway) -> None:
    note_id = gw.active()
    answer = gw.post("s1", f"/v1/notes/{note_id}/split", split_body(gw))
    assert answer.status_code == 200, answer.text
    assert answer.json()["indexed"] is True
    assert "Preference-Applied" not in answer.headers


def test_the_openapi_of_every_write_route_documents_the_202(gw: Gateway) -> None:
    paths = gw.client.get("/openapi.json").json()["paths"]
    split = paths["/v1/notes/{note_id}/split"]["post"]
    assert split["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "WriteAccepted"
    )
    assert any(p["name"] == "Prefer" for p in split["parameters"])
    assert "202" not in paths["/v1/notes/{note_id}"]["get"]["responses"]


def _wait_idle(gw: Gateway) -> None:
    """Until the background write has finished (its thread released)."""
    for _ in range(300):
        if gw.context.writes.admitted == 0:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the background write did not finish")
