"""Reconcile finds every kind of difference between SQL and the chain, and none on a clean index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update

from service.db.event_models import DomainEvent
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
    # The domain event log's differences (the deleted and invented logs) have their own test.
    found = {d for d in report.differences if d.entity != "domain_event"}
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


def _domain_event_rows(db: TestDatabase) -> list[tuple[int, str, str, int]]:
    """(seq, type, tx_hash, log_index) of every domain event at a ledger position, in order."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(DomainEvent.seq, DomainEvent.type, DomainEvent.tx_hash, DomainEvent.log_index)
            .where(DomainEvent.tx_hash.is_not(None))
            .order_by(DomainEvent.seq)
        ).all()
    return [(int(seq), kind, tx, int(index)) for seq, kind, tx, index in rows]


def test_reconcile_finds_no_domain_event_difference_after_a_normal_flow(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    c = consortium
    s0, s1, s2 = c.suppliers
    root = c.active_note(1_000)
    c.ledger.split(s0, root, [SplitPart(s1.address, 400), SplitPart(s2.address, 600)])
    make_indexer(c.chain.w3, index_db, c.ledger.address).run_until(retry=False)

    report = assert_reconciled(c.chain.w3, index_db, c.ledger.address)
    assert report.domain_events == len(_domain_event_rows(index_db)) > 0
    assert report.as_json()["counts"]["domain_events"] == report.domain_events
    assert f"{report.domain_events} domain events" in report.summary()


def test_reconcile_reports_a_domain_event_whose_position_left_the_index_or_moved_block(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    c = consortium
    root = c.active_note(1_000)
    c.ledger.transfer(c.suppliers[0], root, c.suppliers[1].address)
    make_indexer(c.chain.w3, index_db, c.ledger.address).run_until(retry=False)
    rows = _domain_event_rows(index_db)
    issued = next(r for r in rows if r[1] == "note.issued")
    moved = next(r for r in rows if r[1] == "note.received")
    other_hash = "0x" + "ab" * 32
    with index_db.engine.begin() as conn:
        conn.execute(delete(Event).where(Event.tx_hash == issued[2], Event.log_index == issued[3]))
        conn.execute(update(DomainEvent).where(DomainEvent.seq == moved[0]).values(block_hash=other_hash))

    report = reconcile(c.chain.w3, index_db.engine, c.ledger.address, check_events=False)
    moved_hash = next(
        d.chain
        for d in report.differences
        if isinstance(d, FieldMismatch) and d.entity == "domain_event" and d.field == "block_hash"
    )
    assert set(report.differences) == {
        MissingOnChain("domain_event", f"{issued[0]}@{issued[2]}:{issued[3]}"),
        FieldMismatch(
            "domain_event", f"{moved[0]}@{moved[2]}:{moved[3]}", "block_hash", other_hash, moved_hash
        ),
    }
    assert moved_hash != other_hash


def test_reconcile_reports_an_indexed_contract_event_without_a_live_domain_event(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    """Deleted, or retracted while its block stays: both leave the contract event without one."""
    c = consortium
    root = c.active_note(1_000)
    c.ledger.transfer(c.suppliers[0], root, c.suppliers[1].address)
    make_indexer(c.chain.w3, index_db, c.ledger.address).run_until(retry=False)
    rows = _domain_event_rows(index_db)
    issued = next(r for r in rows if r[1] == "note.issued")
    moved = [r for r in rows if r[2] == next(r for r in rows if r[1] == "note.received")[2]]
    with index_db.engine.begin() as conn:
        conn.execute(delete(DomainEvent).where(DomainEvent.seq == issued[0]))
        conn.execute(
            update(DomainEvent).where(DomainEvent.seq.in_([r[0] for r in moved])).values(retracted_by=10**6)
        )

    report = reconcile(c.chain.w3, index_db.engine, c.ledger.address, check_events=False)
    assert set(report.differences) == {
        MissingInSql("domain_event", f"{issued[2]}:{issued[3]}"),
        *(MissingInSql("domain_event", f"{tx}:{index}") for _, _, tx, index in moved),
    }
    assert report.as_json()["differences"][0]["entity"] == "domain_event"


def test_reconcile_json_names_a_domain_event_in_another_block(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    """What `credchain reconcile --json` prints: the difference with its kind, field and values."""
    c = consortium
    c.active_note(1_000)
    make_indexer(c.chain.w3, index_db, c.ledger.address).run_until(retry=False)
    seq, _, tx, index = _domain_event_rows(index_db)[0]
    with index_db.engine.begin() as conn:
        block = conn.execute(select(DomainEvent.block_number).where(DomainEvent.seq == seq)).scalar_one()
        conn.execute(update(DomainEvent).where(DomainEvent.seq == seq).values(block_number=10**6))

    report = reconcile(c.chain.w3, index_db.engine, c.ledger.address, check_events=False).as_json()
    key = f"{seq}@{tx}:{index}"
    assert report["differences"] == [
        {
            "kind": "field_mismatch",
            "entity": "domain_event",
            "key": key,
            "field": "block_number",
            "sql": str(10**6),
            "chain": str(block),
            "message": f"domain_event {key}: block_number is {10**6!r} in SQL, {block!r} on chain",
        }
    ]
    assert report["counts"]["domain_events"] >= 2 and report["clean"] is False
