"""Notes: the member's notes by what it can do with them (answer, hold, owe), one note's page with
its actions (accept, reject, split and pass on, transfer), each through the notes use cases of the
REST API (`service.api.notes.service`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from service.api.context import AppContext
from service.api.financing.pricing import days_between
from service.api.financing.queries import chain_now
from service.api.members.schemas import MemberOut
from service.api.notes.queries import NoteFilter, find_notes, notes_out, parse_note_id, visible_note
from service.api.notes.schemas import NoteOut, NoteSplitIn, NoteTransfer
from service.api.notes.service import PendingAnswer, answer_pending, split_note, transfer_note
from service.console.directory import members_with
from service.console.i18n import Translator
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
from service.domain import AUDITOR, CORE_ENTERPRISE, FINANCIER, OPERATOR, SUPPLIER, NoteStatus

router = console_router("/notes")
LIST_LIMIT = 200
SPLIT_ROWS = 4
"""Rows of the split form (empty rows are left out; 2 to 100 parts: `MAX_SPLIT_PARTS`)."""
LIVE = (int(NoteStatus.ACTIVE), int(NoteStatus.OVERDUE))


@dataclass(frozen=True)
class Row:
    note: NoteOut
    days_left: int


def days_left(note: NoteOut, now: int) -> int:
    """Calendar days (UTC) from today to the maturity date: the days a quote counts."""
    return days_between(now, int(note.maturity.timestamp()))


def _rows(notes: list[NoteOut], now: int) -> list[Row]:
    return [Row(n, days_left(n, now)) for n in notes]


def _sections(context: AppContext, member_roles: set[str], user: SessionUser) -> list[tuple[str, list[Row]]]:
    member = user.member
    now = chain_now(context)
    wanted: list[tuple[str, NoteFilter]] = []
    if member_roles & {SUPPLIER, FINANCIER}:
        wanted.append(
            ("awaiting_answer", NoteFilter(holder=member.address, statuses=(int(NoteStatus.PENDING),)))
        )
        wanted.append(("notes_held", NoteFilter(holder=member.address, statuses=LIVE)))
    if CORE_ENTERPRISE in member_roles:
        wanted.append(
            ("issued_pending", NoteFilter(obligor=member.address, statuses=(int(NoteStatus.PENDING),)))
        )
        wanted.append(("outstanding", NoteFilter(obligor=member.address, statuses=LIVE)))
    if member_roles & {AUDITOR, OPERATOR}:
        wanted.append(("all_notes", NoteFilter()))
    sections = []
    with context.session() as session:
        for title, filters in wanted:
            items, _next = find_notes(context, session, member, filters, limit=LIST_LIMIT)
            sections.append((title, _rows(items, now)))
    return sections


@router.get("")
def notes_page(request: Request, context: ConsoleContext, user: User) -> Response:
    sections = _sections(context, set(user.member.role_names), user)
    return render(request, "notes/list.html", user, sections=sections)


@dataclass(frozen=True)
class NoteView:
    note: NoteOut
    days_left: int
    holds: bool
    owes: bool
    children: list[NoteOut]


def _view(context: AppContext, user: SessionUser, raw_id: str) -> NoteView:
    """The note `raw_id` as `user` may see it (404 page otherwise: the API's visibility rule)."""
    note_id = parse_note_id(raw_id)
    with context.session() as session:
        row = visible_note(session, user.member, note_id)
        note = notes_out(context, session, [row])[0]
        children, _next = find_notes(
            context, session, user.member, NoteFilter(root=row.root_id), limit=LIST_LIMIT
        )
    now = chain_now(context)
    return NoteView(
        note=note,
        days_left=days_left(note, now),
        holds=note.holder == user.member.address,
        owes=note.obligor == user.member.address,
        children=[c for c in children if c.parent_id == note.id],
    )


def _note_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    note_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    view = _view(context, user, note_id)
    holders: list[MemberOut] = members_with(context, [SUPPLIER, FINANCIER]) if view.holds else []
    return render(
        request,
        "notes/detail.html",
        user,
        status=status,
        view=view,
        note=view.note,
        holders=holders,
        split_rows=range(SPLIT_ROWS),
        errors=errors or {},
        values=values or {},
        message=message,
    )


@router.get("/{note_id}")
def note_page(
    request: Request,
    note_id: str,
    context: ConsoleContext,
    user: User,
    done: Annotated[str | None, Query()] = None,
) -> Response:
    t = translator(request)
    message = t(f"done_{done}") if done in DONE else None
    return _note_page(request, context, user, note_id, message=message)


DONE = frozenset(
    {
        "accept",
        "reject",
        "split",
        "transfer",
        "issue",
        "settle",
        "settle_tree",
        "settle_job",
        "freeze",
        "unfreeze",
    }
)


def _after(note_id: str, done: str, note_ids: list[str] | None = None) -> Response:
    target = note_ids[0] if note_ids else note_id
    return RedirectResponse(f"/console/notes/{target}?done={done}", status_code=303)


async def _answer(
    request: Request, context: AppContext, user: SessionUser, form: Form, note_id: str, check: PendingAnswer
) -> Response:
    t = translator(request)
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/notes/{note_id}/{check}",
        None,
        lambda: answer_pending(context, user.member, note_id, check),
    )
    if not outcome.ok:
        return _note_page(request, context, user, note_id, status=outcome.status, errors=outcome.errors)
    return _after(note_id, check)


