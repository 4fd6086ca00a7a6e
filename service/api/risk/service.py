"""The risk views of /v1/risk, computed for a member (the REST routes answer them as JSON or CSV;
the console draws them): exposure by obligor, maturity ladder, concentration by holder, the overdue
list and evidence-backed exposure, for financiers (the obligors they grant credit to or hold notes
of), auditors and the operator (all).

Figures are derived from the index at the time of its latest block (or the wall clock if later):
"live" is pending, active or overdue; a note's remainder is its amount less what was paid; a note is
overdue when active or marked overdue at or past maturity plus the ledger's grace period, marked or
not. Sums are taken in Python (exact on SQLite too)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from service.api.cache.members import MemberRef
from service.api.context import AppContext
from service.api.display import display_amount
from service.api.financing.queries import read_clock, remaining
from service.api.risk.queries import (
    grants_of,
    iso_week,
    live_notes,
    live_receivable_notes,
    obligor_credit,
    risk_scope,
)
from service.api.risk.schemas import (
    ConcentrationOut,
    ConcentrationRow,
    EvidenceExposureOut,
    EvidenceExposureRow,
    ExposureOut,
    ExposureRow,
    LadderOut,
    LadderRow,
    OverdueOut,
    OverdueRow,
    RiskMeta,
)
from service.api.schemas import to_datetime
from service.db.gateway_models import ApiMember
from service.domain import FINANCIER, NoteStatus, days_overdue, is_overdue

BASIS_POINTS = 10_000


class _View:
    """What every view starts from: the caller's scope, the time, the grace period, live notes."""

    def __init__(self, context: AppContext, session: Session, member: ApiMember) -> None:
        self.scope = risk_scope(session, member)
        self.now, self.grace = read_clock(context, session)
        self.notes = live_notes(session, self.scope)

    def meta(self) -> dict[str, Any]:
        return RiskMeta(
            as_of=to_datetime(self.now),
            grace_period_seconds=self.grace,
            scope="all" if self.scope is None else "granted",
        ).model_dump()


def exposure(context: AppContext, member: ApiMember) -> ExposureOut:
    """By obligor: credit limit, the caller's own grant (financiers), outstanding as the ledger counts
    it, headroom, and the live and overdue notes with their unpaid remainders."""
    with context.session() as session:
        view = _View(context, session, member)
        credit = obligor_credit(session, view.scope)
        grants = grants_of(session, member.address) if FINANCIER in member.role_names else None
        obligors = set(credit) | {n.obligor for n in view.notes}
        if view.scope is not None:
            obligors = (obligors | view.scope) & view.scope
        members = context.members.find(session, obligors)
    by_obligor: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for note in view.notes:
        totals = by_obligor[note.obligor]
        left = remaining(note)
        totals[0] += 1
        totals[1] += left
        if is_overdue(note.status, note.maturity, view.now, view.grace):
            totals[2] += 1
            totals[3] += left
    rows: list[ExposureRow] = []
    for obligor in sorted(obligors):
        row = credit.get(obligor)
        limit, outstanding = (int(row.credit_limit), int(row.outstanding)) if row is not None else (0, 0)
        live, live_amount, overdue, overdue_amount = by_obligor.get(obligor, [0, 0, 0, 0])
        rows.append(
            ExposureRow(
                obligor=obligor,
                obligor_member=_id(members, obligor),
                obligor_name=_name(members, obligor),
                credit_limit=str(limit),
                grant=str(grants.get(obligor, 0)) if grants is not None else None,
                outstanding=str(outstanding),
                headroom=str(limit - outstanding),
                live_notes=live,
                live_amount=str(live_amount),
                overdue_notes=overdue,
                overdue_amount=str(overdue_amount),
            )
        )
    return ExposureOut(items=rows, **view.meta())


def maturity_ladder(context: AppContext, member: ApiMember) -> LadderOut:
    """Unpaid remainders of live notes by ISO week of maturity and currency (weeks already past
    included: what is overdue stays in the week it fell due)."""
    with context.session() as session:
        view = _View(context, session, member)
    buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    starts = {}
    for note in view.notes:
        week, start = iso_week(note.maturity)
        starts[week] = start
        bucket = buckets[(week, note.currency)]
        left = remaining(note)
        bucket[0] += 1
        bucket[1] += left
        if is_overdue(note.status, note.maturity, view.now, view.grace):
            bucket[2] += left
    rows = [
        LadderRow(
            week=week,
            week_start=starts[week],
            currency=currency,
            notes=count,
            amount=str(amount),
            overdue_amount=str(overdue),
            amount_display=display_amount(amount, currency),
            overdue_amount_display=display_amount(overdue, currency),
        )
        for (week, currency), (count, amount, overdue) in sorted(buckets.items())
    ]
    return LadderOut(items=rows, **view.meta())


