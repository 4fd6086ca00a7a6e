"""The indexer on the financing events (discount offers, discounts on and off the ledger, payments
in part and in full, settleRoot batches, off-chain payments, overdue, write-off), into SQLite and
PostgreSQL: each event's effect on SQL, exact amounts, batching and re-delivery, rollback to any
block, reconcile and provenance.

The chain work is done once per module (`flows`) and reverted at its end. It is indexed once per
database kind (`indexed`, read only); tests that change SQL index it into a fresh database
(`fresh`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.db.migrate import upgrade
from service.db.models import (
    DiscountOffer,
    Event,
    LedgerConfig,
    MinPartAmount,
    Note,
    Payment,
    PaymentClaim,
    SettlementToken,
)
from service.db.provenance import holder_path, tree_with_events
from service.domain import MAX_AMOUNT, MAX_SETTLE_BATCH, NoteStatus
from service.indexer.reconcile import FieldMismatch, MissingInSql, MissingOnChain, reconcile
from service.indexer.state import currency_code
from service.indexer.store import ConcurrentIndexer
from service.ledger.chain import Chain
from service.ledger.types import SplitPart, reference_bytes
from tests.consortium import DAY, Consortium
from tests.databases import TestDatabase, _postgres, _sqlite
from tests.indexer.helpers import (
    assert_reconciled,
    chain_log_count,
    credit,
    dump,
    event_count,
    make_indexer,
    notes,
    wipe_index,
)
from tests.indexer.test_indexer import DuplicatingSource

GRACE = 2 * DAY
FINANCING_EVENTS = (
    "GracePeriodChanged",
    "DiscountOffered",
    "DiscountOfferCancelled",
    "DiscountPaymentRecorded",
    "NoteDiscounted",
    "NotePaid",
    "PaymentClaimed",
    "PaymentClaimWithdrawn",
    "NoteOverdue",
    "NoteWrittenOff",
)


def _hex(reference: str) -> str:
    return "0x" + reference_bytes(reference).hex()


@dataclass(frozen=True)
class Flows:
    """What the module's chain work made: note ids, offer ids, transaction hashes, blocks."""

    c: Consortium
    first_block: int
    head: int
    a: int  # split into a1 (s0) and a2 (s1)
    a1: int  # offered and cancelled, then discounted off the ledger ("WIRE-1"); not paid
    a2: int  # discounted in tokens, then paid to the bank in full
    b: int  # paid in part, then the rest
    tree: int  # split into three leaves, all settled by one settleRoot
    leaves: list[int]
    d: int  # an off-chain payment confirmed ("CHQ-1"), another claimed and pending ("CHQ-2")
    f: int  # overdue, then written off
    g: int  # overdue
    m: int  # MAX_AMOUNT: 2^79 paid, overdue, the rest written off
    m2: int  # MAX_AMOUNT: claimed ("CHQ-M2"), then settled by settleRoot
    h: int  # claimed in full ("CHQ-H"), then paid in part in tokens (which ends the claim)
    i: int  # claimed ("CHQ-I"), then the claim withdrawn
    accepted_offer: int
    cancelled_offer: int
    off_chain_offer: int
    open_offer: int
    accept_tx: str
    cancel_tx: str
    off_chain_accept_tx: str
    settle_tx: str


def _forget_nonces(c: Consortium) -> None:
    for account in (c.operator, c.core, c.bank, c.auditor, c.outsider, *c.suppliers):
        c.ledger.nonces.forget(account.address)


