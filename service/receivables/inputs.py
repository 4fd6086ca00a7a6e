"""The score's inputs and a receivable's facts, read from the index (ledger data only).

Amounts are summed in Python (ExactInteger is a zero-padded string on SQLite): a supplier's records
of one year are few. `now` is the chain's time, so the same index and the same clock always give
the same inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, Table, and_, func, select

from service.db.alert_models import Alert
from service.db.evidence_models import EvidenceAttestation, EvidenceRecord, Receivable
from service.db.models import Event, LedgerConfig, Note, ObligorCredit
from service.domain import DEFAULT_GRACE_PERIOD, LIVE, NoteStatus, is_overdue, overdue_at
from service.receivables.score import WINDOW_DAYS, ScoreInputs

RECORDS: Table = EvidenceRecord.__table__  # type: ignore[assignment]
ATTESTATIONS: Table = EvidenceAttestation.__table__  # type: ignore[assignment]
RECEIVABLES: Table = Receivable.__table__  # type: ignore[assignment]
NOTES: Table = Note.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
CREDIT: Table = ObligorCredit.__table__  # type: ignore[assignment]
ALERTS: Table = Alert.__table__  # type: ignore[assignment]
CONFIG: Table = LedgerConfig.__table__  # type: ignore[assignment]

FOUR_WAY: Final = frozenset({"purchase_order", "delivery", "acceptance", "invoice"})
ATTESTED_IN_MATCH: Final = frozenset({"delivery", "acceptance", "invoice"})
"""The records of a four-way match a data provider must vouch for: a purchase order is the buyer's
own document, which the parties that attest (carriers, labs, invoice services) seldom hold."""
INVOICE: Final = "invoice"


def grace(conn: Connection) -> int:
    value = conn.scalar(select(CONFIG.c.grace_period).limit(1))
    return DEFAULT_GRACE_PERIOD if value is None else int(value)


def _since(now: int) -> datetime:
    return datetime.fromtimestamp(now - WINDOW_DAYS * 86_400, UTC)


def four_way_complete(conn: Connection, invoice_hash: str, supporting: Iterable[str]) -> bool:
    """Whether the invoice and its supporting records hold an order, a delivery, an acceptance and
    an invoice, the last three with a live attestation."""
    rows = conn.execute(
        select(RECORDS.c.kind, RECORDS.c.attester_count).where(
            RECORDS.c.doc_hash.in_([invoice_hash, *supporting])
        )
    ).all()
    present = {row.kind for row in rows}
    attested = {row.kind for row in rows if row.attester_count > 0}
    return present >= FOUR_WAY and attested >= ATTESTED_IN_MATCH


def score_inputs(conn: Connection, supplier: str, now: int) -> ScoreInputs:
    """Everything the score of `supplier` reads, as of `now` (unix seconds, the chain's time)."""
    since = _since(now)
    records = conn.execute(
        select(RECORDS.c.doc_hash, RECORDS.c.kind, RECORDS.c.buyer, RECORDS.c.amount).where(
            RECORDS.c.supplier == supplier, RECORDS.c.registered_at >= since, RECORDS.c.attester_count > 0
        )
    ).all()
    by_buyer: dict[str, int] = defaultdict(int)
    for r in records:
        if r.kind == INVOICE:
            by_buyer[r.buyer] += int(r.amount)
    attesters = conn.scalar(
        select(func.count(func.distinct(ATTESTATIONS.c.attester))).where(
            ATTESTATIONS.c.revoked_block.is_(None),
            ATTESTATIONS.c.doc_hash.in_([r.doc_hash for r in records]),
        )
    )
    receivables = conn.execute(
        select(RECEIVABLES.c.invoice_hash, RECEIVABLES.c.supporting).where(
            RECEIVABLES.c.supplier == supplier, RECEIVABLES.c.originated_at >= since
        )
    ).all()
    complete = sum(1 for r in receivables if four_way_complete(conn, r.invoice_hash, r.supporting or []))
    on_time, late, overdue, written_off = _repayments(conn, supplier, now)
    credit = conn.execute(select(CREDIT).where(CREDIT.c.obligor == supplier)).mappings().first()
    velocity = conn.scalar(
        select(func.count()).where(
            ALERTS.c.rule == "velocity", ALERTS.c.obligor == supplier, ALERTS.c.status != "resolved"
        )
    )
    return ScoreInputs(
        attested_volume=sum(by_buyer.values()),
        attested_count=len(records),
        distinct_buyers=len({r.buyer for r in records}),
        distinct_attesters=int(attesters or 0),
        receivables=len(receivables),
        four_way_complete=complete,
        settled_on_time=on_time,
        settled_late=late,
        overdue=overdue,
        written_off=written_off,
        outstanding=0 if credit is None else int(credit["outstanding"]),
        credit_limit=0 if credit is None else int(credit["credit_limit"]),
        largest_buyer_volume=max(by_buyer.values(), default=0),
        velocity_alerts=int(velocity or 0),
    )


def _repayments(conn: Connection, supplier: str, now: int) -> tuple[int, int, int, int]:
    """The supplier's own evidence-backed notes (trees it still owes): settled on time (paid in
    full by maturity plus the grace period), settled late, overdue now, written off."""
    period = grace(conn)
    roots = select(RECEIVABLES.c.note_id).where(RECEIVABLES.c.supplier == supplier)
    notes = conn.execute(
        select(NOTES.c.id, NOTES.c.status, NOTES.c.maturity).where(
            NOTES.c.root_id.in_(roots),
            NOTES.c.obligor == supplier,
            NOTES.c.status.in_([NoteStatus.SETTLED, NoteStatus.WRITTEN_OFF, *LIVE]),
        )
    ).all()
    settled = [n for n in notes if n.status == NoteStatus.SETTLED]
    paid_at: dict[int, int] = {}
    if settled:
        rows = conn.execute(
            select(EVENTS.c.note_id, func.max(EVENTS.c.block_time))
            .where(EVENTS.c.name == "NotePaid", EVENTS.c.note_id.in_([n.id for n in settled]))
            .group_by(EVENTS.c.note_id)
        )
        paid_at = {int(note_id): int(when) for note_id, when in rows}
    on_time = sum(1 for n in settled if paid_at.get(n.id, 0) < overdue_at(n.maturity, period))
    late = len(settled) - on_time
    overdue = sum(1 for n in notes if is_overdue(n.status, n.maturity, now, period))
    written_off = sum(1 for n in notes if n.status == NoteStatus.WRITTEN_OFF)
    return on_time, late, overdue, written_off


@dataclass(frozen=True)
class ReceivableFacts:
    note_id: int
    supplier: str
    buyer: str
    invoice_hash: str
    supporting: tuple[str, ...]
    live_attesters: int
    four_way_complete: bool


def receivable_facts(conn: Connection, note_id: int) -> ReceivableFacts | None:
    row = conn.execute(select(RECEIVABLES).where(RECEIVABLES.c.note_id == note_id)).mappings().first()
    if row is None:
        return None
    supporting = tuple(row["supporting"] or [])
    live = conn.scalar(select(RECORDS.c.attester_count).where(RECORDS.c.doc_hash == row["invoice_hash"]))
    return ReceivableFacts(
        note_id=note_id,
        supplier=row["supplier"],
        buyer=row["buyer"],
        invoice_hash=row["invoice_hash"],
        supporting=supporting,
        live_attesters=int(live or 0),
        four_way_complete=four_way_complete(conn, row["invoice_hash"], supporting),
    )


def financier_exposure(conn: Connection, financier: str, supplier: str) -> int:
    """Unpaid face of the supplier's evidence-backed notes the financier holds now."""
    roots = select(RECEIVABLES.c.note_id).where(RECEIVABLES.c.supplier == supplier)
    rows = conn.execute(
        select(NOTES.c.amount, NOTES.c.paid_amount).where(
            and_(
                NOTES.c.root_id.in_(roots),
                NOTES.c.obligor == supplier,
                NOTES.c.holder == financier,
                NOTES.c.status.in_(LIVE),
            )
        )
    ).all()
    return sum(int(r.amount) - int(r.paid_amount) for r in rows)
