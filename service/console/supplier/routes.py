"""A supplier's side beyond its notes: payments received (at maturity and from discounts, from
the domain event log), and its evidence: trade records with the attestations they received, the
receivables it originated with each financier's financing quote (which policy rules pass), and its
credit score with its factors. Through the events, evidence and receivables services."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from service.api.context import AppContext
from service.api.events.queries import events_after
from service.api.events.schemas import EventOut
from service.api.evidence.schemas import EvidenceOut
from service.api.evidence.service import find_evidence
from service.api.receivables.schemas import CreditScoreOut, FinancingQuoteOut, ReceivableOut
from service.api.receivables.service import (
    credit_score_of,
    financiers_with_policy,
    financing_quote_of,
    find_receivables,
)
from service.console.accounts import balances
from service.console.sessions import SessionUser
from service.console.web import ConsoleContext, User, console_router, render

router = console_router()
LIST_LIMIT = 500
PAYMENT_EVENTS = ("payment.received", "note.discounted")


def payments(context: AppContext, user: SessionUser) -> list[EventOut]:
    """Payments made to the member: paid at maturity (`payment.received`) or for a note it sold
    (`note.discounted`), newest first."""
    with context.session() as session:
        events = events_after(session, user.member, 0, 10 * LIST_LIMIT, PAYMENT_EVENTS)
    mine = [
        e
        for e in events
        if e.recipient is not None and e.recipient.address == user.member.address and not e.retracted_by
    ]
    return list(reversed(mine))[:LIST_LIMIT]


@router.get("/payments")
def payments_page(request: Request, context: ConsoleContext, user: User) -> Response:
    return render(
        request,
        "supplier/payments.html",
        user,
        payments=payments(context, user),
        accounts=balances(context, user.member),
    )


@dataclass(frozen=True)
class ReceivableView:
    receivable: ReceivableOut
    quotes: list[tuple[str, FinancingQuoteOut]]


def evidence(
    context: AppContext, user: SessionUser
) -> tuple[list[EvidenceOut], list[ReceivableView], CreditScoreOut]:
    member = user.member
    with context.session() as session:
        records, _more = find_evidence(context, session, member, supplier=member.address, limit=LIST_LIMIT)
        receivables, _more = find_receivables(
            context, session, member, supplier=member.address, limit=LIST_LIMIT
        )
        financiers = financiers_with_policy(session)
        names = context.members.find(session, set(financiers))
    views = [
        ReceivableView(
            r,
            [
                (names[f].name if f in names else f, financing_quote_of(context, f, int(r.note_id)))
                for f in financiers
            ],
        )
        for r in receivables
    ]
    return records, views, credit_score_of(context, member.address, member.id)


@router.get("/evidence")
def evidence_page(request: Request, context: ConsoleContext, user: User) -> Response:
    records, receivables, score = evidence(context, user)
    return render(
        request, "supplier/evidence.html", user, records=records, receivables=receivables, score=score
    )
