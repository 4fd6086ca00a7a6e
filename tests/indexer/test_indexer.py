"""The indexer on the in-process chain, into SQLite and PostgreSQL: state derived from events,
batches, duplicates, foreign logs, atomicity, adaptive ranges, confirmations, reorganisations."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import CreditGrant, Event, LedgerConfig, Note
from service.domain import MAX_AMOUNT, MemberStatus, NoteStatus, Role
from service.indexer import Outcome, ReorgTooDeep
from service.indexer.source import RpcError, RpcLog
from service.indexer.state import DEFAULT_MAX_TENOR
from service.indexer.store import ConcurrentIndexer, _PostgresWriter, _Writer
from service.ledger.types import SplitPart
from tests.consortium import DAY, DEFAULT_LIMIT, Consortium, new_account
from tests.databases import TestDatabase
from tests.indexer.helpers import (
    WrappedSource,
    assert_reconciled,
    chain_log_count,
    credit,
    event_count,
    make_indexer,
    members,
    notes,
)


def _forget_nonces(c: Consortium) -> None:
    for account in (c.operator, c.core, c.bank, c.auditor, c.outsider, *c.suppliers):
        c.ledger.nonces.forget(account.address)


def test_scenario_state_comes_from_events(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    ledger, op = c.ledger, c.operator
    s0, s1, s2 = c.suppliers
    w3 = c.chain.w3
    indexer = make_indexer(w3, index_db, ledger.address, initial_range=3, max_range=3)

    bank2 = new_account(c.chain)
    ledger.onboard_member(op, bank2.address, Role.FINANCIER)
    ledger.approve_financier(c.core, bank2.address)
    ledger.set_credit_limit(bank2, c.core.address, 5_000_000)
    ledger.set_credit_limit(c.bank, c.core.address, 2_000_000)
    ledger.set_max_tenor(op, 200 * DAY)
    root = c.active_note(1_000_000)
    kids = ledger.split(
        s0,
        root,
        [SplitPart(s1.address, 300_000), SplitPart(s2.address, 300_000), SplitPart(s0.address, 400_000)],
    ).created_note_ids()
    indexer.run_until(retry=False)
    assert indexer.stats.batches > 3
    assert_reconciled(w3, index_db, ledger.address)

    # Second phase: events that change rows written by earlier batches.
    ledger.transfer(s1, kids[0], s2.address)
    ledger.freeze(op, kids[1], b"court order 1")
    ledger.freeze(op, kids[2], b"dispute")
    ledger.unfreeze(op, kids[2])
    grandkids = ledger.split(
        s0, kids[2], [SplitPart(s1.address, 100_000), SplitPart(s1.address, 300_000)]
    ).created_note_ids()
    rejected = c.issue(50_000, to=s1)
    ledger.reject(s1, rejected)
    revoked = c.issue(70_000, to=s2)
    ledger.revoke(c.core, revoked)
    pending = c.issue(10_000, to=s2)
    ledger.suspend_member(op, s0.address)
    ledger.suspend_member(op, s1.address)
    ledger.reinstate_member(op, s1.address)
    ledger.set_member_roles(op, c.auditor.address, Role.AUDITOR | Role.FINANCIER)
    nominee, next_nominee = new_account(c.chain), new_account(c.chain)
    ledger.transfer_operator(op, nominee.address)
    ledger.accept_operator(nominee)
    ledger.transfer_operator(nominee, next_nominee.address)
    bank3 = new_account(c.chain)
    ledger.onboard_member(nominee, bank3.address, Role.FINANCIER)
    approved = ledger.approve_financier(c.core, bank3.address).block_number
    ledger.set_credit_limit(bank3, c.core.address, 900_000)
    withdrawn = ledger.withdraw_financier(c.core, bank3.address).block_number
    indexer.run_until(retry=False)

    rows = notes(index_db)
    maturity = rows[root].maturity
    assert rows[root].status == NoteStatus.SPLIT and rows[root].depth == 0 and rows[root].parent_id is None
    assert (
        rows[root].amount == 1_000_000
        and rows[root].currency == "USD"
        and rows[root].obligor == c.core.address
    )
    assert rows[root].document_hash == "0x" + ledger.get_note(root).document_hash.hex()
    for kid in kids:
        assert (rows[kid].parent_id, rows[kid].root_id, rows[kid].depth) == (root, root, 1)
        assert (rows[kid].obligor, rows[kid].currency, rows[kid].maturity) == (
            c.core.address,
            "USD",
            maturity,
        )
        assert rows[kid].document_hash == rows[root].document_hash
    assert (rows[kids[0]].holder, rows[kids[0]].status, rows[kids[0]].frozen) == (
        s2.address,
        NoteStatus.ACTIVE,
        False,
    )
    assert (rows[kids[1]].holder, rows[kids[1]].frozen) == (s2.address, True)
    assert (rows[kids[2]].status, rows[kids[2]].frozen) == (NoteStatus.SPLIT, False)
    for grandkid, amount in zip(grandkids, (100_000, 300_000), strict=True):
        assert (rows[grandkid].parent_id, rows[grandkid].depth, rows[grandkid].amount) == (kids[2], 2, amount)
        assert rows[grandkid].holder == s1.address and rows[grandkid].root_id == root
    assert rows[rejected].status == NoteStatus.REJECTED
    assert rows[revoked].status == NoteStatus.REVOKED
    assert rows[pending].status == NoteStatus.PENDING and rows[pending].holder == s2.address

    registry = members(index_db)
    assert registry[s0.address].status == MemberStatus.SUSPENDED
    assert registry[s1.address].status == MemberStatus.ACTIVE
    assert registry[c.auditor.address].roles == Role.AUDITOR | Role.FINANCIER
    assert registry[bank2.address].roles == Role.FINANCIER
    limits = credit(index_db)[c.core.address]
    assert (limits.credit_limit, limits.outstanding) == (7_000_000, 1_010_000)
    with index_db.engine.connect() as conn:
        grants = {(g.financier, g.amount, g.approved) for g in conn.execute(select(CreditGrant)).all()}
        ended = conn.execute(select(CreditGrant).where(CreditGrant.financier == bank3.address)).one()
        config = conn.execute(select(LedgerConfig)).one()
        split_event = conn.execute(select(Event).where(Event.name == "NoteSplit")).first()
        issued = conn.execute(select(Event).where(Event.name == "NoteIssued")).first()
        times = {e.block_number: e.block_time for e in conn.execute(select(Event)).all()}
    assert grants == {
        (c.bank.address, 2_000_000, True),
        (bank2.address, 5_000_000, True),
        (bank3.address, 0, False),
    }
    assert (ended.approved_block, ended.updated_block) == (approved, withdrawn)
    assert (config.operator, config.pending_operator, config.max_tenor) == (
        nominee.address,
        next_nominee.address,
        200 * DAY,
    )
    assert split_event is not None and issued is not None
    assert split_event.note_id == kids[0] and split_event.root_id == root
    assert split_event.args == {
        "parentId": str(root),
        "noteId": str(kids[0]),
        "holder": s1.address,
        "rootId": str(root),
        "amount": "300000",
    }
    assert issued.args["currency"] == "0x555344" and issued.args["maturity"] == maturity
    assert issued.args["documentHash"] == rows[root].document_hash
    for number, block_time in times.items():
        assert block_time == w3.eth.get_block(number)["timestamp"]

    assert event_count(index_db) == chain_log_count(w3, ledger.address)
    checkpoint = indexer.store.checkpoint()
    assert checkpoint is not None and checkpoint.events_applied == event_count(index_db)
    assert checkpoint.last_block == w3.eth.block_number
    assert checkpoint.last_block_hash == w3.eth.get_block(checkpoint.last_block)["hash"].to_0x_hex()
    report = assert_reconciled(w3, index_db, ledger.address)
    assert report.notes == len(rows) and report.events == event_count(index_db)


def test_amounts_round_trip_exactly_at_the_maximum(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    big_limit = 2**128 - 1
    c.ledger.set_credit_limit(c.bank, c.core.address, big_limit)
    root = c.active_note(MAX_AMOUNT)
    kids = c.ledger.split(
        c.suppliers[0],
        root,
        [SplitPart(c.suppliers[1].address, 1), SplitPart(c.suppliers[2].address, MAX_AMOUNT - 1)],
    ).created_note_ids()
    make_indexer(c.chain.w3, index_db, c.ledger.address).run_until(retry=False)

    rows = notes(index_db)
    assert [rows[root].amount, rows[kids[0]].amount, rows[kids[1]].amount] == [MAX_AMOUNT, 1, MAX_AMOUNT - 1]
    limits = credit(index_db)[c.core.address]
    assert (limits.credit_limit, limits.outstanding) == (big_limit, MAX_AMOUNT)
    with index_db.engine.connect() as conn:
        above = conn.execute(
            select(Note.id).where(Note.amount > MAX_AMOUNT - 2).order_by(Note.amount)
        ).scalars()
        assert list(above) == [kids[1], root]
        ordered = conn.execute(select(Note.amount).order_by(Note.amount.desc())).scalars().all()
        assert ordered == [MAX_AMOUNT, MAX_AMOUNT - 1, 1]
        issued = conn.execute(select(Event.args).where(Event.name == "NoteIssued")).scalar_one()
    assert issued["amount"] == str(MAX_AMOUNT)
    assert_reconciled(c.chain.w3, index_db, c.ledger.address)


class DuplicatingSource(WrappedSource):
    """Re-delivers the five blocks before each range, and every log twice."""

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        logs = self.inner.get_logs(address, max(0, from_block - 5), to_block)
        return logs + logs[::-1]


def test_duplicate_deliveries_are_harmless(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    root = c.active_note(1_000)
    c.ledger.split(
        c.suppliers[0], root, [SplitPart(c.suppliers[1].address, 1), SplitPart(c.suppliers[2].address, 999)]
    )
    w3 = c.chain.w3
    indexer = make_indexer(w3, index_db, c.ledger.address, initial_range=2, max_range=2)
    indexer.source = DuplicatingSource(indexer.source)
    indexer.run_until(retry=False)
    assert event_count(index_db) == chain_log_count(w3, c.ledger.address)
    assert_reconciled(w3, index_db, c.ledger.address)

    # A whole batch delivered twice: the second copy finds the checkpoint moved and writes nothing.
    c.ledger.transfer(c.suppliers[1], root + 1, c.suppliers[2].address)
    position = indexer._position()
    fetched = indexer._fetch(position, None)
    assert indexer._settle(fetched).outcome is Outcome.APPLIED
    with pytest.raises(ConcurrentIndexer):
        indexer._settle(fetched)
    assert event_count(index_db) == chain_log_count(w3, c.ledger.address)
    assert_reconciled(w3, index_db, c.ledger.address)


class ForeignSource(WrappedSource):
    """Adds, to every non-empty answer, a log of another contract, a log of an unknown event and a
    malformed log of a known event."""

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        logs = self.inner.get_logs(address, from_block, to_block)
        if not logs:
            return logs
        template = logs[0]
        foreign = dict(template, address="0x" + "11" * 20, logIndex="0x3e8")
        unknown = dict(template, topics=["0x" + "ab" * 32, *template["topics"][1:]], logIndex="0x3e9")
        malformed = dict(template, topics=template["topics"][:1], logIndex="0x3ea")
        return [foreign, unknown, malformed, *logs]


def test_foreign_and_unknown_logs_are_ignored(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    c.active_note(1_000)
    w3 = c.chain.w3
    indexer = make_indexer(w3, index_db, c.ledger.address)
    indexer.source = ForeignSource(indexer.source)
    indexer.run_until(retry=False)
    assert indexer.decoder.skipped >= 3
    assert event_count(index_db) == chain_log_count(w3, c.ledger.address)
    with index_db.engine.connect() as conn:
        assert conn.execute(select(Event).where(Event.log_index >= 1000)).first() is None
    assert_reconciled(w3, index_db, c.ledger.address)


def test_a_failing_batch_writes_nothing(
    consortium: Consortium, index_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = consortium
    root = c.active_note(1_000)
    w3 = c.chain.w3
    indexer = make_indexer(w3, index_db, c.ledger.address)
    indexer.run_until(retry=False)
    before = (indexer.store.checkpoint(), event_count(index_db), notes(index_db)[root].status)
    c.ledger.split(
        c.suppliers[0], root, [SplitPart(c.suppliers[1].address, 1), SplitPart(c.suppliers[2].address, 999)]
    )

    def boom(self: Any, rows: Any) -> None:
        raise RuntimeError("database went away mid-batch")

    monkeypatch.setattr(_Writer, "update_notes", boom)
    monkeypatch.setattr(_PostgresWriter, "update_notes", boom)
    with pytest.raises(RuntimeError, match="mid-batch"):
        indexer.sync_once()
    assert (indexer.store.checkpoint(), event_count(index_db), notes(index_db)[root].status) == before
    assert root + 1 not in notes(index_db)

    monkeypatch.undo()
    indexer.run_until(retry=False)
    assert notes(index_db)[root].status == NoteStatus.SPLIT
    assert_reconciled(w3, index_db, c.ledger.address)


class RangeLimitedSource(WrappedSource):
    """A node that refuses eth_getLogs over more than `limit` blocks."""

    def __init__(self, inner: Any, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self.asked: list[int] = []

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        self.asked.append(to_block - from_block + 1)
        if to_block - from_block + 1 > self.limit:
            raise RpcError("eth_getLogs", -32005, f"query exceeds max block range {self.limit}")
        return self.inner.get_logs(address, from_block, to_block)


def test_refused_ranges_are_halved(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    c.active_note(1_000)
    w3 = c.chain.w3
    assert w3.eth.block_number > 10
    indexer = make_indexer(w3, index_db, c.ledger.address, initial_range=64)
    source = RangeLimitedSource(indexer.source, limit=5)
    indexer.source = source
    indexer.run_until(retry=False)
    refused = [blocks for blocks in source.asked if blocks > 5]
    assert refused and source.asked[: len(refused)] == refused, "refusals come first, then no more"
    assert all(later == earlier // 2 for earlier, later in itertools.pairwise(refused))
    assert max(source.asked[len(refused) :]) <= 5
    assert_reconciled(w3, index_db, c.ledger.address)

    stubborn = make_indexer(w3, index_db, c.ledger.address, initial_range=1)
    stubborn.source = RangeLimitedSource(stubborn.source, limit=0)
    c.chain.advance_time(1)
    with pytest.raises(RpcError):
        stubborn.run_until(retry=False)


def test_confirmations_and_lag(consortium: Consortium, index_db: TestDatabase) -> None:
    c = consortium
    c.active_note(1_000)
    w3 = c.chain.w3
    indexer = make_indexer(w3, index_db, c.ledger.address, confirmations=2)
    head = w3.eth.block_number
    assert indexer.run_until(retry=False) == head - 2
    assert indexer.lag() == 2
    c.chain.advance_time(10)
    assert w3.eth.block_number > head
    assert indexer.lag() == w3.eth.block_number - head + 2
    assert indexer.sync_once().outcome is Outcome.APPLIED
    assert indexer.lag() == 2
    assert indexer.sync_once().outcome is Outcome.IDLE


def test_reorg_rolls_back_to_the_fork_and_applies_the_new_branch(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    c = consortium
    ledger, op, chain = c.ledger, c.operator, c.chain
    s0, s1, s2 = c.suppliers
    w3 = chain.w3
    base = c.active_note(1_000)
    frozen = c.active_note(2_000, to=s1)
    indexer = make_indexer(w3, index_db, ledger.address)
    indexer.run_until(retry=False)
    fork = w3.eth.block_number
    snapshot = chain.snapshot()

    # The branch that will be abandoned touches every kind of state.
    ledger.split(s0, base, [SplitPart(s1.address, 600), SplitPart(s2.address, 400)])
    doomed = c.issue(5_000, to=s1)
    ledger.freeze(op, frozen, b"x")
    ledger.suspend_member(op, s2.address)
    ledger.onboard_member(op, c.outsider.address, Role.SUPPLIER)
    ledger.set_credit_limit(c.bank, c.core.address, 123_456_789)
    ledger.set_max_tenor(op, 100 * DAY)
    ledger.transfer_operator(op, s1.address)
    indexer.run_until(retry=False)
    assert_reconciled(w3, index_db, ledger.address)
    assert notes(index_db)[doomed].amount == 5_000

    chain.revert(snapshot)
    _forget_nonces(c)
    ledger.transfer(s0, base, s1.address)
    replaced = c.issue(7_000, to=s2)
    ledger.reject(s2, replaced)
    assert replaced == doomed
    assert w3.eth.block_number < fork + 8

    indexer.run_until(retry=False)
    assert indexer.stats.reorgs == 1
    checkpoint = indexer.store.checkpoint()
    assert checkpoint is not None and checkpoint.last_block == w3.eth.block_number
    rows = notes(index_db)
    assert rows[base].holder == s1.address and rows[base].status == NoteStatus.ACTIVE
    assert base + 1 not in rows and base + 2 not in rows
    assert (rows[replaced].amount, rows[replaced].holder, rows[replaced].status) == (
        7_000,
        s2.address,
        NoteStatus.REJECTED,
    )
    assert rows[frozen].frozen is False
    registry = members(index_db)
    assert registry[s2.address].status == MemberStatus.ACTIVE
    assert c.outsider.address not in registry
    limits = credit(index_db)[c.core.address]
    assert (limits.credit_limit, limits.outstanding) == (10**15, 3_000)
    with index_db.engine.connect() as conn:
        config = conn.execute(select(LedgerConfig)).one()
    assert (config.max_tenor, config.pending_operator) == (DEFAULT_MAX_TENOR, None)
    assert event_count(index_db) == chain_log_count(w3, ledger.address)
    assert checkpoint.events_applied == event_count(index_db)
    assert_reconciled(w3, index_db, ledger.address)


def test_a_reorg_replays_credit_relationships_from_the_remaining_events(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    c = consortium
    ledger, op, chain = c.ledger, c.operator, c.chain
    w3 = chain.w3
    bank2 = new_account(chain)
    ledger.onboard_member(op, bank2.address, Role.FINANCIER)
    ledger.approve_financier(c.core, bank2.address)
    ledger.set_credit_limit(bank2, c.core.address, 40)
    indexer = make_indexer(w3, index_db, ledger.address)
    indexer.run_until(retry=False)
    snapshot = chain.snapshot()

    # Abandoned: the core withdraws bank2 and the bank, then approves the bank again.
    ledger.withdraw_financier(c.core, bank2.address)
    ledger.withdraw_financier(c.core, c.bank.address)
    ledger.approve_financier(c.core, c.bank.address)
    indexer.run_until(retry=False)
    assert_reconciled(w3, index_db, ledger.address)
    assert credit(index_db)[c.core.address].credit_limit == 0

    chain.revert(snapshot)
    _forget_nonces(c)
    ledger.set_credit_limit(bank2, c.core.address, 70)
    for _ in range(3):
        chain.advance_time(1)
    indexer.run_until(retry=False)

    assert indexer.stats.reorgs == 1
    with index_db.engine.connect() as conn:
        grants = {(g.financier, g.amount, g.approved) for g in conn.execute(select(CreditGrant)).all()}
    assert grants == {(c.bank.address, DEFAULT_LIMIT, True), (bank2.address, 70, True)}
    assert credit(index_db)[c.core.address].credit_limit == DEFAULT_LIMIT + 70
    assert_reconciled(w3, index_db, ledger.address)


def test_a_reorg_deeper_than_the_kept_blocks_is_refused(
    consortium: Consortium, index_db: TestDatabase
) -> None:
    c = consortium
    chain, w3 = c.chain, c.chain.w3
    c.active_note(1_000)
    indexer = make_indexer(w3, index_db, c.ledger.address, keep_blocks=2)
    indexer.run_until(retry=False)
    snapshot = chain.snapshot()
    for _ in range(3):
        c.issue(10)
    indexer.run_until(retry=False)
    before = (indexer.store.checkpoint(), event_count(index_db))
    chain.revert(snapshot)
    _forget_nonces(c)
    for _ in range(4):
        chain.advance_time(1)
    with pytest.raises(ReorgTooDeep):
        indexer.run_until(retry=False)
    assert (indexer.store.checkpoint(), event_count(index_db)) == before
