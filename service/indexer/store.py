"""The indexer's SQL side: one transaction per batch, bulk writes, checkpoint, reorg rollback.

`apply_batch` writes a batch's events, the state they cause, the batch's block headers and the new
checkpoint in ONE transaction, after re-reading the checkpoint under a row lock: killed at any
instant, the database holds either the whole batch or none of it, and the next run resumes from
the checkpoint. On PostgreSQL events and new notes go in with COPY and changed notes with one
`UPDATE ... FROM unnest(...)`; elsewhere (SQLite) with executemany.

`rollback_to` undoes everything above a fork block, in one transaction: it deletes the events and
blocks above it and rebuilds what they touched from the events that remain (each affected tree of
notes with its discount offers, payments and payment claims, each affected member, the
configuration and settlement tokens, replayed through the same state machine as the forward path;
credit relationships (grants and approvals) replayed from their remaining events, credit limits
from the latest remaining CreditLimitSet or FinancierWithdrawn; outstanding amounts by
subtracting what the removed events added and adding back what they released).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, bindparam, delete, func, insert, select, update

from service.alerts.hook import evaluate_alerts
from service.db.evidence_models import EvidenceAttestation, EvidenceRecord, Receivable
from service.db.models import (
    Block,
    Checkpoint,
    CreditGrant,
    DiscountOffer,
    Event,
    LedgerConfig,
    Member,
    MinPartAmount,
    Note,
    ObligorCredit,
    Payment,
    PaymentClaim,
    SettlementToken,
)
from service.events.batch import AppliedBatch as AppliedBatch
from service.events.batch import BatchHook as BatchHook
from service.events.derive import derive_domain_events
from service.events.retract import retract_domain_events
from service.indexer.decode import DecodedLog
from service.indexer.reorg_journal import REORGS, RolledBack, record_reorg
from service.indexer.source import BlockHeader
from service.indexer.state import (
    CONFIG_EVENTS,
    CREDIT_EVENTS,
    EVIDENCE_EVENTS,
    LIMIT_EVENTS,
    MEMBER_EVENTS,
    MIN_PART_EVENTS,
    NON_NOTE_EVENTS,
    OUTSTANDING_RELEASES,
    TOKEN_EVENTS,
    EmptyLoader,
    Row,
    StateBatch,
    StoredEvent,
    currency_code,
)

log = logging.getLogger("credchain.indexer")

NOTES: Table = Note.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]
CREDIT: Table = ObligorCredit.__table__  # type: ignore[assignment]
GRANTS: Table = CreditGrant.__table__  # type: ignore[assignment]
CONFIG: Table = LedgerConfig.__table__  # type: ignore[assignment]
BLOCKS: Table = Block.__table__  # type: ignore[assignment]
CHECKPOINT: Table = Checkpoint.__table__  # type: ignore[assignment]
OFFERS: Table = DiscountOffer.__table__  # type: ignore[assignment]
PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
CLAIMS: Table = PaymentClaim.__table__  # type: ignore[assignment]
TOKENS: Table = SettlementToken.__table__  # type: ignore[assignment]
MIN_PARTS: Table = MinPartAmount.__table__  # type: ignore[assignment]
EVIDENCE: Table = EvidenceRecord.__table__  # type: ignore[assignment]
ATTESTATIONS: Table = EvidenceAttestation.__table__  # type: ignore[assignment]
RECEIVABLES: Table = Receivable.__table__  # type: ignore[assignment]

NOTE_COLUMNS = [
    "id",
    "root_id",
    "parent_id",
    "depth",
    "holder",
    "obligor",
    "amount",
    "currency",
    "maturity",
    "document_hash",
    "status",
    "frozen",
    "created_block",
    "created_tx",
    "updated_block",
    "paid_amount",
    "written_off_amount",
]
EVENT_COLUMNS = [
    "block_number",
    "block_hash",
    "block_time",
    "tx_hash",
    "log_index",
    "contract",
    "name",
    "note_id",
    "root_id",
    "args",
]
NOTE_MUTABLE = ("holder", "status", "frozen", "updated_block", "paid_amount", "written_off_amount")
PRUNE_EVERY = 16
"""Blocks older than `keep_blocks` are deleted every this many batches (keeping a few more than
needed is harmless: it only lets deeper reorganisations be undone)."""


RollbackHook = Callable[[Connection, RolledBack], None]
"""Called by `IndexStore.rollback_to` inside the rollback's transaction, after the index's own
tables were rolled back and before the checkpoint moves (e.g. the gateway's tables keyed by chain
ids and the reorganisation journal: `service.indexer.reorg_journal.record_reorg`)."""
DEFAULT_ROLLBACK_HOOKS: tuple[RollbackHook, ...] = (record_reorg, retract_domain_events)


DEFAULT_BATCH_HOOKS: tuple[BatchHook, ...] = (derive_domain_events, evaluate_alerts)
"""The domain event log (`service.events.derive`), then the early-warning rules on what the batch
touched (`service.alerts.hook`), so alert events follow the ledger events that caused them."""


class ConcurrentIndexer(RuntimeError):
    """The checkpoint moved under this indexer: another one writes the same database."""


@dataclass(frozen=True)
class CheckpointState:
    """Where the index stands: the last block fully applied and its hash ("" if unknown)."""

    last_block: int
    last_block_hash: str
    events_applied: int


@dataclass(frozen=True)
class IndexPosition:
    """The checkpoint's last block (None: no checkpoint yet) and the latest reorganisation in the
    journal (its id; 0: none), read together in one statement."""

    last_block: int | None
    latest_reorg: int


@dataclass(frozen=True)
class ReorgSummary:
    """The reorganisations of this contract in the journal: how many, and the latest's fork block."""

    count: int
    last_fork_block: int | None


