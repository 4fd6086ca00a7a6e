"""Reconcile finds every kind of difference between SQL and the chain, and none on a clean index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, update

from service.db.gateway_models import ApiMember, IdempotencyRecord, NoteReference
from service.db.models import CreditGrant, Event, LedgerConfig, Member, Note, ObligorCredit
from service.indexer.reconcile import FieldMismatch, MissingInSql, MissingOnChain, reconcile
from service.ledger.types import SplitPart
from tests.consortium import Consortium
from tests.databases import TestDatabase
from tests.indexer.helpers import assert_reconciled, make_indexer


def test_reconcile_reports_each_difference(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    s0, s1, s2 = c.suppliers
    root = c.active_note(1_000)
    kids = c.ledger.split(
        s0, root, [SplitPart(s1.address, 400), SplitPart(s2.address, 600)]
    ).created_note_ids()
    w3 = c.chain.w3
    make_indexer(w3, index_db, c.ledger.address).run_until(retry=False)
    assert assert_reconciled(w3, index_db, c.ledger.address).clean

    fake_tx = "0x" + "99" * 32
    with index_db.engine.begin() as conn:
        conn.execute(update(Note).where(Note.id == kids[0]).values(holder=s2.address, frozen=True))
        conn.execute(delete(Note).where(Note.id == kids[1]))
        conn.execute(
            insert(Note).values(
                id=(77 << 32),
                root_id=77 << 32,
                parent_id=None,
                depth=0,
                holder=s0.address,
                obligor=c.core.address,
                amount=5,
                currency="USD",
                maturity=1,
                document_hash="0x" + "00" * 32,
                status=1,
                frozen=False,
                created_block=1,
                created_tx=fake_tx,
                updated_block=1,
            )
        )
        conn.execute(update(Member).where(Member.address == s1.address).values(status=2))
        conn.execute(delete(Member).where(Member.address == c.auditor.address))
        conn.execute(update(ObligorCredit).values(outstanding=1))
        conn.execute(update(CreditGrant).values(amount=3))
        conn.execute(update(LedgerConfig).values(max_tenor=5))
        conn.execute(delete(Event).where(Event.name == "NoteAccepted"))
        conn.execute(
            insert(Event).values(
                block_number=1,
                block_hash="0x" + "00" * 32,
                block_time=0,
                tx_hash=fake_tx,
                log_index=0,
                contract=c.ledger.address,
                name="NoteTransferred",
                note_id=None,
                root_id=None,
                args={},
            )
        )

    report = reconcile(w3, index_db.engine, c.ledger.address)
    found = set(report.differences)
    expected = {
        FieldMismatch("note", str(kids[0]), "holder", s2.address, s1.address),
        FieldMismatch("note", str(kids[0]), "frozen", True, False),
        MissingInSql("note", str(kids[1])),
        MissingOnChain("note", str(77 << 32)),
        FieldMismatch("member", s1.address, "status", 2, 1),
        FieldMismatch("member", "*", "count", 5, 6),
        FieldMismatch("credit", c.core.address, "outstanding", 1, 1_000),
        FieldMismatch("grant", f"{c.bank.address}->{c.core.address}", "amount", 3, 10**15),
        FieldMismatch("config", c.ledger.address, "max_tenor", 5, 365 * 86_400),
        MissingOnChain("event", f"{fake_tx}:0"),
    }
    assert expected <= found
    accepted = [d for d in found - expected if isinstance(d, MissingInSql) and d.entity == "event"]
    assert len(accepted) == 1 and found - expected == set(accepted)
    assert not report.clean and "differences" in report.summary()
    assert all(str(d) for d in report)


def test_an_empty_index_misses_everything(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    c.issue(10)
    report = reconcile(c.chain.w3, index_db.engine, c.ledger.address, check_events=False)
    assert MissingInSql("note", str(1 << 32)) in report.differences
    assert MissingInSql("config", c.ledger.address) in report.differences
    assert FieldMismatch("member", "*", "count", 0, 6) in report.differences


def _api_member(member_id: str, address: str) -> dict[str, object]:
    return {
        "id": member_id,
        "name": member_id,
        "address": address,
        "roles": "supplier",
        "api_key_hash": member_id.ljust(64, "0"),
        "custody": "external",
    }


def _answered(member_id: str, key: str, tx_hash: str, status: int = 200) -> dict[str, object]:
    return {
        "member_id": member_id,
        "key": key,
        "method": "POST",
        "path": "/v1/notes",
        "body_sha256": "0" * 64,
        "status_code": status,
        "response_body": {"tx_hash": tx_hash},
        "expires_at": datetime.now(UTC) + timedelta(days=1),
    }


def test_reconcile_checks_the_gateways_note_references_and_answered_writes(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    """A reference of a note not on chain (or not a root, or issued by another obligor) and a 2xx
    answer naming a transaction the chain does not have are differences; true ones are not."""
    c = consortium
    s0, s1, _ = c.suppliers
    root = c.active_note(1_000)
    split = c.ledger.split(s0, root, [SplitPart(s1.address, 400), SplitPart(s0.address, 600)])
    w3 = c.chain.w3
    make_indexer(w3, index_db, c.ledger.address).run_until(retry=False)
    gone = "0x" + "77" * 32
    with index_db.engine.begin() as conn:
        conn.execute(
            insert(ApiMember).values([_api_member("core", c.core.address), _api_member("s0", s0.address)])
        )
        conn.execute(
            insert(NoteReference).values(
                [
                    {"note_id": root, "reference": "PO-1", "created_by": "core"},
                    {"note_id": 99 << 32, "reference": "PO-2", "created_by": "core"},
                    {"note_id": split.created_note_ids()[0], "reference": "PO-3", "created_by": "core"},
                    {"note_id": root + (1 << 32), "reference": "PO-4", "created_by": "s0"},
                ]
            )
        )
        conn.execute(
            insert(IdempotencyRecord).values(
                [
                    _answered("s0", "mined", split.tx_hash),
                    _answered("s0", "gone", gone),
                    _answered("s0", "refused", gone, status=409),
                ]
            )
        )
    second_root = c.issue(10)
    assert second_root == root + (1 << 32)
    make_indexer(w3, index_db, c.ledger.address).run_until(retry=False)

    report = reconcile(w3, index_db.engine, c.ledger.address)
    assert set(report.differences) == {
        MissingOnChain("note_reference", str(99 << 32)),
        MissingOnChain("note_reference", str(split.created_note_ids()[0])),
        FieldMismatch("note_reference", str(second_root), "obligor", s0.address, c.core.address),
        MissingOnChain("idempotency", f"s0/gone {gone}"),
    }
    assert report.note_references == 4 and report.answered_writes == 2
    assert "4 note references, 2 answered writes" in report.summary()