def _run_flows(c: Consortium) -> Flows:
    ledger, op, core, bank = c.ledger, c.operator, c.core, c.bank
    s0, s1, s2 = c.suppliers
    first_block = c.chain.w3.eth.block_number + 1
    ledger.set_grace_period(op, GRACE)
    ledger.set_min_part_amount(op, "USD", 1_000)
    ledger.set_credit_limit(bank, core.address, 2**100)
    c.fund_tokens(bank, 10**12)
    c.fund_tokens(core, 2**82)

    a = c.active_note(1_000_000, to=s0, days=30)
    a1, a2 = ledger.split(
        s0, a, [SplitPart(s0.address, 600_000), SplitPart(s1.address, 400_000)]
    ).created_note_ids()
    deadline = c.chain.now() + 10 * DAY
    accepted_offer = ledger.offer_discount(bank, a2, 390_000, deadline).offer_id()
    accept_tx = ledger.accept_discount_offer(s1, accepted_offer).tx_hash
    cancelled_offer = ledger.offer_discount(bank, a1, 580_000, deadline).offer_id()
    cancel_tx = ledger.cancel_discount_offer(bank, cancelled_offer).tx_hash
    off_chain_offer = ledger.offer_discount(bank, a1, 585_000, deadline, off_chain=True).offer_id()
    ledger.record_discount_payment(bank, off_chain_offer, "WIRE-1")
    off_chain_accept_tx = ledger.accept_discount_offer(s0, off_chain_offer).tx_hash

    b = c.active_note(500_000, to=s2, days=30)
    open_offer = ledger.offer_discount(bank, b, 495_000, c.chain.now() + 5 * DAY).offer_id()
    tree = c.active_note(300_000, to=s0, days=30)
    leaves = ledger.split(
        s0,
        tree,
        [SplitPart(s0.address, 100_000), SplitPart(s1.address, 100_000), SplitPart(s2.address, 100_000)],
    ).created_note_ids()
    d = c.active_note(250_000, to=s1, days=30)
    f = c.active_note(70_000, to=s2, days=30)
    g = c.active_note(80_000, to=s0, days=30)
    m = c.active_note(MAX_AMOUNT, to=s1, days=30)
    m2 = c.active_note(MAX_AMOUNT, to=s2, days=30)
    h = c.active_note(60_000, to=s2, days=30)
    i = c.active_note(40_000, to=s0, days=30)

    c.chain.advance_time(31 * DAY)
    ledger.pay(core, b, 200_000)
    ledger.pay(core, b, 300_000)
    settle_tx = ledger.settle_root(core, tree, 0, MAX_SETTLE_BATCH).tx_hash
    ledger.claim_payment(core, d, 100_000, "CHQ-1")
    ledger.confirm_payment(s1, d, 100_000, "CHQ-1")
    ledger.claim_payment(core, d, 50_000, "CHQ-2")
    ledger.pay(core, a2, 400_000)
    ledger.pay(core, m, 2**79)
    ledger.claim_payment(core, m2, MAX_AMOUNT, "CHQ-M2")
    ledger.settle_root(core, m2, 0, 1)
    ledger.claim_payment(core, h, 60_000, "CHQ-H")
    ledger.pay(core, h, 10_000)
    ledger.claim_payment(core, i, 40_000, "CHQ-I")
    ledger.withdraw_payment_claim(core, i)

    c.chain.advance_time(GRACE + DAY)
    for note in (f, g, m):
        ledger.mark_overdue(c.outsider if note == g else s0, note)
    ledger.claim_payment(core, f, 70_000, "CHQ-F")
    ledger.write_off(op, f, "DEFAULT-F")
    ledger.write_off(op, m, "DEFAULT-M")
    ledger.set_min_part_amount(op, "EUR", 500)
    return Flows(
        c=c,
        first_block=first_block,
        head=c.chain.w3.eth.block_number,
        a=a,
        a1=a1,
        a2=a2,
        b=b,
        tree=tree,
        leaves=leaves,
        d=d,
        f=f,
        g=g,
        m=m,
        m2=m2,
        h=h,
        i=i,
        accepted_offer=accepted_offer,
        cancelled_offer=cancelled_offer,
        off_chain_offer=off_chain_offer,
        open_offer=open_offer,
        accept_tx=accept_tx,
        cancel_tx=cancel_tx,
        off_chain_accept_tx=off_chain_accept_tx,
        settle_tx=settle_tx,
    )


@pytest.fixture(scope="module")
def flows(chain: Chain, _deployed: Consortium) -> Iterator[Flows]:
    snapshot = chain.snapshot()
    try:
        yield _run_flows(_deployed)
    finally:
        chain.revert(snapshot)
        _forget_nonces(_deployed)


