"""The indexer on trade evidence and evidence-backed receivables, into SQLite and PostgreSQL: the
registry's logs are indexed with the ledger's; each event's effect on the evidence tables, the
receivables' notes and the obligors' outstanding credit; domain events; rollback to any block;
reconcile, clean and with each kind of difference."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, select, update

from service.db.event_models import DomainEvent
from service.db.evidence_models import EvidenceAttestation, EvidenceRecord, Receivable
from service.db.migrate import upgrade
from service.db.models import Event
from service.domain import NoteStatus, Role
from service.indexer.reconcile import FieldMismatch, MissingOnChain, reconcile
from service.ledger.chain import Chain
from service.ledger.types import EvidenceKind
from tests.consortium import DAY, Consortium, new_account
from tests.databases import TestDatabase, _postgres, _sqlite
from tests.indexer.helpers import (
    assert_reconciled,
    chain_log_count,
    credit,
    dump,
    make_indexer,
    notes,
    wipe_index,
)

SUPPLIER_LIMIT = 5_000_000


@dataclass(frozen=True)
class Flows:
    c: Consortium
    first_block: int
    head: int
    providers: list[LocalAccount]
    order: str
    delivery: str
    acceptance: str
    invoice: str
    invoice2: str
    financed: int  # on `invoice`: discounted to the bank, paid by the supplier at maturity
    converted: int  # on `invoice2`: converted into the core enterprise's note
    core_outstanding_before: int


def _hex(doc: bytes) -> str:
    return "0x" + doc.hex()


def _run_flows(c: Consortium) -> Flows:
    ledger, op, core, bank = c.ledger, c.operator, c.core, c.bank
    s0 = c.suppliers[0]
    first_block = c.chain.w3.eth.block_number + 1
    providers = [new_account(c.chain) for _ in range(2)]
    for provider in providers:
        ledger.onboard_member(op, provider.address, Role.DATA_PROVIDER)
    ledger.approve_financier(s0, bank.address)
    ledger.set_credit_limit(bank, s0.address, SUPPLIER_LIMIT)
    core_outstanding_before = ledger.credit_of(core.address)[1]
    docs = [c.next_document() for _ in range(5)]
    order, delivery, acceptance, invoice, invoice2 = docs
    ledger.register_evidence(s0, order, EvidenceKind.PURCHASE_ORDER, core.address, "USD", 1_000_000)
    ledger.register_evidence(s0, delivery, EvidenceKind.DELIVERY, core.address, None, 0)
    ledger.register_evidence(s0, acceptance, EvidenceKind.ACCEPTANCE, core.address, None, 0)
    ledger.register_evidence(s0, invoice, EvidenceKind.INVOICE, core.address, "USD", 1_000_000)
    ledger.register_evidence(s0, invoice2, EvidenceKind.INVOICE, core.address, "USD", 300_000)
    ledger.attest_evidence(providers[0], delivery)
    ledger.attest_evidence(providers[1], acceptance)
    ledger.attest_evidence(providers[0], invoice)
    ledger.attest_evidence(providers[1], invoice)
    ledger.attest_evidence(providers[0], acceptance)
    ledger.revoke_attestation(providers[1], acceptance)
    ledger.attest_evidence(providers[1], invoice2)
    financed = ledger.originate_receivable(
        s0, invoice, [order, delivery, acceptance], 900_000, c.maturity(30)
    ).created_note_ids()[0]
    converted = ledger.originate_receivable(s0, invoice2, [], 300_000, c.maturity(60)).created_note_ids()[0]
    ledger.convert_receivable(core, converted)
    c.fund_tokens(bank, 870_000)
    offer = ledger.offer_discount(bank, financed, 870_000, c.maturity(10)).offer_id()
    ledger.accept_discount_offer(s0, offer)
    c.fund_tokens(s0, 30_000, approve=900_000)
    c.chain.advance_time(31 * DAY)
    ledger.pay(s0, financed, 900_000)
    return Flows(
        c,
        first_block,
        c.chain.w3.eth.block_number,
        providers,
        _hex(order),
        _hex(delivery),
        _hex(acceptance),
        _hex(invoice),
        _hex(invoice2),
        financed,
        converted,
        core_outstanding_before,
    )


@pytest.fixture(scope="module")
def flows(chain: Chain, _deployed: Consortium) -> Iterator[Flows]:
    snapshot = chain.snapshot()
    try:
        yield _run_flows(_deployed)
    finally:
        chain.revert(snapshot)
        for account in (_deployed.operator, _deployed.core, _deployed.bank, *_deployed.suppliers):
            _deployed.ledger.nonces.forget(account.address)


def _index(flows: Flows, db: TestDatabase, batch: int = 25) -> None:
    indexer = make_indexer(flows.c.chain.w3, db, flows.c.ledger.address, initial_range=batch, max_range=batch)
    indexer.run_until(flows.head, retry=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def indexed(
    request: pytest.FixtureRequest, flows: Flows, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    databases = _sqlite(tmp_path_factory.mktemp("evidence")) if request.param == "sqlite" else _postgres()
    db = next(databases)
    try:
        upgrade(db.url, db.schema)
        _index(flows, db)
        yield db
    finally:
        for _ in databases:
            pass


@pytest.fixture
def fresh(flows: Flows, index_db: TestDatabase) -> TestDatabase:
    _index(flows, index_db)
    return index_db


def _rows(db: TestDatabase, model: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(select(model)).all())


def _records(db: TestDatabase) -> dict[str, Any]:
    return {row.doc_hash: row for row in _rows(db, EvidenceRecord)}


# ---------------------------------------------------------------------- each event
def test_every_registry_log_is_stored_with_the_ledgers(flows: Flows, indexed: TestDatabase) -> None:
    w3 = flows.c.chain.w3
    registry = flows.c.ledger.evidence_registry()
    chain_logs = chain_log_count(w3, flows.c.ledger.address) + chain_log_count(w3, registry)
    with indexed.engine.connect() as conn:
        stored = conn.execute(select(Event.name)).scalars().all()
    assert len(stored) == chain_logs
    assert stored.count("EvidenceRegistered") == 5
    assert stored.count("EvidenceAttested") == 6
    assert stored.count("AttestationRevoked") == 1
    assert stored.count("ReceivableOriginated") == 2
    assert stored.count("ReceivableConverted") == 1


def test_records_keep_kind_amount_live_attesters_and_financing(flows: Flows, indexed: TestDatabase) -> None:
    records = _records(indexed)
    assert set(records) == {flows.order, flows.delivery, flows.acceptance, flows.invoice, flows.invoice2}
    s0, core = flows.c.suppliers[0].address, flows.c.core.address
    invoice = records[flows.invoice]
    assert (invoice.supplier, invoice.buyer, invoice.kind, invoice.currency, invoice.amount) == (
        s0,
        core,
        "invoice",
        "USD",
        1_000_000,
    )
    assert (invoice.attester_count, invoice.financed_note_id) == (2, flows.financed)
    delivery = records[flows.delivery]
    assert (delivery.kind, delivery.currency, delivery.amount, delivery.attester_count) == (
        "delivery",
        None,
        0,
        1,
    )
    assert records[flows.acceptance].attester_count == 1  # two attested, one revoked
    assert records[flows.order].attester_count == 0
    assert records[flows.order].financed_note_id is None
    assert records[flows.invoice2].financed_note_id == flows.converted
    assert records[flows.order].registered_block >= flows.first_block


def test_a_revoked_attestation_keeps_its_row_with_the_revocation(flows: Flows, indexed: TestDatabase) -> None:
    rows = {(r.doc_hash, r.attester): r for r in _rows(indexed, EvidenceAttestation)}
    assert len(rows) == 6
    p0, p1 = (p.address for p in flows.providers)
    revoked = rows[(flows.acceptance, p1)]
    assert revoked.revoked_block is not None and revoked.revoked_block > revoked.attested_block
    assert revoked.revoked_at is not None
    assert rows[(flows.acceptance, p0)].revoked_block is None


def test_receivables_record_the_invoice_supporting_records_and_conversion(
    flows: Flows, indexed: TestDatabase
) -> None:
    rows = {r.note_id: r for r in _rows(indexed, Receivable)}
    financed, converted = rows[flows.financed], rows[flows.converted]
    assert financed.invoice_hash == flows.invoice
    assert financed.supporting == [flows.order, flows.delivery, flows.acceptance]
    assert (financed.attesters_at_origination, financed.converted_block) == (2, None)
    assert (converted.supporting, converted.attesters_at_origination) == ([], 1)
    assert converted.converted_block is not None and converted.converted_at is not None
    assert converted.buyer == flows.c.core.address


def test_receivable_notes_are_ordinary_notes_of_their_obligor(flows: Flows, indexed: TestDatabase) -> None:
    rows = notes(indexed)
    s0 = flows.c.suppliers[0].address
    financed = rows[flows.financed]
    assert (financed.obligor, financed.holder, financed.status) == (
        s0,
        flows.c.bank.address,
        int(NoteStatus.SETTLED),
    )
    assert (financed.paid_amount, financed.document_hash) == (900_000, flows.invoice)
    converted = rows[flows.converted]
    assert (converted.obligor, converted.holder, converted.status) == (
        flows.c.core.address,
        s0,
        int(NoteStatus.ACTIVE),
    )


def test_outstanding_credit_moves_only_by_conversion(flows: Flows, indexed: TestDatabase) -> None:
    rows = credit(indexed)
    s0, core = flows.c.suppliers[0].address, flows.c.core.address
    assert (rows[s0].credit_limit, rows[s0].outstanding) == (SUPPLIER_LIMIT, 0)
    assert rows[core].outstanding == flows.core_outstanding_before + 300_000
    assert (rows[s0].outstanding, rows[core].outstanding) == (
        flows.c.ledger.credit_of(s0)[1],
        flows.c.ledger.credit_of(core)[1],
    )


def test_evidence_and_receivables_make_domain_events(flows: Flows, indexed: TestDatabase) -> None:
    with indexed.engine.connect() as conn:
        rows = conn.execute(
            select(DomainEvent.type, DomainEvent.recipient, DomainEvent.subject, DomainEvent.note_id)
        ).all()
    s0, core = flows.c.suppliers[0].address, flows.c.core.address
    kinds = [r.type for r in rows]
    assert kinds.count("evidence.registered") == 5
    assert kinds.count("evidence.attested") == 6
    assert kinds.count("evidence.attestation_revoked") == 1
    originated = [r for r in rows if r.type == "receivable.originated"]
    assert {(r.recipient, r.subject, r.note_id) for r in originated} == {
        (core, s0, flows.financed),
        (core, s0, flows.converted),
    }
    converted = [r for r in rows if r.type == "receivable.converted"]
    assert [(r.recipient, r.subject, r.note_id) for r in converted] == [(s0, core, flows.converted)]
    attested = [r for r in rows if r.type == "evidence.attested"]
    assert all(r.recipient == s0 for r in attested)


def test_reconcile_finds_no_difference_after_the_flows(flows: Flows, indexed: TestDatabase) -> None:
    assert_reconciled(flows.c.chain.w3, indexed, flows.c.ledger.address)


# ---------------------------------------------------------------------- batches and rollbacks
def test_one_block_per_batch_gives_the_same_sql(flows: Flows, fresh: TestDatabase) -> None:
    expected = dump(fresh)
    wipe_index(fresh)
    _index(flows, fresh, batch=1)
    assert dump(fresh) == expected


def test_rolling_back_to_any_block_restores_that_blocks_sql(flows: Flows, index_db: TestDatabase) -> None:
    indexer = make_indexer(flows.c.chain.w3, index_db, flows.c.ledger.address)
    indexer.run_until(flows.first_block - 1, retry=False)
    states: dict[int, tuple[str, dict[str, list[tuple[Any, ...]]]]] = {}
    for block in range(flows.first_block - 1, flows.head + 1):
        indexer.run_until(block, retry=False)
        checkpoint = indexer.store.checkpoint()
        assert checkpoint is not None and checkpoint.last_block == block
        states[block] = (checkpoint.last_block_hash, dump(index_db))
    last = flows.head
    for block in sorted(states, reverse=True)[1:]:
        block_hash, expected = states[block]
        indexer.store.rollback_to(block, block_hash, expected_last=last)
        last = block
        assert dump(index_db) == expected, f"rolled back to block {block}"
    indexer.run_until(flows.head, retry=False)
    assert dump(index_db) == states[flows.head][1]
    assert_reconciled(flows.c.chain.w3, index_db, flows.c.ledger.address)


# ---------------------------------------------------------------------- reconcile
def test_reconcile_reports_each_evidence_difference(flows: Flows, fresh: TestDatabase) -> None:
    c = flows.c
    p0 = flows.providers[0].address
    with fresh.engine.begin() as conn:
        conn.execute(
            update(EvidenceRecord).where(EvidenceRecord.doc_hash == flows.invoice).values(attester_count=3)
        )
        conn.execute(
            update(EvidenceRecord).where(EvidenceRecord.doc_hash == flows.order).values(financed_note_id=7)
        )
        conn.execute(
            update(EvidenceAttestation)
            .where(EvidenceAttestation.doc_hash == flows.delivery, EvidenceAttestation.attester == p0)
            .values(revoked_block=1)
        )
        conn.execute(
            update(Receivable).where(Receivable.note_id == flows.converted).values(converted_block=None)
        )
        conn.execute(
            update(Receivable).where(Receivable.note_id == flows.financed).values(invoice_hash=flows.order)
        )
        ghost = "0x" + "ab" * 32
        conn.execute(
            EvidenceRecord.__table__.insert().values(
                doc_hash=ghost,
                supplier=c.suppliers[0].address,
                buyer=c.core.address,
                kind="other",
                currency=None,
                amount=0,
                registered_block=1,
                registered_at=_rows(fresh, EvidenceRecord)[0].registered_at,
                attester_count=0,
                financed_note_id=None,
            )
        )
    report = reconcile(c.chain.w3, fresh.engine, c.ledger.address, check_events=False)
    assert set(report.differences) == {
        FieldMismatch("evidence", flows.invoice, "attester_count", 3, 2),
        FieldMismatch("evidence", flows.order, "financed_note_id", 7, None),
        FieldMismatch("attestation", f"{flows.delivery}:{p0}", "state", 2, 1),
        FieldMismatch("receivable", str(flows.converted), "converted", False, True),
        FieldMismatch("receivable", str(flows.financed), "invoice_hash", flows.order, flows.invoice),
        MissingOnChain("evidence", ghost),
    }


def test_reconcile_reports_a_registry_log_missing_in_sql(flows: Flows, fresh: TestDatabase) -> None:
    c = flows.c
    with fresh.engine.begin() as conn:
        conn.execute(delete(Event).where(Event.name == "EvidenceAttested"))
    report = reconcile(c.chain.w3, fresh.engine, c.ledger.address)
    missing = [d for d in report.differences if d.entity == "event"]
    assert len(missing) == 6
