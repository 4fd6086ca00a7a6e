"""A financier's side: its holdings by obligor, and the credit limits it granted (grant or change
one). Through the notes listing and `service.api.financing.service` (relationships, grants)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from service.api.context import AppContext
from service.api.financing.schemas import CreditLimitSet, CreditRelationshipOut
from service.api.financing.service import find_relationships, grant_credit_limit
from service.api.members.service import list_members
from service.api.notes.queries import NoteFilter, find_notes
from service.api.notes.schemas import NoteOut
from service.console.money import AmountError, parse_amount
from service.console.sessions import SessionUser
from service.console.web import (
    IDEMPOTENCY_FIELD,
    ConsoleContext,
    Form,
    User,
    console_router,
    form_values,
    render,
    text,
    translator,
)
from service.console.writes import form_key, perform, validation_errors
from service.domain import FINANCIER, NoteStatus

router = console_router()
LIST_LIMIT = 500
LIVE = (int(NoteStatus.ACTIVE), int(NoteStatus.OVERDUE))
GRANT_CURRENCY = "USD"
"""Credit limits are kept in the ledger's unit of account, USD minor units (the demo's and the
risk views' currency)."""


@dataclass
class ObligorHolding:
    obligor: str
    name: str
    currency: str
    notes: list[NoteOut] = field(default_factory=list)

    @property
    def face(self) -> int:
        return sum(int(n.remaining) for n in self.notes)


def holdings(context: AppContext, user: SessionUser) -> list[ObligorHolding]:
    with context.session() as session:
        notes, _next = find_notes(
            context,
            session,
            user.member,
            NoteFilter(holder=user.member.address, statuses=LIVE),
            limit=LIST_LIMIT,
        )
    grouped: dict[tuple[str, str], ObligorHolding] = {}
    for note in notes:
        key = (note.obligor, note.currency)
        if key not in grouped:
            grouped[key] = ObligorHolding(note.obligor, note.obligor_name or note.obligor, note.currency)
        grouped[key].notes.append(note)
    return sorted(grouped.values(), key=lambda h: -h.face)


@router.get("/holdings")
def holdings_page(request: Request, context: ConsoleContext, user: User) -> Response:
    return render(request, "bank/holdings.html", user, holdings=holdings(context, user))


def _limits_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    with context.session() as session:
        relationships: list[CreditRelationshipOut] = find_relationships(
            context, session, user.member, financier=user.member.address
        )
    names = {m.address: m for m in list_members(context).items}
    obligors = [names[r.obligor] for r in relationships if r.status == "approved" and r.obligor in names]
    totals: dict[str, int] = defaultdict(int)
    for r in relationships:
        totals[r.status] += int(r.grant)
    return render(
        request,
        "bank/credit_limits.html",
        user,
        status=status,
        relationships=relationships,
        names=names,
        obligors=obligors,
        currency=GRANT_CURRENCY,
        errors=errors or {},
        values=values or {},
        message=message,
    )


@router.get("/credit-limits")
def limits_page(request: Request, context: ConsoleContext, user: User) -> Response:
    return _limits_page(request, context, user)


@router.post("/credit-limits")
async def set_limit(request: Request, context: ConsoleContext, user: User, form: Form) -> Response:
    t = translator(request)
    values = form_values(form)
    if FINANCIER not in user.member.role_names:
        return _limits_page(
            request, context, user, status=403, errors={"": t("financiers_only")}, values=values
        )
    try:
        amount = parse_amount(text(form, "amount"), GRANT_CURRENCY, allow_zero=True)
    except AmountError as exc:
        return _limits_page(
            request, context, user, status=422, errors={"amount": t(exc.key, **exc.values)}, values=values
        )
    try:
        body = CreditLimitSet.model_validate({"obligor": text(form, "obligor"), "amount": str(amount)})
    except ValidationError as exc:
        return _limits_page(
            request, context, user, status=422, errors=validation_errors(t, exc), values=values
        )
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        "/v1/credit-limits",
        body,
        lambda: (200, grant_credit_limit(context, user.member, body.obligor, body.amount)),
    )
    if not outcome.ok:
        return _limits_page(
            request, context, user, status=outcome.status, errors=outcome.errors, values=values
        )
    return RedirectResponse("/console/credit-limits", status_code=303)
