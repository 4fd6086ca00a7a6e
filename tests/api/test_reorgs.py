"""Reorganisations seen by the gateway (in-process chain, SQLite): the gateway's chain-keyed rows
roll back with the index, the journal records each one, a replay of a reverted write answers
`reverted-by-reorg`, the next write gets a nonce the chain accepts, every process's "indexed up to"
mark and /metrics see a reorganisation another process rolled back, and `GET /v1/transactions/{hash}`
tells a transaction's fate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest import MonkeyPatch
from sqlalchemy import select

from service.api.app import create_app
from service.api.context import AppContext, build_context
from service.db.gateway_models import NoteReference
from service.db.reorg_models import Reorg, ReorgIdempotencyRecord, ReorgNote, ReorgTransaction
from service.db.session import make_engine
from tests.api.conftest import Gateway
from tests.api.financing import Fin, fin_fixture, fin_template_fixture  # noqa: F401
from tests.api.test_idempotency import Crash, broadcasts, expire_lease, simulate_crash  # noqa: F401
from tests.api.test_settlement_jobs_api import wait_for_job

KEY = "Idempotency-Key"


def see_reorg(gw: Gateway) -> None:
    """Let the index look at the head (in-process indexing runs when a request waits for it)."""
    assert gw.context.wait_indexed(int(gw.chain.w3.eth.block_number))


def issue(gw: Gateway, reference: str, key: str | None = None) -> dict[str, Any]:
    headers = {KEY: key} if key else {}
    answer = gw.post("core", "/v1/notes", gw.issue_body(reference=reference), **headers)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def other_process(gw: Gateway) -> Iterator[AppContext]:
    """A second gateway context on the same database ("another process"), indexing on its own
    (not the in-process sync mode), whose process never rolled anything back."""
    context = build_context(
        gw.context.settings,
        chain=gw.chain,
        engine=make_engine(gw.context.settings.database_url),
        sync_indexing=False,
    )
    try:
        yield context
    finally:
        context.close()


def test_a_reverted_issue_leaves_no_reference_and_its_note_id_is_issued_again_with_a_new_one(
    gw: Gateway,
) -> None:
    snapshot = gw.chain.snapshot()
    first = issue(gw, "invoice A")
    gw.chain.revert(snapshot)
    see_reorg(gw)
    with gw.context.session() as session:
        assert session.get(NoteReference, int(first["note_ids"][0])) is None
    second = issue(gw, "invoice B")
    assert second["note_ids"] == first["note_ids"]
    note = gw.get("core", f"/v1/notes/{second['note_ids'][0]}").json()
    assert note["reference"] == "invoice B"


def test_a_reorg_is_journalled_with_its_transactions_notes_and_idempotency_records(gw: Gateway) -> None:
    head = int(gw.chain.w3.eth.block_number)
    snapshot = gw.chain.snapshot()
    issued = issue(gw, "invoice A", key="journalled")
    gw.chain.revert(snapshot)
    see_reorg(gw)
    with gw.context.session() as session:
        reorg = session.scalars(select(Reorg)).one()
        assert (reorg.fork_block, reorg.old_head, reorg.events_removed) == (head, head + 1, 1)
        txs = session.scalars(select(ReorgTransaction)).all()
        assert [(t.tx_hash, t.block_number, t.note_ids) for t in txs] == [
            (issued["tx_hash"], head + 1, [int(issued["note_ids"][0])])
        ]
        notes = session.scalars(select(ReorgNote)).all()
        assert [(n.note_id, n.removed) for n in notes] == [(int(issued["note_ids"][0]), True)]
        records = session.scalars(select(ReorgIdempotencyRecord)).all()
        assert [(r.member_id, r.key, r.tx_hashes) for r in records] == [
            (gw.ids["core"], "journalled", [issued["tx_hash"]])
        ]


def test_a_replay_of_a_reverted_write_answers_reverted_by_reorg(gw: Gateway) -> None:
    snapshot = gw.chain.snapshot()
    body = gw.issue_body(reference="invoice A")
    issued = gw.post("core", "/v1/notes", body, **{KEY: "reverted"}).json()
    head = int(gw.chain.w3.eth.block_number)
    gw.chain.revert(snapshot)
    see_reorg(gw)
    replay = gw.post("core", "/v1/notes", body, **{KEY: "reverted"})
    assert replay.status_code == 409
    assert replay.headers["content-type"] == "application/problem+json"
    problem = replay.json()
    assert problem["type"].endswith("/reverted-by-reorg")
    assert problem["tx_hashes"] == [issued["tx_hash"]]
    assert problem["fork_block"] == head - 1
    assert "NEW Idempotency-Key" in problem["detail"]


def test_a_write_whose_process_died_after_a_reorg_removed_it_is_not_broadcast_again(
    gw: Gateway,
    monkeypatch: MonkeyPatch,
    broadcasts: list[bytes],  # noqa: F811
) -> None:
    """The attempt's transaction was mined and indexed, then the process died building the answer;
    a reorganisation removed the transaction. The retry answers `reverted-by-reorg` rather than
    broadcasting the recorded transaction again."""
    body = gw.issue_body(reference="invoice A")
    simulate_crash(monkeypatch)
    note_result = "service.api.notes.service.note_result"
    monkeypatch.setattr(note_result, lambda *args: (_ for _ in ()).throw(Crash()))
    snapshot = gw.chain.snapshot()
    assert gw.post("core", "/v1/notes", body, **{KEY: "died"}).status_code == 500
    monkeypatch.undo()
    gw.chain.revert(snapshot)
    see_reorg(gw)
    expire_lease(gw, "core", "died")
    retry = gw.post("core", "/v1/notes", body, **{KEY: "died"})
    assert retry.status_code == 409, retry.text
    assert retry.json()["type"].endswith("/reverted-by-reorg")
    assert len(broadcasts) == 1


def test_the_next_write_after_a_reorg_gets_a_nonce_the_chain_accepts(gw: Gateway) -> None:
    snapshot = gw.chain.snapshot()
    issue(gw, "invoice A")
    issue(gw, "invoice B")  # the core's cached nonce is now two above the snapshot's
    gw.chain.revert(snapshot)
    see_reorg(gw)
    again = issue(gw, "invoice C")
    assert again["indexed"] is True


def test_wait_indexed_in_another_process_does_not_trust_a_block_rolled_back_elsewhere(
    gw: Gateway, other_process: AppContext
) -> None:
    snapshot = gw.chain.snapshot()
    issued = issue(gw, "invoice A")
    block = int(gw.chain.w3.eth.block_number)
    assert other_process.index.wait_indexed(block, 5.0)  # its mark is now at `block`
    gw.chain.revert(snapshot)
    see_reorg(gw)  # rolled back by the first process
    assert issued["indexed"] is True
    assert other_process.index.wait_indexed(block, 0.2) is False


def test_metrics_of_another_process_count_the_reorgs_in_the_journal(
    gw: Gateway, other_process: AppContext
) -> None:
    snapshot = gw.chain.snapshot()
    issue(gw, "invoice A")
    fork = int(gw.chain.w3.eth.block_number) - 1
    gw.chain.revert(snapshot)
    see_reorg(gw)
    with TestClient(create_app(other_process, manage_indexer=False)) as client:
        text = client.get("/metrics").text
    assert "credchain_reorgs_total 1.0" in text
    assert f"credchain_reorg_last_fork_block {float(fork)}" in text
    assert "credchain_indexer_reorgs_total 0.0" in text  # that process rolled nothing back itself


def test_a_settlement_job_whose_batch_a_reorg_removed_fails_and_the_tree_can_be_settled_again(
    fin: Fin,
) -> None:
    root = fin.issue_to("s1", 1_000_000, days=30)
    fin.advance(31)
    snapshot = fin.chain.snapshot()
    answer = fin.post("core", f"/v1/roots/{root}/settle", None, Prefer="respond-async")
    assert answer.status_code == 202, answer.text
    location = answer.headers["Location"]
    assert wait_for_job(fin, location)["status"] == "done"
    fin.chain.revert(snapshot)
    assert fin.context.wait_indexed(int(fin.chain.w3.eth.block_number))
    job = fin.get("core", location).json()
    assert job["status"] == "failed"
    assert job["error"]["type"].endswith("/reverted-by-reorg")
    assert job["error"]["tx_hashes"] == job["tx_hashes"]
    again = fin.post("core", f"/v1/roots/{root}/settle")
    assert again.status_code == 200, again.text
    assert fin.balance("s1") == 1_000_000