@dataclass(frozen=True)
class BatchResult:
    events: int
    first_block: int
    last_block: int


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlLoader:
    """Reads current rows for a StateBatch through one connection."""

    def __init__(self, conn: Connection, contract: str) -> None:
        self.conn = conn
        self.contract = contract
        self.chunk = 900 if conn.dialect.name == "sqlite" else 5000

    def notes(self, ids: Collection[int]) -> dict[int, Row]:
        rows: dict[int, Row] = {}
        for chunk in _chunks(sorted(ids), self.chunk):
            for row in self.conn.execute(select(NOTES).where(NOTES.c.id.in_(chunk))).mappings():
                rows[row["id"]] = dict(row)
        return rows

    def members(self, addresses: Collection[str]) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        for chunk in _chunks(sorted(addresses), self.chunk):
            for row in self.conn.execute(select(MEMBERS).where(MEMBERS.c.address.in_(chunk))).mappings():
                rows[row["address"]] = dict(row)
        return rows

    def credit(self, obligors: Collection[str]) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        for chunk in _chunks(sorted(obligors), self.chunk):
            for row in self.conn.execute(select(CREDIT).where(CREDIT.c.obligor.in_(chunk))).mappings():
                rows[row["obligor"]] = dict(row)
        return rows

    def grants(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]:
        obligors = sorted({o for _, o in pairs})
        rows: dict[tuple[str, str], Row] = {}
        for chunk in _chunks(obligors, self.chunk):
            for row in self.conn.execute(select(GRANTS).where(GRANTS.c.obligor.in_(chunk))).mappings():
                key = (row["financier"], row["obligor"])
                if key in pairs:
                    rows[key] = dict(row)
        return rows

    def config(self) -> Row | None:
        row = self.conn.execute(select(CONFIG).where(CONFIG.c.contract == self.contract)).mappings().first()
        return None if row is None else dict(row)

    def offers(self, ids: Collection[int]) -> dict[int, Row]:
        rows: dict[int, Row] = {}
        for chunk in _chunks(sorted(ids), self.chunk):
            for row in self.conn.execute(select(OFFERS).where(OFFERS.c.id.in_(chunk))).mappings():
                rows[row["id"]] = dict(row)
        return rows

    def evidence(self, doc_hashes: Collection[str]) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        for chunk in _chunks(sorted(doc_hashes), self.chunk):
            query = select(EVIDENCE).where(EVIDENCE.c.doc_hash.in_(chunk))
            for row in self.conn.execute(query).mappings():
                rows[row["doc_hash"]] = dict(row)
        return rows

    def attestations(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]:
        rows: dict[tuple[str, str], Row] = {}
        for chunk in _chunks(sorted({d for d, _ in keys}), self.chunk):
            query = select(ATTESTATIONS).where(ATTESTATIONS.c.doc_hash.in_(chunk))
            for row in self.conn.execute(query).mappings():
                key = (row["doc_hash"], row["attester"])
                if key in keys:
                    rows[key] = dict(row)
        return rows

    def receivables(self, note_ids: Collection[int]) -> dict[int, Row]:
        rows: dict[int, Row] = {}
        for chunk in _chunks(sorted(note_ids), self.chunk):
            query = select(RECEIVABLES).where(RECEIVABLES.c.note_id.in_(chunk))
            for row in self.conn.execute(query).mappings():
                rows[row["note_id"]] = dict(row)
        return rows


