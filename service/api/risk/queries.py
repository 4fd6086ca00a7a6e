"""Reads of the risk views from SQL: whose notes a member may see risk of, live notes, obligor credit,
grants; ISO weeks for the ladder."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.notes.queries import financed_obligors
from service.api.problems import ProblemError
from service.db.evidence_models import Receivable
from service.db.gateway_models import ApiMember
from service.db.models import (
    CreditGrant,
    Note,
    ObligorCredit,
)
from service.domain import FINANCIER, LIVE


def risk_scope(session: Session, member: ApiMember) -> set[str] | None:
    """The obligors whose risk `member` may see (None: all of them): a financier sees the obligors
    that approved it and to which it grants credit (above 0), and those of the live notes it holds."""
    if sees_everything(member):
        return None
    if FINANCIER not in member.role_names:
        raise ProblemError(
            403,
            "forbidden",
            "Your roles do not allow this",
            "risk views are for financiers, auditors and the operator",
            required_roles=[FINANCIER, "auditor", "operator"],
        )
    granted = session.scalars(financed_obligors(member.address))
    held = session.scalars(
        select(Note.obligor).where(Note.holder == member.address, Note.status.in_([int(s) for s in LIVE]))
    )
    return set(granted) | set(held)


def live_notes(session: Session, obligors: set[str] | None) -> list[Note]:
    stmt = select(Note).where(Note.status.in_([int(s) for s in LIVE])).order_by(Note.id)
    if obligors is not None:
        stmt = stmt.where(Note.obligor.in_(obligors))
    return list(session.scalars(stmt))


def obligor_credit(session: Session, obligors: set[str] | None) -> dict[str, ObligorCredit]:
    stmt = select(ObligorCredit)
    if obligors is not None:
        stmt = stmt.where(ObligorCredit.obligor.in_(obligors))
    return {row.obligor: row for row in session.scalars(stmt)}


def grants_of(session: Session, financier: str) -> dict[str, int]:
    rows = session.scalars(select(CreditGrant).where(CreditGrant.financier == financier))
    return {row.obligor: int(row.amount) for row in rows}


def iso_week(unix: int) -> tuple[str, date]:
    """The ISO week of a moment's UTC date, as `2026-W18`, and the Monday it starts on."""
    year, week, _ = datetime.fromtimestamp(unix, UTC).date().isocalendar()
    return f"{year}-W{week:02d}", date.fromisocalendar(year, week, 1)


def live_receivable_notes(session: Session, suppliers: set[str] | None) -> list[tuple[Note, str, str]]:
    """Live notes of evidence-backed receivables still owed by their supplier (not converted), with
    the receivable's supplier and buyer; only suppliers in `suppliers` (None: all)."""
    stmt = (
        select(Note, Receivable.supplier, Receivable.buyer)
        .join(Receivable, Receivable.note_id == Note.root_id)
        .where(
            Note.status.in_([int(s) for s in LIVE]),
            Receivable.converted_block.is_(None),
            Note.obligor == Receivable.supplier,
        )
        .order_by(Note.id)
    )
    if suppliers is not None:
        stmt = stmt.where(Receivable.supplier.in_(suppliers))
    return [(note, supplier, buyer) for note, supplier, buyer in session.execute(stmt)]