@router.post("/{note_id}/accept")
async def accept(request: Request, note_id: str, context: ConsoleContext, user: User, form: Form) -> Response:
    return await _answer(request, context, user, form, note_id, "accept")


@router.post("/{note_id}/reject")
async def reject(request: Request, note_id: str, context: ConsoleContext, user: User, form: Form) -> Response:
    return await _answer(request, context, user, form, note_id, "reject")


@router.post("/{note_id}/transfer")
async def transfer(
    request: Request, note_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    t = translator(request)
    values = form_values(form)
    try:
        body = NoteTransfer(to=text(form, "to"))
    except ValidationError as exc:
        return _note_page(
            request, context, user, note_id, status=422, errors=validation_errors(t, exc, "to"), values=values
        )
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/notes/{note_id}/transfer",
        body,
        lambda: transfer_note(context, user.member, note_id, body),
    )
    if not outcome.ok:
        return _note_page(
            request, context, user, note_id, status=outcome.status, errors=outcome.errors, values=values
        )
    return _after(note_id, "transfer")


def split_parts(t: Translator, form: Form, currency: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The split form's filled rows as the REST body's parts (amounts in minor units), and the
    errors of rows that are not (by field)."""
    parts: list[dict[str, str]] = []
    errors: dict[str, str] = {}
    for i in range(100):
        to, amount = text(form, f"parts.{i}.to"), text(form, f"parts.{i}.amount")
        if f"parts.{i}.to" not in form and f"parts.{i}.amount" not in form:
            break
        if not to and not amount:
            continue
        index = len(parts)
        if not to:
            errors[f"parts.{i}.to"] = t("member_required")
        try:
            minor = parse_amount(amount, currency)
        except AmountError as exc:
            errors[f"parts.{i}.amount"] = t(exc.key, **exc.values)
            continue
        parts.append({"to": to, "amount": str(minor), "row": str(i), "index": str(index)})
    return parts, errors


@router.post("/{note_id}/split")
async def split(request: Request, note_id: str, context: ConsoleContext, user: User, form: Form) -> Response:
    t = translator(request)
    values = form_values(form)
    view = _view(context, user, note_id)
    parts, errors = split_parts(t, form, view.note.currency)
    if not errors and len(parts) < 2:
        errors["parts"] = t("split_needs_two")
    if errors:
        return _note_page(request, context, user, note_id, status=422, errors=errors, values=values)
    rows = {p["index"]: p["row"] for p in parts}
    try:
        body = NoteSplitIn.model_validate({"parts": [{"to": p["to"], "amount": p["amount"]} for p in parts]})
    except ValidationError as exc:
        return _note_page(
            request, context, user, note_id, status=422, errors=validation_errors(t, exc), values=values
        )
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/notes/{note_id}/split",
        body,
        lambda: split_note(context, user.member, note_id, body),
    )
    if not outcome.ok:
        # the problem names the REST body's part index; the form's row may differ (empty rows)
        mapped = {}
        for name, message in outcome.errors.items():
            if name.startswith("parts."):
                _, index, field = [*name.split("."), "", ""][:3]
                name = f"parts.{rows.get(index, index)}.{field}"
            mapped[name] = message
        return _note_page(
            request, context, user, note_id, status=outcome.status, errors=mapped, values=values
        )
    return _after(note_id, "split")
