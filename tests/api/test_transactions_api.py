"""GET /v1/transactions/{hash} on the in-process chain (SQLite): indexed, reverted by a
reorganisation, the caller's own write, notes filtered by visibility, 422 and 404."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Gateway

KEY = "Idempotency-Key"


def issue(gw: Gateway, **headers: str) -> dict[str, Any]:
    answer = gw.post("core", "/v1/notes", gw.issue_body(), **headers)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_issued_note_is_indexed_with_its_note_and_the_callers_write(gw: Gateway) -> None:
    issued = issue(gw, **{KEY: "followed"})
    fate = gw.get("core", f"/v1/transactions/{issued['tx_hash'].upper().replace('0X', '0x')}").json()
    assert fate["state"] == "indexed"
    assert fate["hash"] == issued["tx_hash"]
    assert fate["block_number"] == issued["block_number"]
    assert fate["note_ids"] == issued["note_ids"]
    assert fate["write"] == {
        "idempotency_key": "followed",
        "method": "POST",
        "path": "/v1/notes",
        "finished": True,
        "status": 201,
    }


def test_another_member_sees_the_fate_but_neither_the_notes_nor_the_write(gw: Gateway) -> None:
    issued = issue(gw, **{KEY: "private"})
    fate = gw.get("s2", f"/v1/transactions/{issued['tx_hash']}").json()
    assert fate["state"] == "indexed"
    assert fate["note_ids"] == []
    assert fate["write"] is None


def test_a_transaction_a_reorg_removed_is_reverted_by_reorg(gw: Gateway) -> None:
    snapshot = gw.chain.snapshot()
    issued = issue(gw, **{KEY: "gone"})
    gw.chain.revert(snapshot)
    assert gw.context.wait_indexed(int(gw.chain.w3.eth.block_number))
    fate = gw.get("core", f"/v1/transactions/{issued['tx_hash']}").json()
    assert fate["state"] == "reverted-by-reorg"
    assert fate["block_number"] == issued["block_number"]
    assert fate["reorg"]["fork_block"] == issued["block_number"] - 1
    assert fate["reorg"]["old_block"] == issued["block_number"]
    assert fate["note_ids"] == issued["note_ids"]  # the caller's own write: its notes, though gone
    assert gw.get("s2", f"/v1/transactions/{issued['tx_hash']}").json()["note_ids"] == []


def test_a_malformed_hash_is_422(gw: Gateway) -> None:
    answer = gw.get("core", "/v1/transactions/0x1234")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/invalid-transaction-hash")


def test_a_hash_nobody_knows_is_404(gw: Gateway) -> None:
    answer = gw.get("core", "/v1/transactions/0x" + "ab" * 32)
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/transaction-not-found")


def test_the_fate_needs_an_api_key(gw: Gateway) -> None:
    answer = gw.client.get("/v1/transactions/0x" + "ab" * 32)
    assert answer.status_code == 401
