"""`event.retracted`: a reorganisation's rollback (a `RollbackHook` of `IndexStore`) retracts the
domain events of the blocks it removed.

In the rollback's transaction, every domain event of this contract in a block above the fork block
that is not retracted yet gets an `event.retracted` appended (naming it in `retracts`, with its
sequence number, type and ledger position in `data`), and the original is marked with the
retraction's sequence number (`retracted_by`). The retraction keeps the original's note, offer and
recipient, and names the note's holder as its subject (else the original's): the addressee and the
holder see it even when the removed blocks took the note with them; others that saw the event
through the note (its tree, its obligor's financiers) see the retraction only if the note survived.
When the new branch includes the same transactions again, the batch hook derives fresh events
for them (new sequence
numbers): a receiver that applied the retracted ones undoes them, then applies the new ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update

from service.db.event_models import DomainEvent
from service.events.log import EventDraft, append_events
from service.indexer.reorg_journal import RolledBack

DOMAIN_EVENTS: Table = DomainEvent.__table__  # type: ignore[assignment]
RETRACTED = "event.retracted"


def retract_domain_events(conn: Connection, rolled_back: RolledBack) -> None:
    """The `RollbackHook`: retract the domain events of the removed blocks."""
    t = DOMAIN_EVENTS.c
    rows = conn.execute(
        select(
            t.seq,
            t.type,
            t.block_number,
            t.block_hash,
            t.tx_hash,
            t.log_index,
            t.note_id,
            t.root_id,
            t.offer_id,
            t.subject,
            t.recipient,
            t.data,
        )
        .where(
            t.contract == rolled_back.contract,
            t.block_number > rolled_back.fork_block,
            t.retracted_by.is_(None),
            t.retracts.is_(None),
        )
        .order_by(t.seq)
    ).all()
    if not rows:
        return
    now = datetime.now(UTC)
    drafts = [
        EventDraft(
            type=RETRACTED,
            occurred_at=now,
            data={
                "retracted": {
                    "seq": str(row.seq),
                    "type": row.type,
                    "block_number": row.block_number,
                    "block_hash": row.block_hash,
                    "tx_hash": row.tx_hash,
                    "log_index": row.log_index,
                },
                "reason": "reorganisation",
                "fork_block": rolled_back.fork_block,
                "fork_hash": rolled_back.fork_hash,
                "old_head": rolled_back.old_head,
            },
            contract=rolled_back.contract,
            note_id=row.note_id,
            root_id=row.root_id,
            offer_id=row.offer_id,
            subject=_subject(row.subject, row.recipient, row.data),
            recipient=row.recipient,
            retracts=int(row.seq),
        )
        for row in rows
    ]
    seqs = append_events(conn, drafts)
    conn.execute(
        update(DOMAIN_EVENTS).where(t.seq == bindparam("b_seq")).values(retracted_by=bindparam("b_by")),
        [{"b_seq": int(row.seq), "b_by": seq} for row, seq in zip(rows, seqs, strict=True)],
    )


def _subject(subject: str | None, recipient: str | None, data: Any) -> str | None:
    """The retraction's subject: the holder of the event's note if the event was not addressed to
    it (its note may be gone with the removed blocks, and with it the holder's sight of the
    event), else the original subject."""
    note = data.get("note") if isinstance(data, dict) else None
    holder = note.get("holder") if isinstance(note, dict) else None
    address = holder.get("address") if isinstance(holder, dict) else None
    if isinstance(address, str) and address != recipient:
        return address
    return subject