def _index(flows: Flows, db: TestDatabase) -> None:
    """Index the chain up to the end of the flows, 25 blocks per batch."""
    indexer = make_indexer(flows.c.chain.w3, db, flows.c.ledger.address, initial_range=25, max_range=25)
    indexer.run_until(flows.head, retry=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def indexed(
    request: pytest.FixtureRequest, flows: Flows, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """The flows indexed once into SQLite and once into PostgreSQL (as `empty_db` makes them); the
    tests that use it only read."""
    databases = _sqlite(tmp_path_factory.mktemp("financing")) if request.param == "sqlite" else _postgres()
    db = next(databases)
    try:
        upgrade(db.url, db.schema)
        _index(flows, db)
        yield db
    finally:
        for _ in databases:  # runs the generator's clean-up
            pass


@pytest.fixture
def fresh(flows: Flows, index_db: TestDatabase) -> TestDatabase:
    """The flows indexed into a database of the test's own."""
    _index(flows, index_db)
    return index_db


def _offers(db: TestDatabase) -> dict[int, Any]:
    with db.engine.connect() as conn:
        return {row.id: row for row in conn.execute(select(DiscountOffer)).all()}


def _payments(db: TestDatabase, note_id: int) -> list[Any]:
    with db.engine.connect() as conn:
        query = (
            select(Payment)
            .where(Payment.note_id == note_id)
            .order_by(Payment.block_number, Payment.log_index)
        )
        return list(conn.execute(query).all())


def _events(db: TestDatabase, name: str) -> list[Any]:
    with db.engine.connect() as conn:
        query = select(Event).where(Event.name == name).order_by(Event.block_number, Event.log_index)
        return list(conn.execute(query).all())


# ---------------------------------------------------------------------- each event
def test_every_financing_event_is_stored_under_its_note(flows: Flows, indexed: TestDatabase) -> None:
    for name in FINANCING_EVENTS:
        events = _events(indexed, name)
        assert events, name
        if name != "GracePeriodChanged":
            assert all(e.note_id is not None and e.root_id == e.note_id >> 32 << 32 for e in events), name
    (cancelled,) = _events(indexed, "DiscountOfferCancelled")
    assert (cancelled.note_id, cancelled.root_id, cancelled.tx_hash) == (flows.a1, flows.a, flows.cancel_tx)
    assert {e.note_id for e in _events(indexed, "DiscountOffered")} == {flows.a1, flows.a2, flows.b}
    assert [e.note_id for e in _events(indexed, "GracePeriodChanged")] == [None]
    assert [e.note_id for e in _events(indexed, "SettlementTokenRegistered")] == [None]
    assert event_count(indexed) == chain_log_count(flows.c.chain.w3, flows.c.ledger.address)


def test_grace_period_and_settlement_token_come_from_their_events(
    flows: Flows, indexed: TestDatabase
) -> None:
    with indexed.engine.connect() as conn:
        config = conn.execute(select(LedgerConfig)).one()
        tokens = conn.execute(select(SettlementToken)).all()
    (registered,) = _events(indexed, "SettlementTokenRegistered")
    assert config.grace_period == GRACE
    assert [(t.currency, t.token, t.registered_block) for t in tokens] == [
        ("USD", flows.c.token.address, registered.block_number)
    ]
    assert currency_code(registered.args["currency"]) == "USD"


def test_an_accepted_offer_moves_the_note_to_the_financier(flows: Flows, indexed: TestDatabase) -> None:
    offer = _offers(indexed)[flows.accepted_offer]
    assert (offer.note_id, offer.root_id, offer.financier, offer.holder) == (
        flows.a2,
        flows.a,
        flows.c.bank.address,
        flows.c.suppliers[1].address,
    )
    assert (offer.price, offer.off_chain, offer.status, offer.payment_reference) == (
        390_000,
        False,
        "accepted",
        None,
    )
    assert offer.closed_tx == flows.accept_tx and offer.closed_block > offer.created_block
    assert notes(indexed)[flows.a2].holder == flows.c.bank.address


def test_a_cancelled_offer_is_closed_and_leaves_the_note_alone(flows: Flows, indexed: TestDatabase) -> None:
    offer = _offers(indexed)[flows.cancelled_offer]
    assert (offer.status, offer.closed_tx, offer.price) == ("cancelled", flows.cancel_tx, 580_000)
    (cancelled,) = _events(indexed, "DiscountOfferCancelled")
    assert offer.closed_block == cancelled.block_number


def test_an_off_chain_discount_keeps_its_payment_reference(flows: Flows, indexed: TestDatabase) -> None:
    offer = _offers(indexed)[flows.off_chain_offer]
    assert (offer.off_chain, offer.status, offer.closed_tx) == (True, "accepted", flows.off_chain_accept_tx)
    assert offer.payment_reference == _hex("WIRE-1")
    note = notes(indexed)[flows.a1]
    assert (note.holder, note.status, note.paid_amount) == (flows.c.bank.address, NoteStatus.ACTIVE, 0)


def test_an_unanswered_offer_stays_open(flows: Flows, indexed: TestDatabase) -> None:
    offer = _offers(indexed)[flows.open_offer]
    assert (offer.status, offer.closed_block, offer.closed_tx, offer.note_id) == ("open", None, None, flows.b)


def test_a_partial_then_full_payment_settles_the_note(flows: Flows, indexed: TestDatabase) -> None:
    payments = _payments(indexed, flows.b)
    holder = flows.c.suppliers[2].address
    assert [(p.amount, p.remaining, p.payment_reference, p.holder) for p in payments] == [
        (200_000, 300_000, None, holder),
        (300_000, 0, None, holder),
    ]
    note = notes(indexed)[flows.b]
    assert (note.status, note.paid_amount, note.written_off_amount) == (NoteStatus.SETTLED, 500_000, 0)


def test_a_payment_to_a_financier_who_bought_the_note(flows: Flows, indexed: TestDatabase) -> None:
    (payment,) = _payments(indexed, flows.a2)
    assert (payment.holder, payment.amount, payment.remaining) == (flows.c.bank.address, 400_000, 0)
    assert notes(indexed)[flows.a2].status == NoteStatus.SETTLED


def test_settle_root_pays_every_leaf_in_one_transaction(flows: Flows, indexed: TestDatabase) -> None:
    rows = notes(indexed)
    payments = [p for leaf in flows.leaves for p in _payments(indexed, leaf)]
    assert len(payments) == 3 and {p.tx_hash for p in payments} == {flows.settle_tx}
    assert len({p.log_index for p in payments}) == 3
    assert [(p.holder, p.amount, p.remaining) for p in payments] == [
        (s.address, 100_000, 0) for s in flows.c.suppliers
    ]
    assert all(
        rows[leaf].status == NoteStatus.SETTLED and rows[leaf].paid_amount == 100_000 for leaf in flows.leaves
    )
    assert (rows[flows.tree].status, rows[flows.tree].paid_amount) == (NoteStatus.SPLIT, 0)


def test_a_confirmed_off_chain_payment_uses_up_its_claim(flows: Flows, indexed: TestDatabase) -> None:
    (payment,) = _payments(indexed, flows.d)
    assert (payment.amount, payment.remaining, payment.payment_reference) == (100_000, 150_000, _hex("CHQ-1"))
    note = notes(indexed)[flows.d]
    assert (note.status, note.paid_amount) == (NoteStatus.ACTIVE, 100_000)
    with indexed.engine.connect() as conn:
        claims = conn.execute(select(PaymentClaim)).all()
    assert [(c.note_id, c.amount, c.payment_reference, c.obligor, c.holder) for c in claims] == [
        (flows.d, 50_000, _hex("CHQ-2"), flows.c.core.address, flows.c.suppliers[1].address)
    ]


def _claim_notes(db: TestDatabase) -> set[int]:
    with db.engine.connect() as conn:
        return {int(note_id) for note_id in conn.scalars(select(PaymentClaim.note_id))}


def test_a_payment_in_tokens_ends_a_pending_claim(flows: Flows, indexed: TestDatabase) -> None:
    assert _events(indexed, "PaymentClaimed")[-3].note_id == flows.h
    assert flows.h not in _claim_notes(indexed)
    assert notes(indexed)[flows.h].paid_amount == 10_000


def test_settle_root_ends_a_pending_claim(flows: Flows, indexed: TestDatabase) -> None:
    assert flows.m2 in {e.note_id for e in _events(indexed, "PaymentClaimed")}
    assert flows.m2 not in _claim_notes(indexed)


def test_a_write_off_ends_a_pending_claim(flows: Flows, indexed: TestDatabase) -> None:
    assert flows.f in {e.note_id for e in _events(indexed, "PaymentClaimed")}
    assert flows.f not in _claim_notes(indexed)


def test_a_withdrawn_claim_is_removed(flows: Flows, indexed: TestDatabase) -> None:
    (withdrawn,) = _events(indexed, "PaymentClaimWithdrawn")
    assert (withdrawn.note_id, withdrawn.args["obligor"]) == (flows.i, flows.c.core.address)
    assert flows.i not in _claim_notes(indexed)


def test_min_part_amounts_come_from_their_events(flows: Flows, indexed: TestDatabase) -> None:
    with indexed.engine.connect() as conn:
        rows = conn.execute(select(MinPartAmount).order_by(MinPartAmount.currency)).all()
    blocks = [e.block_number for e in _events(indexed, "MinPartAmountSet")]
    assert [(r.currency, r.amount, r.updated_block) for r in rows] == [
        ("EUR", 500, blocks[1]),
        ("USD", 1_000, blocks[0]),
    ]


def test_overdue_and_written_off_notes(flows: Flows, indexed: TestDatabase) -> None:
    rows = notes(indexed)
    assert (rows[flows.g].status, rows[flows.g].paid_amount) == (NoteStatus.OVERDUE, 0)
    assert (rows[flows.f].status, rows[flows.f].written_off_amount) == (NoteStatus.WRITTEN_OFF, 70_000)


def test_paid_and_written_off_amounts_are_exact_at_the_maximum(flows: Flows, indexed: TestDatabase) -> None:
    rows = notes(indexed)
    assert (rows[flows.m].status, rows[flows.m].paid_amount, rows[flows.m].written_off_amount) == (
        NoteStatus.WRITTEN_OFF,
        2**79,
        2**79 - 1,
    )
    assert (rows[flows.m2].status, rows[flows.m2].paid_amount) == (NoteStatus.SETTLED, MAX_AMOUNT)
    assert [p.amount for p in _payments(indexed, flows.m2)] == [MAX_AMOUNT]
    (written_off,) = [e for e in _events(indexed, "NoteWrittenOff") if e.note_id == flows.m]
    assert written_off.args["amount"] == str(2**79 - 1)
    with indexed.engine.connect() as conn:
        exact = conn.execute(select(Note.id).where(Note.paid_amount == MAX_AMOUNT)).scalars().all()
    assert exact == [flows.m2]


def test_outstanding_credit_equals_the_ledgers(flows: Flows, indexed: TestDatabase) -> None:
    core = flows.c.core.address
    row = credit(indexed)[core]
    live = [n for n in notes(indexed).values() if n.obligor == core and NoteStatus(n.status).is_live]
    by_hand = sum(n.amount - n.paid_amount for n in live)
    assert row.outstanding == by_hand == flows.c.ledger.credit_of(core)[1]
    assert row.credit_limit == 2**100


def test_payment_rows_carry_the_block_time(flows: Flows, indexed: TestDatabase) -> None:
    w3 = flows.c.chain.w3
    with indexed.engine.connect() as conn:
        payments = conn.execute(select(Payment)).all()
    assert len(payments) == len(_events(indexed, "NotePaid")) == 10
    for payment in payments:
        assert payment.block_time == w3.eth.get_block(payment.block_number)["timestamp"]


def test_reconcile_finds_no_difference_after_the_flows(flows: Flows, indexed: TestDatabase) -> None:
    report = assert_reconciled(flows.c.chain.w3, indexed, flows.c.ledger.address)
    assert (report.offers, report.claims, report.tokens) == (4, 1, 1)


# ---------------------------------------------------------------------- batches and rollbacks
def test_small_batches_with_redelivered_logs_give_the_same_sql(flows: Flows, fresh: TestDatabase) -> None:
    expected = dump(fresh)
    wipe_index(fresh)
    w3, contract = flows.c.chain.w3, flows.c.ledger.address
    make_indexer(w3, fresh, contract).run_until(flows.first_block - 1, retry=False)
    indexer = make_indexer(w3, fresh, contract, initial_range=2, max_range=2)
    indexer.source = DuplicatingSource(indexer.source)  # the 5 blocks before each batch again, each log twice
    indexer.run_until(flows.head, retry=False)
    assert indexer.stats.batches > 20
    assert dump(fresh) == expected


def test_a_batch_delivered_twice_is_applied_once(flows: Flows, index_db: TestDatabase) -> None:
    w3 = flows.c.chain.w3
    indexer = make_indexer(w3, index_db, flows.c.ledger.address, initial_range=10_000)
    indexer.run_until(flows.head - 6, retry=False)
    fetched = indexer._fetch(indexer._position(), flows.head)
    indexer._settle(fetched)
    once = dump(index_db)
    with pytest.raises(ConcurrentIndexer):
        indexer._settle(fetched)
    assert dump(index_db) == once
    assert_reconciled(w3, index_db, flows.c.ledger.address)


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
    wipe_index(index_db)  # one block per batch and 25 per batch agree
    _index(flows, index_db)
    assert dump(index_db) == states[flows.head][1]


# ---------------------------------------------------------------------- reconcile and provenance
def test_reconcile_reports_each_financing_difference(flows: Flows, fresh: TestDatabase) -> None:
    c = flows.c
    with fresh.engine.begin() as conn:
        conn.execute(update(Note).where(Note.id == flows.b).values(paid_amount=499_999))
        conn.execute(update(Note).where(Note.id == flows.g).values(status=int(NoteStatus.ACTIVE)))
        conn.execute(update(Note).where(Note.id == flows.m).values(written_off_amount=1))
        conn.execute(update(DiscountOffer).where(DiscountOffer.id == flows.open_offer).values(price=1))
        conn.execute(
            update(DiscountOffer).where(DiscountOffer.id == flows.cancelled_offer).values(status="open")
        )
        conn.execute(delete(DiscountOffer).where(DiscountOffer.id == flows.accepted_offer))
        conn.execute(delete(Payment).where(Payment.note_id == flows.leaves[0]))
        conn.execute(update(PaymentClaim).values(amount=1))
        conn.execute(update(LedgerConfig).values(grace_period=1))
        conn.execute(delete(SettlementToken))

    report = reconcile(c.chain.w3, fresh.engine, c.ledger.address, check_events=False)
    assert set(report.differences) == {
        FieldMismatch("note", str(flows.b), "paid_amount", 499_999, 500_000),
        FieldMismatch("note", str(flows.g), "status", int(NoteStatus.ACTIVE), int(NoteStatus.OVERDUE)),
        FieldMismatch("note", str(flows.m), "written_off_amount", 1, 2**79 - 1),
        FieldMismatch("offer", str(flows.open_offer), "price", 1, 495_000),
        FieldMismatch("offer", str(flows.cancelled_offer), "status", "open", "closed"),
        MissingInSql("offer", str(flows.accepted_offer)),
        FieldMismatch("payment", str(flows.leaves[0]), "total", 0, 100_000),
        FieldMismatch(
            "claim",
            str(flows.d),
            "amount, payment_reference",
            (1, _hex("CHQ-2")),
            "0x" + c.ledger.payment_claim(flows.d).hex(),
        ),
        FieldMismatch("config", c.ledger.address, "grace_period", 1, GRACE),
        MissingInSql("token", "USD"),
    }

    with fresh.engine.begin() as conn:
        conn.execute(delete(PaymentClaim))
    report = reconcile(c.chain.w3, fresh.engine, c.ledger.address, check_events=False)
    assert MissingInSql("claim", str(flows.d)) in report.differences


def test_reconcile_reports_a_different_or_missing_min_part_amount(flows: Flows, fresh: TestDatabase) -> None:
    c = flows.c
    with fresh.engine.begin() as conn:
        conn.execute(update(MinPartAmount).where(MinPartAmount.currency == "EUR").values(amount=1))
        conn.execute(delete(MinPartAmount).where(MinPartAmount.currency == "USD"))
    report = reconcile(c.chain.w3, fresh.engine, c.ledger.address, check_events=False)
    assert set(report.differences) == {
        FieldMismatch("min_part_amount", "EUR", "amount", 1, 500),
        MissingInSql("min_part_amount", "USD"),
    }


def test_reconcile_reports_a_claim_sql_kept_after_a_payment(flows: Flows, fresh: TestDatabase) -> None:
    c = flows.c
    with fresh.engine.begin() as conn:
        conn.execute(
            PaymentClaim.__table__.insert().values(
                note_id=flows.h,
                root_id=flows.h,
                obligor=c.core.address,
                holder=c.suppliers[2].address,
                amount=60_000,
                payment_reference=_hex("CHQ-H"),
                block_number=1,
                tx_hash="0x" + "00" * 32,
            )
        )
    report = reconcile(c.chain.w3, fresh.engine, c.ledger.address, check_events=False)
    assert report.differences == [MissingOnChain("claim", str(flows.h))]


def test_provenance_shows_a_discount_and_a_payment(flows: Flows, indexed: TestDatabase) -> None:
    with Session(indexed.engine) as session:
        whole = tree_with_events(session, flows.a)
        steps = holder_path(session, flows.a2)
        paid = {n.id: (n.paid_amount, n.written_off_amount) for n in whole.nodes}
    assert [e.name for e in whole.events[flows.a2]] == [
        "NoteSplit",
        "DiscountOffered",
        "NoteDiscounted",
        "NotePaid",
    ]
    assert [e.name for e in whole.events[flows.a1]] == [
        "NoteSplit",
        "DiscountOffered",
        "DiscountOfferCancelled",
        "DiscountOffered",
        "DiscountPaymentRecorded",
        "NoteDiscounted",
    ]
    assert (steps[-1].event, steps[-1].previous_holder, steps[-1].holder) == (
        "NoteDiscounted",
        flows.c.suppliers[1].address,
        flows.c.bank.address,
    )
    assert paid == {flows.a: (0, 0), flows.a1: (0, 0), flows.a2: (400_000, 0)}