# ---------------------------------------------------------------------- writers
class _Writer:
    """Bulk writes through SQLAlchemy Core (any dialect)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_events(self, contract: str, events: Sequence[DecodedLog], times: dict[int, int]) -> None:
        if not events:
            return
        self.conn.execute(
            insert(EVENTS),
            [
                {
                    "block_number": e.block_number,
                    "block_hash": e.block_hash,
                    "block_time": times[e.block_number],
                    "tx_hash": e.tx_hash,
                    "log_index": e.log_index,
                    "contract": contract,
                    "name": e.name,
                    "note_id": e.note_id,
                    "root_id": e.root_id,
                    "args": e.args,
                }
                for e in events
            ],
        )

    def insert_notes(self, rows: Sequence[Row]) -> None:
        if rows:
            self.conn.execute(insert(NOTES), list(rows))

    def update_notes(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        stmt = (
            update(NOTES)
            .where(NOTES.c.id == bindparam("b_id"))
            .values({c: bindparam("b_" + c) for c in NOTE_MUTABLE})
        )
        self.conn.execute(stmt, [{"b_" + k: r[k] for k in ("id", *NOTE_MUTABLE)} for r in rows])

    def upsert(self, table: Table, inserts: Sequence[Row], updates: Sequence[Row]) -> None:
        if inserts:
            self.conn.execute(insert(table), list(inserts))
        if updates:
            keys = [c.name for c in table.primary_key.columns]
            others = [c.name for c in table.columns if c.name not in keys]
            stmt = (
                update(table)
                .where(and_(*(table.c[k] == bindparam("b_" + k) for k in keys)))
                .values({c: bindparam("b_" + c) for c in others})
            )
            self.conn.execute(stmt, [{"b_" + k: v for k, v in r.items()} for r in updates])

    def replace(self, table: Table, key: str, keys: Sequence[Any], rows: Sequence[Row]) -> None:
        """Delete the rows of `keys` (column `key`), then insert `rows`."""
        for chunk in _chunks(keys, 900):
            self.conn.execute(delete(table).where(table.c[key].in_(chunk)))
        if rows:
            self.conn.execute(insert(table), list(rows))

    def insert_rows(self, table: Table, rows: Sequence[Row]) -> None:
        if rows:
            self.conn.execute(insert(table), list(rows))


class _SqliteWriter(_Writer):
    """Events through the driver directly: their JSON is already rendered."""

    def insert_events(self, contract: str, events: Sequence[DecodedLog], times: dict[int, int]) -> None:
        if not events:
            return
        placeholders = ", ".join("?" for _ in EVENT_COLUMNS)
        self.conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders})",
            [
                (
                    e.block_number,
                    e.block_hash,
                    times[e.block_number],
                    e.tx_hash,
                    e.log_index,
                    contract,
                    e.name,
                    e.note_id,
                    e.root_id,
                    e.args_json,
                )
                for e in events
            ],
        )


def _copy_text(value: str) -> str:
    """A string as a field of COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_nullable(value: int | None) -> str:
    return "\\N" if value is None else str(value)


