"""Reorganisations and transaction fates on a real node (anvil) and PostgreSQL, with two gateway
contexts as two worker processes: the journal and the gateway's rows rolled back in one PostgreSQL
transaction, the other process's "indexed up to" mark lowered, a replay answering
`reverted-by-reorg`, the next write accepted (shared nonces), and `GET /v1/transactions/{hash}` for a
pending, a mined, a failed, a signed-but-never-broadcast and a dropped transaction."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select

from service.api.context import build_context
from service.db.event_models import DomainEvent
from service.db.gateway_models import IdempotencyRecord, IdempotencyTransaction, NoteReference
from service.db.reorg_models import Reorg
from service.indexer.reconcile import reconcile
from service.ledger.chain import Chain
from tests.api.test_write_path import Api, Ledger, _onboard, ledger  # noqa: F401
from tests.webhooks.support import Receiver, verified, wait_for

pytestmark = pytest.mark.integration
KEY = "Idempotency-Key"


@pytest.fixture
def two_processes(ledger: Ledger) -> Iterator[tuple[Api, Api, dict[str, str]]]:  # noqa: F811
    first = Api(build_context(ledger.settings), {"operator": ledger.operator_key})
    second = Api(build_context(ledger.settings), first.keys)
    try:
        ids: dict[str, str] = {}
        _onboard(first, ids, core="core_enterprise", bank="financier", s1="supplier")
        first.call("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]})
        first.call("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "1000000"})
        yield first, second, ids
    finally:
        first.close()
        second.close()


def _issue_body(anvil: Chain, to: str, reference: str) -> dict[str, Any]:
    return {
        "to": to,
        "amount": "1000",
        "currency": "USD",
        "maturity": datetime.fromtimestamp(anvil.now() + 90 * 86_400, UTC).isoformat(),
        "document_hash": "0x" + uuid.uuid4().hex * 2,
        "reference": reference,
    }


def _rpc(anvil: Chain, method: str, params: list[Any]) -> Any:
    return anvil.w3.provider.make_request(method, params)  # type: ignore[arg-type]


def test_a_reorg_across_two_processes_on_postgresql(
    two_processes: tuple[Api, Api, dict[str, str]], anvil: Chain
) -> None:
    first, second, ids = two_processes
    snapshot = anvil.snapshot()
    body = _issue_body(anvil, ids["s1"], "invoice A")
    answer = first.client.post("/v1/notes", json=body, headers={**_auth(first, "core"), KEY: "k1"})
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    block = issued["block_number"]
    assert second.context.index.wait_indexed(block, 10.0)

    anvil.revert(snapshot)
    while first.context.index_batch() is not None and first.context.indexer.last_block() >= block:
        pass  # the first process rolls the index back
    assert second.context.index.wait_indexed(block, 0.2) is False
    with first.context.session() as session:
        assert session.scalars(select(Reorg.fork_block)).all() == [block - 1]
        assert session.get(NoteReference, int(issued["note_ids"][0])) is None

    fate = second.client.get(f"/v1/transactions/{issued['tx_hash']}", headers=_auth(second, "core")).json()
    assert (fate["state"], fate["reorg"]["fork_block"]) == ("reverted-by-reorg", block - 1)
    replay = second.client.post("/v1/notes", json=body, headers={**_auth(second, "core"), KEY: "k1"})
    assert (replay.status_code, replay.json()["tx_hashes"]) == (409, [issued["tx_hash"]])

    again = first.call("core", "POST", "/v1/notes", _issue_body(anvil, ids["s1"], "invoice B"))
    assert again["note_ids"] == issued["note_ids"] and again["indexed"] is True
    note = second.call("core", "GET", f"/v1/notes/{again['note_ids'][0]}")
    assert note["reference"] == "invoice B"


def _auth(api: Api, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.keys[who]}"}


def _fate(api: Api, who: str, tx_hash: str) -> dict[str, Any]:
    answer = api.client.get(f"/v1/transactions/{tx_hash}", headers=_auth(api, who))
    assert answer.status_code == 200, answer.text
    fate: dict[str, Any] = answer.json()
    return fate


def test_pending_mined_failed_signed_and_dropped(
    two_processes: tuple[Api, Api, dict[str, str]], anvil: Chain
) -> None:
    first, _, ids = two_processes
    account = Account.create()
    _rpc(anvil, "anvil_setBalance", [account.address, hex(10**18)])
    chain_id = int(anvil.w3.eth.chain_id)

    def signed(nonce: int, to: str, data: str = "0x", gas: int = 21_000) -> Any:
        tx = {"chainId": chain_id, "nonce": nonce, "gas": gas, "to": to, "value": 0, "data": data}
        return account.sign_transaction({**tx, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})

    # the gateway signed this one for the core's write, and it never reached the node
    never_sent = signed(0, account.address)
    lost = never_sent.hash.to_0x_hex()
    with first.context.session() as session:
        record = IdempotencyRecord(
            member_id=ids["core"],
            key="lost-broadcast",
            method="POST",
            path="/v1/notes",
            body_sha256="0" * 64,
            transactions=[{"hash": lost, "raw": "0x" + bytes(never_sent.raw_transaction).hex(), "step": {}}],
            expires_at=datetime.now(UTC),
        )
        session.add(record)
        session.flush()
        session.add(IdempotencyTransaction(tx_hash=lost, record_id=record.id))
        session.commit()
    assert _fate(first, "core", lost)["state"] == "signed"
    assert first.client.get(f"/v1/transactions/{lost}", headers=_auth(first, "s1")).status_code == 404

    _rpc(anvil, "evm_setAutomine", [False])
    try:
        taking = signed(0, Account.create().address)  # another transaction with the same nonce
        other = anvil.w3.eth.send_raw_transaction(taking.raw_transaction).to_0x_hex()
        pending = _fate(first, "s1", other)
        assert (pending["state"], pending["block_number"]) == ("pending", None)
        assert _fate(first, "core", lost)["state"] == "dropped"  # its nonce is taken by a pending one
        ledger_address = first.context.ledger.address
        failing = signed(1, ledger_address, data="0xdeadbeef", gas=100_000)
        broken = anvil.w3.eth.send_raw_transaction(failing.raw_transaction).to_0x_hex()
    finally:
        _rpc(anvil, "evm_setAutomine", [True])
    _rpc(anvil, "evm_mine", [])
    mined = _fate(first, "s1", other)
    assert mined["state"] == "mined"  # nothing follows the head in these two "processes"
    assert first.context.wait_indexed(mined["block_number"])
    assert _fate(first, "s1", other)["state"] == "indexed"
    assert _fate(first, "s1", broken)["state"] == "failed"
    dropped = _fate(first, "core", lost)
    assert dropped["state"] == "dropped"
    assert dropped["write"]["idempotency_key"] == "lost-broadcast"


def test_a_reorg_retracts_each_delivered_event_to_the_webhook_receiver(
    ledger: Ledger,  # noqa: F811
    anvil: Chain,
    tmp_path: Path,
) -> None:
    """s1's subscription (a real receiver process) gets the note's events; anvil reverts the blocks
    that made them; the receiver then gets one `event.retracted` per delivered event, naming it,
    every signature verified by `standardwebhooks`; the note is gone from SQL, the originals are
    marked retracted, and reconcile (chain, index and event log) finds no difference."""
    settings = ledger.settings.model_copy(update={"webhook_allow_loopback": True})
    api = Api(build_context(settings), {"operator": ledger.operator_key})
    receiver = Receiver(tmp_path / "requests.jsonl").start()
    try:
        ids: dict[str, str] = {}
        _onboard(api, ids, core="core_enterprise", bank="financier", s1="supplier")
        api.call("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]})
        api.call("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "1000000"})
        sub = api.call("s1", "POST", "/v1/subscriptions", {"url": receiver.url()})
        snapshot = anvil.snapshot()
        issued = api.call("core", "POST", "/v1/notes", _issue_body(anvil, ids["s1"], "invoice A"))
        note_id = issued["note_ids"][0]
        api.call("s1", "POST", f"/v1/notes/{note_id}/accept")
        wait_for(lambda: len(receiver.records()) >= 2, timeout=30)
        delivered = verified(receiver.records(), sub["secret"])
        assert [b["type"] for b in delivered] == ["note.issued", "note.accepted"]

        anvil.revert(snapshot)
        block = issued["block_number"]
        while api.context.index_batch() is not None and api.context.indexer.last_block() >= block:
            pass  # the index rolls the removed blocks back
        wait_for(lambda: len(receiver.records()) >= 4, timeout=30)
        time.sleep(0.5)  # nothing more comes
        bodies = verified(receiver.records(), sub["secret"])
        retractions = bodies[2:]
        assert [b["type"] for b in retractions] == ["event.retracted", "event.retracted"]
        assert [b["retracts"] for b in retractions] == [str(b["seq"]) for b in delivered]
        assert [b["data"]["retracted"]["seq"] for b in retractions] == [str(b["seq"]) for b in delivered]
        assert [b["data"]["retracted"]["tx_hash"] for b in retractions] == [
            b["ledger"]["tx_hash"] for b in delivered
        ]
        assert len({b["id"] for b in bodies}) == 4  # each webhook-id once

        missing = api.client.get(f"/v1/notes/{note_id}", headers=_auth(api, "s1"))
        assert missing.status_code == 404
        with api.context.engine.connect() as conn:
            marks = dict(
                conn.execute(
                    select(DomainEvent.seq, DomainEvent.retracted_by).where(
                        DomainEvent.seq.in_([b["seq"] for b in delivered])
                    )
                ).all()
            )
        assert marks == {b["seq"]: r["seq"] for b, r in zip(delivered, retractions, strict=True)}
        report = reconcile(anvil.w3, api.context.engine, settings.contract_address or "")
        assert report.differences == [], [str(d) for d in report.differences]
        assert report.domain_events > 0
    finally:
        receiver.stop()
        api.close()