def concentration(context: AppContext, member: ApiMember) -> ConcentrationOut:
    """Unpaid remainders of live notes by holder and currency, largest first, with each holder's
    share of the currency's total in basis points (rounded down)."""
    with context.session() as session:
        view = _View(context, session, member)
        members = context.members.find(session, {n.holder for n in view.notes})
    held: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[str, int] = defaultdict(int)
    for note in view.notes:
        left = remaining(note)
        entry = held[(note.currency, note.holder)]
        entry[0] += 1
        entry[1] += left
        totals[note.currency] += left
    ordered = sorted(held.items(), key=lambda item: (item[0][0], -item[1][1], item[0][1]))
    rows = [
        ConcentrationRow(
            currency=currency,
            holder=holder,
            holder_member=_id(members, holder),
            holder_name=_name(members, holder),
            notes=count,
            amount=str(amount),
            amount_display=display_amount(amount, currency),
            share_bps=amount * BASIS_POINTS // totals[currency] if totals[currency] else 0,
        )
        for (currency, holder), (count, amount) in ordered
    ]
    return ConcentrationOut(items=rows, **view.meta())


def overdue(context: AppContext, member: ApiMember) -> OverdueOut:
    """Every overdue note (marked or not), oldest maturity first."""
    with context.session() as session:
        view = _View(context, session, member)
        late = [n for n in view.notes if is_overdue(n.status, n.maturity, view.now, view.grace)]
        members = context.members.find(session, {n.holder for n in late} | {n.obligor for n in late})
    late.sort(key=lambda n: (n.maturity, n.id))
    rows = [
        OverdueRow(
            note_id=str(n.id),
            root_id=str(n.root_id),
            obligor=n.obligor,
            obligor_member=_id(members, n.obligor),
            obligor_name=_name(members, n.obligor),
            holder=n.holder,
            holder_member=_id(members, n.holder),
            holder_name=_name(members, n.holder),
            currency=n.currency,
            amount=str(n.amount),
            amount_display=display_amount(n.amount, n.currency),
            paid_amount=str(n.paid_amount or 0),
            remaining=str(remaining(n)),
            remaining_display=display_amount(remaining(n), n.currency),
            maturity=to_datetime(n.maturity),
            overdue_since=to_datetime(n.maturity + view.grace),
            days_overdue=days_overdue(n.maturity, view.now, view.grace),
            marked=n.status == NoteStatus.OVERDUE,
            frozen=bool(n.frozen),
        )
        for n in late
    ]
    return OverdueOut(items=rows, **view.meta())


def evidence_exposure(context: AppContext, member: ApiMember) -> EvidenceExposureOut:
    """Evidence-backed receivables by supplier (its debt as obligor of record) and by buyer (the
    indirect exposure its credit line does not show): live receivables, unpaid remainder, the part
    financed (held by others than the supplier) and overdue. A financier sees the suppliers in its
    risk scope (those that approved it with a grant, or whose notes it holds)."""
    with context.session() as session:
        scope = risk_scope(session, member)
        now, grace = read_clock(context, session)
        rows = live_receivable_notes(session, scope)
        members = context.members.find(session, {s for _, s, _ in rows} | {b for _, _, b in rows})
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for note, supplier, buyer in rows:
        left = remaining(note)
        late = is_overdue(note.status, note.maturity, now, grace)
        for side, party, other in (("supplier", supplier, buyer), ("buyer", buyer, supplier)):
            entry = totals.setdefault(
                (side, party), {"roots": set(), "live": 0, "financed": 0, "overdue": 0, "others": set()}
            )
            entry["roots"].add(note.root_id)
            entry["live"] += left
            entry["financed"] += left if note.holder != supplier else 0
            entry["overdue"] += left if late else 0
            entry["others"].add(other)
    items = [
        EvidenceExposureRow(
            side=side,  # type: ignore[arg-type]
            party=party,
            party_member=_id(members, party),
            party_name=_name(members, party),
            receivables=len(entry["roots"]),
            live_amount=str(entry["live"]),
            financed_amount=str(entry["financed"]),
            overdue_amount=str(entry["overdue"]),
            counterparties=len(entry["others"]),
        )
        for (side, party), entry in sorted(totals.items(), key=lambda kv: (kv[0][0] != "supplier", kv[0][1]))
    ]
    meta = RiskMeta(
        as_of=to_datetime(now), grace_period_seconds=grace, scope="all" if scope is None else "granted"
    )
    return EvidenceExposureOut(items=items, **meta.model_dump())


def _id(members: dict[str, MemberRef], address: str) -> str | None:
    member = members.get(address)
    return member.id if member is not None else None


def _name(members: dict[str, MemberRef], address: str) -> str | None:
    member = members.get(address)
    return member.name if member is not None else None
