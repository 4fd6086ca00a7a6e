"""What a reorganisation's rollback does beyond the index itself, in the rollback's own transaction
(`IndexStore.rollback_to` calls `record_reorg` after undoing the events above the fork block):

- the journal (`service.db.reorg_models`): the fork block, the old head, when, the removed ledger
  transactions (with their blocks and the notes their events concerned), the affected notes (and
  which of them no longer exist), and the idempotency records whose recorded transactions were
  removed (found by hash in `idempotency_transactions`);
- the gateway's tables keyed by chain ids: the off-chain references of notes whose creation was
  undone are deleted (a later issue that gets the same note id starts clean), and settlement jobs
  one of whose batches was removed end `failed` with a `reverted-by-reorg` error (their tree may be
  settled again by a new job: `settleRoot` pays only unpaid live notes).

Idempotency records keep their stored answers: a replay looks the record up in the journal and
answers `reverted-by-reorg` instead (`service.api.idempotency`). Tables left alone on purpose:
`api_members` (keyed by the gateway's ids; a member whose onboarding was removed is onboarded again
by the operator), `relay_gas` (the budget counts relayed requests, not chain state: a reorg must not
refund it).

Only ledger transactions with events are seen (the events table is what the index keeps): a removed
transaction that emitted no ledger event (e.g. a token approval alone) is not journalled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from service.db.gateway_models import IdempotencyRecord, IdempotencyTransaction, NoteReference, SettlementJob
from service.db.models import Note
from service.db.reorg_models import Reorg, ReorgIdempotencyRecord, ReorgNote, ReorgTransaction
from service.indexer.state import StoredEvent

REVERTED_BY_REORG = "reverted-by-reorg"
REVERTED_TYPE = "https://credchain.dev/errors/" + REVERTED_BY_REORG
"""The problem type of a write a reorganisation removed (as `service.api.problems.problem_type`)."""
CHUNK = 900

REORGS: Table = Reorg.__table__  # type: ignore[assignment]
REORG_TXS: Table = ReorgTransaction.__table__  # type: ignore[assignment]
REORG_NOTES: Table = ReorgNote.__table__  # type: ignore[assignment]
REORG_RECORDS: Table = ReorgIdempotencyRecord.__table__  # type: ignore[assignment]
RECORDS: Table = IdempotencyRecord.__table__  # type: ignore[assignment]
RECORD_TXS: Table = IdempotencyTransaction.__table__  # type: ignore[assignment]
REFERENCES: Table = NoteReference.__table__  # type: ignore[assignment]
JOBS: Table = SettlementJob.__table__  # type: ignore[assignment]
NOTES: Table = Note.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class RolledBack:
    """A rollback, as the store hands it to its hooks: the index was at `old_head` and now stands at
    `fork_block`; `removed` are the events it undid (in chain order)."""

    contract: str
    fork_block: int
    fork_hash: str
    old_head: int
    removed: Sequence[StoredEvent]


def touched_notes(event: StoredEvent) -> list[int]:
    """The notes an event concerns: its note, and a split's parent."""
    notes = [] if event.note_id is None else [event.note_id]
    parent = event.values.get("parentId") if event.name == "NoteSplit" else None
    if isinstance(parent, int) and not isinstance(parent, bool):
        notes.append(parent)
    return notes


def reverted_problem(tx_hashes: Sequence[str], fork_block: int, detected_at: datetime) -> dict[str, Any]:
    """The problem+json body of a write whose transactions a reorganisation removed."""
    hashes = list(tx_hashes)
    return {
        "type": REVERTED_TYPE,
        "title": "The write's transaction was removed from the chain by a reorganisation",
        "status": 409,
        "detail": (
            f"{', '.join(hashes)} was mined, then removed by a reorganisation of the chain back to "
            f"block {fork_block}; what it did did not happen. Check the current state (the note, "
            "the balance), then send the request again with a NEW Idempotency-Key if it still applies"
        ),
        "tx_hashes": hashes,
        "fork_block": fork_block,
        "detected_at": detected_at.isoformat().replace("+00:00", "Z"),
    }


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]