class _PostgresWriter(_Writer):
    """COPY (text format, rendered here) for the big inserts, one unnest UPDATE for changed notes."""

    def _copy(self, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
        raw: Any = self.conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            buffer: list[str] = []
            for line in lines:
                buffer.append(line)
                if len(buffer) >= 2_000:
                    copy.write("".join(buffer))
                    buffer.clear()
            if buffer:
                copy.write("".join(buffer))

    def insert_events(self, contract: str, events: Sequence[DecodedLog], times: dict[int, int]) -> None:
        if not events:
            return
        contract = _copy_text(contract)
        self._copy(
            "events",
            EVENT_COLUMNS,
            (
                f"{e.block_number}\t{e.block_hash}\t{times[e.block_number]}\t{e.tx_hash}\t{e.log_index}\t"
                f"{contract}\t{e.name}\t{_copy_nullable(e.note_id)}\t{_copy_nullable(e.root_id)}\t"
                f"{_copy_text(e.args_json)}\n"
                for e in events
            ),
        )

    def insert_notes(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        self._copy(
            "notes",
            NOTE_COLUMNS,
            (
                f"{r['id']}\t{r['root_id']}\t{_copy_nullable(r['parent_id'])}\t{r['depth']}\t{r['holder']}\t"
                f"{r['obligor']}\t{r['amount']}\t{_copy_text(r['currency'])}\t{r['maturity']}\t"
                f"{r['document_hash']}\t{r['status']}\t{'t' if r['frozen'] else 'f'}\t{r['created_block']}\t"
                f"{r['created_tx']}\t{r['updated_block']}\t{r['paid_amount']}\t{r['written_off_amount']}\n"
                for r in rows
            ),
        )

    def update_notes(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        raw: Any = self.conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(
                "UPDATE notes AS n SET holder = v.holder, status = v.status, frozen = v.frozen, "
                "updated_block = v.updated_block, paid_amount = v.paid_amount, "
                "written_off_amount = v.written_off_amount "
                "FROM unnest(%s::bigint[], %s::varchar[], %s::int[], %s::bool[], %s::bigint[], "
                "%s::text[]::numeric[], %s::text[]::numeric[]) "
                "AS v(id, holder, status, frozen, updated_block, paid_amount, written_off_amount) "
                "WHERE n.id = v.id",
                [
                    [r["id"] for r in rows],
                    [r["holder"] for r in rows],
                    [r["status"] for r in rows],
                    [r["frozen"] for r in rows],
                    [r["updated_block"] for r in rows],
                    [str(r["paid_amount"]) for r in rows],
                    [str(r["written_off_amount"]) for r in rows],
                ],
            )


def _writer(conn: Connection) -> _Writer:
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _PostgresWriter(conn)
    if conn.dialect.name == "sqlite":
        return _SqliteWriter(conn)
    return _Writer(conn)


def _write_evidence(writer: _Writer, state: StateBatch) -> None:
    """Evidence records, attestations and receivables a batch made or changed, and the obligor of
    each converted receivable's root."""
    writer.upsert(EVIDENCE, state.evidence.inserts(), state.evidence.updates())
    writer.upsert(ATTESTATIONS, state.attestations.inserts(), state.attestations.updates())
    writer.upsert(RECEIVABLES, state.receivables.inserts(), state.receivables.updates())
    for note_id, obligor in state.obligor_changes.items():
        if note_id not in state.notes.new:  # a note created in the batch went in with its obligor
            writer.conn.execute(update(NOTES).where(NOTES.c.id == note_id).values(obligor=obligor))


def _write_financing(writer: _Writer, state: StateBatch) -> None:
    """Discount offers, payments, payment claims and settlement tokens a batch (or replay) made."""
    writer.upsert(OFFERS, state.offers.inserts(), state.offers.updates())
    writer.insert_rows(PAYMENTS, state.payments)
    if state.claims.rows:
        writer.replace(CLAIMS, "note_id", state.claims.keys(), state.claims.inserts())
    if state.tokens.rows:
        writer.replace(TOKENS, "currency", state.tokens.keys(), state.tokens.inserts())
    if state.min_parts.rows:
        writer.replace(MIN_PARTS, "currency", state.min_parts.keys(), state.min_parts.inserts())


# ---------------------------------------------------------------------- the store
class IndexStore:
    """The index of one ledger contract in one database."""

    def __init__(
        self,
        engine: Engine,
        contract: str,
        *,
        keep_blocks: int = 128,
        rollback_hooks: Sequence[RollbackHook] = DEFAULT_ROLLBACK_HOOKS,
        batch_hooks: Sequence[BatchHook] = DEFAULT_BATCH_HOOKS,
    ) -> None:
        self.engine = engine
        self.contract = contract
        self.keep_blocks = keep_blocks
        self.rollback_hooks = tuple(rollback_hooks)
        self.batch_hooks = tuple(batch_hooks)
        self._batches = 0

    # ------------------------------------------------------------------ checkpoint
    def checkpoint(self) -> CheckpointState | None:
        with self.engine.connect() as conn:
            return self._read_checkpoint(conn)

    def position(self) -> IndexPosition:
        """The checkpoint's last block and the journal's latest reorganisation, in one statement
        (a primary-key look-up and an index-only max)."""
        latest = select(func.coalesce(func.max(REORGS.c.id), 0)).scalar_subquery()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(CHECKPOINT.c.last_block, latest).where(CHECKPOINT.c.contract == self.contract)
            ).first()
            if row is None:
                return IndexPosition(None, int(conn.execute(select(latest)).scalar_one()))
        return IndexPosition(int(row[0]), int(row[1]))

    def reorgs(self) -> ReorgSummary:
        """How many reorganisations of this contract the journal holds, and the latest's fork block."""
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(REORGS).where(REORGS.c.contract == self.contract)
            ).scalar_one()
            fork = conn.execute(
                select(REORGS.c.fork_block)
                .where(REORGS.c.contract == self.contract)
                .order_by(REORGS.c.id.desc())
                .limit(1)
            ).scalar()
        return ReorgSummary(int(count), None if fork is None else int(fork))

    def _read_checkpoint(self, conn: Connection) -> CheckpointState | None:
        row = (
            conn.execute(select(CHECKPOINT).where(CHECKPOINT.c.contract == self.contract)).mappings().first()
        )
        if row is None:
            return None
        return CheckpointState(row["last_block"], row["last_block_hash"], row["events_applied"])

    def _lock_checkpoint(self, conn: Connection, expected_last: int | None) -> CheckpointState | None:
        """Take the checkpoint row's write lock (a no-op update: a row lock on PostgreSQL, the write
        lock on SQLite) and check that nobody moved it since this indexer read it."""
        row = (
            conn.execute(
                update(CHECKPOINT)
                .where(CHECKPOINT.c.contract == self.contract)
                .values(events_applied=CHECKPOINT.c.events_applied)
                .returning(CHECKPOINT.c.last_block, CHECKPOINT.c.last_block_hash, CHECKPOINT.c.events_applied)
            )
            .mappings()
            .first()
        )
        current = (
            None
            if row is None
            else CheckpointState(row["last_block"], row["last_block_hash"], row["events_applied"])
        )
        current_last = None if current is None else current.last_block
        if current_last != expected_last:
            raise ConcurrentIndexer(
                f"checkpoint of {self.contract} is at {current_last}, expected {expected_last}"
            )
        return current

    def _write_checkpoint(
        self, conn: Connection, current: CheckpointState | None, last_block: int, last_hash: str, added: int
    ) -> None:
        if current is None:
            conn.execute(
                insert(CHECKPOINT).values(
                    contract=self.contract,
                    last_block=last_block,
                    last_block_hash=last_hash,
                    events_applied=added,
                )
            )
        else:
            conn.execute(
                update(CHECKPOINT)
                .where(CHECKPOINT.c.contract == self.contract)
                .values(
                    last_block=last_block,
                    last_block_hash=last_hash,
                    events_applied=current.events_applied + added,
                )
            )

    # ------------------------------------------------------------------ forward
    def apply_batch(
        self,
        events: Sequence[DecodedLog],
        headers: dict[int, BlockHeader],
        first_block: int,
        last: BlockHeader,
        expected_last: int | None,
    ) -> BatchResult:
        """Apply the events of blocks `first_block..last.number` with their headers and move the
        checkpoint to `last`, all in one transaction. `expected_last` is the checkpoint the batch
        was fetched after (None: no checkpoint yet); if it moved, nothing is written."""
        times = {n: h.timestamp for n, h in headers.items()}
        with self.engine.begin() as conn:
            current = self._lock_checkpoint(conn, expected_last)
            state = StateBatch(self.contract, block_times=times)
            state.preload(events, SqlLoader(conn, self.contract))
            state.apply_all(events)
            writer = _writer(conn)
            writer.insert_events(self.contract, events, times)
            writer.insert_notes(state.notes.inserts())
            writer.update_notes(state.notes.updates())
            writer.upsert(MEMBERS, state.members.inserts(), state.members.updates())
            writer.upsert(CREDIT, state.credit.inserts(), state.credit.updates())
            writer.upsert(GRANTS, state.grants.inserts(), state.grants.updates())
            writer.upsert(CONFIG, state.config.inserts(), state.config.updates())
            _write_financing(writer, state)
            _write_evidence(writer, state)
            applied = AppliedBatch(self.contract, events, times, first_block, last.number, state)
            for hook in self.batch_hooks:
                hook(conn, applied)
            new_blocks = [
                {"number": h.number, "hash": h.hash, "parent_hash": h.parent_hash, "timestamp": h.timestamp}
                for n, h in sorted(headers.items())
                if first_block <= n <= last.number
            ]
            if new_blocks:
                conn.execute(insert(BLOCKS), new_blocks)
            self._batches += 1
            if self._batches % PRUNE_EVERY == 0 or last.number - first_block >= self.keep_blocks:
                conn.execute(
                    delete(BLOCKS).where(
                        BLOCKS.c.number <= last.number - self.keep_blocks, BLOCKS.c.number != last.number
                    )
                )
            self._write_checkpoint(conn, current, last.number, last.hash, len(events))
        return BatchResult(len(events), first_block, last.number)

    # ------------------------------------------------------------------ reorgs
    def stored_blocks(self, below_or_at: int, limit: int) -> list[tuple[int, str]]:
        """(number, hash) of kept blocks at or below `below_or_at`, highest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(BLOCKS.c.number, BLOCKS.c.hash)
                .where(BLOCKS.c.number <= below_or_at)
                .order_by(BLOCKS.c.number.desc())
                .limit(limit)
            ).all()
        return [(int(n), str(h)) for n, h in rows]

    def lowest_stored_block(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.min(BLOCKS.c.number))).scalar()
        return None if value is None else int(value)

    def rollback_to(self, fork_block: int, fork_hash: str, expected_last: int) -> int:
        """Undo every event above `fork_block` (the highest block still on the chain), run the
        `rollback_hooks`, and move the checkpoint there, in one transaction. Returns the number of
        events removed."""
        with self.engine.begin() as conn:
            current = self._lock_checkpoint(conn, expected_last)
            assert current is not None
            removed = [
                _stored(row)
                for row in conn.execute(
                    select(EVENTS)
                    .where(EVENTS.c.contract == self.contract, EVENTS.c.block_number > fork_block)
                    .order_by(EVENTS.c.block_number, EVENTS.c.log_index)
                ).mappings()
            ]
            self._undo(conn, removed, fork_block)
            conn.execute(delete(BLOCKS).where(BLOCKS.c.number > fork_block))
            rolled_back = RolledBack(self.contract, fork_block, fork_hash, current.last_block, removed)
            for hook in self.rollback_hooks:
                hook(conn, rolled_back)
            conn.execute(
                update(CHECKPOINT)
                .where(CHECKPOINT.c.contract == self.contract)
                .values(
                    last_block=fork_block,
                    last_block_hash=fork_hash,
                    events_applied=current.events_applied - len(removed),
                )
            )
        log.warning(
            "reorganisation: rolled back from block %s to %s (%s events removed)",
            expected_last,
            fork_block,
            len(removed),
        )
        return len(removed)

    def _undo(self, conn: Connection, removed: Sequence[StoredEvent], fork_block: int) -> None:
        roots: set[int] = set()
        members: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        limit_obligors: set[str] = set()
        outstanding_delta: dict[str, int] = {}
        config_changed = False
        currencies: set[str] = set()
        min_part_currencies: set[str] = set()
        rejected_roots: set[int] = set()
        doc_hashes: set[str] = set()
        converted: set[int] = set()
        for event in removed:
            v = event.values
            if event.root_id is not None:
                roots.add(event.root_id)
            if event.name in EVIDENCE_EVENTS:
                if event.name == "ReceivableOriginated":
                    doc_hashes.add(v["invoiceHash"].lower())
                elif event.name == "ReceivableConverted":
                    converted.add(int(v["rootId"]))
                    amount = int(v["amount"])
                    outstanding_delta[v["buyer"]] = outstanding_delta.get(v["buyer"], 0) - amount
                    outstanding_delta[v["supplier"]] = outstanding_delta.get(v["supplier"], 0) + amount
                else:
                    doc_hashes.add(v["docHash"].lower())
                continue
            if event.name in MEMBER_EVENTS:
                members.add(v["account"])
            elif event.name in CONFIG_EVENTS:
                config_changed = True
            elif event.name in TOKEN_EVENTS:
                currencies.add(currency_code(v["currency"]))
            elif event.name in MIN_PART_EVENTS:
                min_part_currencies.add(currency_code(v["currency"]))
            elif event.name in CREDIT_EVENTS:
                pairs.add((v["financier"], v["obligor"]))
                if event.name in LIMIT_EVENTS:
                    limit_obligors.add(v["obligor"])
            elif event.name == "NoteIssued":
                outstanding_delta[v["obligor"]] = outstanding_delta.get(v["obligor"], 0) - int(v["amount"])
            elif event.name in OUTSTANDING_RELEASES:  # revoked, paid, written off
                outstanding_delta[v["obligor"]] = outstanding_delta.get(v["obligor"], 0) + int(v["amount"])
            elif event.name == "NoteRejected":
                rejected_roots.add(int(v["noteId"]))
        if rejected_roots:
            query = select(NOTES.c.id, NOTES.c.obligor).where(NOTES.c.id.in_(sorted(rejected_roots)))
            obligor_of = {int(note_id): str(obligor) for note_id, obligor in conn.execute(query)}
            for event in removed:
                if event.name == "NoteRejected":
                    obligor = obligor_of.get(int(event.values["noteId"]))
                    if obligor is not None:
                        amount = int(event.values["amount"])
                        outstanding_delta[obligor] = outstanding_delta.get(obligor, 0) + amount

        if converted:
            query = select(RECEIVABLES.c.invoice_hash).where(RECEIVABLES.c.note_id.in_(sorted(converted)))
            doc_hashes.update(str(h) for h in conn.execute(query).scalars())

        conn.execute(
            delete(EVENTS).where(EVENTS.c.contract == self.contract, EVENTS.c.block_number > fork_block)
        )
        writer = _writer(conn)
        if roots:
            self._rebuild_trees(conn, writer, sorted(roots))
        if doc_hashes:
            self._rebuild_evidence(conn, writer, doc_hashes)
        non_note: list[StoredEvent] = []
        if members or pairs or limit_obligors or config_changed or currencies or min_part_currencies:
            non_note = self._non_note_events(conn)
        if members:
            self._rebuild_members(conn, writer, members, non_note)
        if pairs or limit_obligors or outstanding_delta:
            self._rebuild_credit(conn, writer, pairs, limit_obligors, outstanding_delta, non_note, fork_block)
        if config_changed:
            state = StateBatch(self.contract)
            state.apply_all(e for e in non_note if e.name in CONFIG_EVENTS)
            conn.execute(delete(CONFIG).where(CONFIG.c.contract == self.contract))
            writer.upsert(CONFIG, state.config.inserts(), [])
        if currencies:
            state = StateBatch(self.contract)
            tokens = (e for e in non_note if e.name in TOKEN_EVENTS)
            state.apply_all(e for e in tokens if currency_code(e.values["currency"]) in currencies)
            writer.replace(TOKENS, "currency", sorted(currencies), state.tokens.inserts())
        if min_part_currencies:
            state = StateBatch(self.contract)
            settings = (e for e in non_note if e.name in MIN_PART_EVENTS)
            state.apply_all(e for e in settings if currency_code(e.values["currency"]) in min_part_currencies)
            writer.replace(MIN_PARTS, "currency", sorted(min_part_currencies), state.min_parts.inserts())

    def _non_note_events(self, conn: Connection) -> list[StoredEvent]:
        rows = conn.execute(
            select(EVENTS)
            .where(
                EVENTS.c.contract == self.contract,
                EVENTS.c.note_id.is_(None),
                EVENTS.c.name.in_(NON_NOTE_EVENTS),
            )
            .order_by(EVENTS.c.block_number, EVENTS.c.log_index)
        ).mappings()
        return [_stored(row) for row in rows]

    def _rebuild_trees(self, conn: Connection, writer: _Writer, roots: Sequence[int]) -> None:
        chunk = 900 if conn.dialect.name == "sqlite" else 5000
        for part in _chunks(roots, chunk):
            for table in (NOTES, OFFERS, PAYMENTS, CLAIMS):
                conn.execute(delete(table).where(table.c.root_id.in_(part)))
            events = [
                _stored(row)
                for row in conn.execute(
                    select(EVENTS)
                    .where(EVENTS.c.contract == self.contract, EVENTS.c.root_id.in_(part))
                    .order_by(EVENTS.c.block_number, EVENTS.c.log_index)
                ).mappings()
            ]
            times = {e.block_number: e.block_time for e in events}
            state = StateBatch(self.contract, block_times=times, evidence=False)
            state.preload(events, EmptyLoader())
            state.apply_all(events)
            writer.insert_notes(state.notes.inserts())
            _write_financing(writer, state)

    def _rebuild_evidence(self, conn: Connection, writer: _Writer, doc_hashes: set[str]) -> None:
        """Rebuild the records of `doc_hashes`, their attestations and the receivables resting on
        them (as invoices) from the remaining events."""
        for part in _chunks(sorted(doc_hashes), 900):
            conn.execute(delete(EVIDENCE).where(EVIDENCE.c.doc_hash.in_(part)))
            conn.execute(delete(ATTESTATIONS).where(ATTESTATIONS.c.doc_hash.in_(part)))
            conn.execute(delete(RECEIVABLES).where(RECEIVABLES.c.invoice_hash.in_(part)))
        events = [
            _stored(row)
            for row in conn.execute(
                select(EVENTS)
                .where(EVENTS.c.contract == self.contract, EVENTS.c.name.in_(EVIDENCE_EVENTS))
                .order_by(EVENTS.c.block_number, EVENTS.c.log_index)
            ).mappings()
        ]
        state = StateBatch(self.contract)
        receivables: set[int] = set()
        for event in events:
            v = event.values
            if event.name == "ReceivableOriginated":
                if v["invoiceHash"].lower() not in doc_hashes:
                    continue
                receivables.add(int(v["noteId"]))
            elif event.name == "ReceivableConverted":
                if int(v["rootId"]) not in receivables:
                    continue
            elif v["docHash"].lower() not in doc_hashes:
                continue
            state.block_times[event.block_number] = event.block_time
            state.apply_evidence(event)
        writer.upsert(EVIDENCE, state.evidence.inserts(), [])
        writer.upsert(ATTESTATIONS, state.attestations.inserts(), [])
        writer.upsert(RECEIVABLES, state.receivables.inserts(), [])

    def _rebuild_members(
        self, conn: Connection, writer: _Writer, members: set[str], events: Sequence[StoredEvent]
    ) -> None:
        for part in _chunks(sorted(members), 900):
            conn.execute(delete(MEMBERS).where(MEMBERS.c.address.in_(part)))
        state = StateBatch(self.contract)
        state.apply_all(e for e in events if e.name in MEMBER_EVENTS and e.values["account"] in members)
        writer.upsert(MEMBERS, state.members.inserts(), [])

    def _rebuild_credit(
        self,
        conn: Connection,
        writer: _Writer,
        pairs: set[tuple[str, str]],
        limit_obligors: set[str],
        outstanding_delta: dict[str, int],
        events: Sequence[StoredEvent],
        fork_block: int,
    ) -> None:
        last_limit: dict[str, StoredEvent] = {}
        relationships = StateBatch(self.contract)
        for event in events:
            if event.name in CREDIT_EVENTS:
                if (event.values["financier"], event.values["obligor"]) in pairs:
                    relationships.apply(event)
                if event.name in LIMIT_EVENTS:
                    last_limit[event.values["obligor"]] = event
        for financier, obligor in pairs:
            conn.execute(delete(GRANTS).where(GRANTS.c.financier == financier, GRANTS.c.obligor == obligor))
        writer.upsert(GRANTS, relationships.grants.inserts(), [])
        obligors = sorted(limit_obligors | set(outstanding_delta))
        existing = SqlLoader(conn, self.contract).credit(obligors)
        for obligor in obligors:
            row = existing.get(obligor)
            outstanding = (row["outstanding"] if row else 0) + outstanding_delta.get(obligor, 0)
            limit_row = row["credit_limit"] if row else 0
            updated = min(row["updated_block"], fork_block) if row else fork_block
            if obligor in limit_obligors:
                limit_event = last_limit.get(obligor)
                limit_row = int(limit_event.values["limit"]) if limit_event is not None else 0
                if limit_event is None and outstanding == 0:
                    conn.execute(delete(CREDIT).where(CREDIT.c.obligor == obligor))
                    continue
            new_row = {
                "obligor": obligor,
                "credit_limit": limit_row,
                "outstanding": outstanding,
                "updated_block": updated,
            }
            if row is None:
                writer.upsert(CREDIT, [new_row], [])
            else:
                writer.upsert(CREDIT, [], [new_row])


def _stored(row: Any) -> StoredEvent:
    args = row["args"]
    if isinstance(args, str):
        args = json.loads(args)
    return StoredEvent(
        name=row["name"],
        block_number=int(row["block_number"]),
        log_index=int(row["log_index"]),
        tx_hash=row["tx_hash"],
        values=dict(args),
        note_id=row["note_id"],
        root_id=row["root_id"],
        block_time=int(row["block_time"]),
    )
