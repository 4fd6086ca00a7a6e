"""Reconcile finds every kind of difference between SQL and the chain, and none on a clean index."""

from __future__ import annotations

from sqlalchemy import delete, insert, update

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
