"""A core enterprise's side: issue a note against an invoice (its SHA-256 computed in the browser
from a file the user picks; the file is not uploaded), the maturity calendar (what falls due when,
against the settlement-token balance), and settling a note or a whole tree. Through the notes and
settlement use cases of the REST API."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from service.api.context import AppContext
from service.api.financing.queries import chain_now
from service.api.financing.schemas import SettleIn
from service.api.financing.settlement import pay_note, settle_tree
from service.api.notes.queries import NoteFilter, find_notes
from service.api.notes.schemas import NoteIssue, NoteOut
from service.api.notes.service import issue_note
from service.api.tokens.service import registered_tokens
from service.console.accounts import balances
from service.console.directory import members_with
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
from service.domain import FINANCIER, SUPPLIER, NoteStatus

router = console_router()
LIST_LIMIT = 500
LIVE = (int(NoteStatus.ACTIVE), int(NoteStatus.OVERDUE))


def _issue_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    currencies = [token.currency for token in registered_tokens(context).items] or ["USD"]
    return render(
        request,
        "settlement/issue.html",
        user,
        status=status,
        suppliers=[m for m in members_with(context, [SUPPLIER, FINANCIER]) if m.id != user.member.id],
        currencies=currencies,
        errors=errors or {},
        values={"currency": currencies[0], **(values or {})},
    )


@router.get("/issue")
def issue_page(request: Request, context: ConsoleContext, user: User) -> Response:
    return _issue_page(request, context, user)


def _maturity(text_value: str) -> datetime:
    """A maturity date (YYYY-MM-DD) as the end of that day, UTC."""
    day = date.fromisoformat(text_value)
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


@router.post("/issue")
async def issue(request: Request, context: ConsoleContext, user: User, form: Form) -> Response:
    t = translator(request)
    values = form_values(form)
    currency = text(form, "currency") or "USD"
    errors: dict[str, str] = {}
    amount = 0
    try:
        amount = parse_amount(text(form, "amount"), currency)
    except AmountError as exc:
        errors["amount"] = t(exc.key, **exc.values)
    maturity = None
    try:
        maturity = _maturity(text(form, "maturity"))
    except ValueError:
        errors["maturity"] = t("date_invalid")
    if not text(form, "document_hash"):
        errors["document_hash"] = t("invoice_required")
    if not text(form, "to"):
        errors["to"] = t("member_required")
    if errors or maturity is None:
        return _issue_page(request, context, user, status=422, errors=errors, values=values)
    try:
        body = NoteIssue(
            to=text(form, "to"),
            amount=amount,
            currency=currency,
            maturity=maturity,
            document_hash=text(form, "document_hash"),
            reference=text(form, "reference") or None,
        )
    except ValidationError as exc:
        return _issue_page(
            request, context, user, status=422, errors=validation_errors(t, exc), values=values
        )
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        "/v1/notes",
        body,
        lambda: issue_note(context, user.member, body),
    )
    if not outcome.ok:
        return _issue_page(
            request, context, user, status=outcome.status, errors=outcome.errors, values=values
        )
    return RedirectResponse(f"/console/notes/{outcome.content['note_ids'][0]}?done=issue", status_code=303)


# ------------------------------------------------------------------ maturity calendar
@dataclass(frozen=True)
class DueDay:
    day: date
    currency: str
    notes: list[NoteOut]
    due: int
    cumulative: int
    balance: int

    @property
    def short(self) -> int:
        return max(0, self.cumulative - self.balance)


def calendar(context: AppContext, user: SessionUser) -> tuple[list[DueDay], dict[str, int]]:
    """The obligor's live notes by maturity day: what falls due, cumulated, against its balance."""
    with context.session() as session:
        notes, _next = find_notes(
            context,
            session,
            user.member,
            NoteFilter(obligor=user.member.address, statuses=LIVE),
            limit=LIST_LIMIT,
        )
    held = {account.currency: int(account.balance) for account in balances(context, user.member)}
    by_day: dict[tuple[str, date], list[NoteOut]] = defaultdict(list)
    for note in notes:
        by_day[(note.currency, note.maturity.date())].append(note)
    days: list[DueDay] = []
    running: dict[str, int] = defaultdict(int)
    for (currency, day), due_notes in sorted(by_day.items(), key=lambda item: (item[0][1], item[0][0])):
        due = sum(int(n.remaining) for n in due_notes)
        running[currency] += due
        days.append(DueDay(day, currency, due_notes, due, running[currency], held.get(currency, 0)))
    return days, held


@router.get("/calendar")
def calendar_page(request: Request, context: ConsoleContext, user: User) -> Response:
    days, held = calendar(context, user)
    return render(request, "settlement/calendar.html", user, days=days, held=held, now=chain_now(context))


# ------------------------------------------------------------------ settle
def _settle_failed(request: Request, user: SessionUser, status: int, errors: dict[str, str]) -> Response:
    t = translator(request)
    return render(
        request,
        "error.html",
        user,
        status=status,
        status_code=status,
        title=t("settle_failed"),
        detail="; ".join(errors.values()),
    )


@router.post("/notes/{note_id}/settle")
async def settle_note(
    request: Request, note_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    t = translator(request)
    body = SettleIn()
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/notes/{note_id}/settle",
        body,
        lambda: pay_note(context, user.member, note_id, body),
    )
    if not outcome.ok:
        return _settle_failed(request, user, outcome.status, outcome.errors)
    return RedirectResponse(f"/console/notes/{note_id}?done=settle", status_code=303)


@router.post("/roots/{root_id}/settle")
async def settle_root(
    request: Request, root_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    t = translator(request)
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/roots/{root_id}/settle",
        None,
        lambda: settle_tree(context, user.member, root_id),
    )
    if not outcome.ok:
        return _settle_failed(request, user, outcome.status, outcome.errors)
    done = "settle_job" if outcome.status == 202 else "settle_tree"
    return RedirectResponse(f"/console/notes/{root_id}?done={done}", status_code=303)