def record_reorg(conn: Connection, rolled_back: RolledBack) -> None:
    """Journal `rolled_back` and roll the gateway's chain-keyed rows back with it (see the module)."""
    now = datetime.now(UTC)
    reorg_id = conn.execute(
        insert(REORGS)
        .values(
            contract=rolled_back.contract,
            fork_block=rolled_back.fork_block,
            fork_hash=rolled_back.fork_hash,
            old_head=rolled_back.old_head,
            detected_at=now,
            events_removed=len(rolled_back.removed),
        )
        .returning(REORGS.c.id)
    ).scalar_one()

    blocks: dict[str, int] = {}
    notes_of: dict[str, set[int]] = {}
    for event in rolled_back.removed:
        blocks.setdefault(event.tx_hash, event.block_number)
        notes_of.setdefault(event.tx_hash, set()).update(touched_notes(event))
    if blocks:
        conn.execute(
            insert(REORG_TXS),
            [
                {"reorg_id": reorg_id, "tx_hash": tx, "block_number": block, "note_ids": sorted(notes_of[tx])}
                for tx, block in blocks.items()
            ],
        )

    affected = sorted(set().union(*notes_of.values())) if notes_of else []
    remaining: set[int] = set()
    for part in _chunks(affected):
        remaining.update(
            int(n) for n in conn.execute(select(NOTES.c.id).where(NOTES.c.id.in_(part))).scalars()
        )
    gone = [note for note in affected if note not in remaining]
    if affected:
        conn.execute(
            insert(REORG_NOTES),
            [{"reorg_id": reorg_id, "note_id": note, "removed": note not in remaining} for note in affected],
        )
    for part in _chunks(gone):
        conn.execute(delete(REFERENCES).where(REFERENCES.c.note_id.in_(part)))

    hashes = sorted(blocks)
    _journal_records(conn, reorg_id, hashes)
    _fail_settlement_jobs(conn, set(hashes), rolled_back.fork_block, now)


def _journal_records(conn: Connection, reorg_id: int, hashes: Sequence[str]) -> None:
    removed_of: dict[int, list[str]] = {}
    for part in _chunks(hashes):
        for tx_hash, record_id in conn.execute(
            select(RECORD_TXS.c.tx_hash, RECORD_TXS.c.record_id).where(RECORD_TXS.c.tx_hash.in_(part))
        ):
            removed_of.setdefault(int(record_id), []).append(str(tx_hash))
    if not removed_of:
        return
    rows = []
    for part in _chunks(sorted(removed_of)):
        for record_id, member_id, key in conn.execute(
            select(RECORDS.c.id, RECORDS.c.member_id, RECORDS.c.key).where(RECORDS.c.id.in_(part))
        ):
            rows.append(
                {
                    "reorg_id": reorg_id,
                    "record_id": record_id,
                    "member_id": member_id,
                    "key": key,
                    "tx_hashes": sorted(removed_of[int(record_id)]),
                }
            )
    if rows:
        conn.execute(insert(REORG_RECORDS), rows)


def _fail_settlement_jobs(conn: Connection, hashes: set[str], fork_block: int, now: datetime) -> None:
    """Settlement jobs are few (one per settled tree): their transaction lists are read whole."""
    if not hashes:
        return
    for job_id, tx_hashes in conn.execute(select(JOBS.c.id, JOBS.c.tx_hashes)).all():
        removed = [tx for tx in (tx_hashes or []) if tx in hashes]
        if removed:
            conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id)
                .values(
                    status="failed",
                    active_root_id=None,
                    error=reverted_problem(removed, fork_block, now),
                    updated_at=now,
                    finished_at=now,
                )
            )
