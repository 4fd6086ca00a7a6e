"""The operator's side: member administration (suspend, reinstate) and freezing or unfreezing a
note with a reason (dispute, court order). Through `service.api.members.service` and
`service.api.notes.service`, with the API's role checks."""

from __future__ import annotations

from typing import get_args

import anyio.to_thread
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from service.api.auth import require_role
from service.api.context import AppContext
from service.api.members.schemas import MemberCreate, MemberCreated, RoleName
from service.api.members.service import change_member_status, list_members, onboard_member
from service.api.notes.schemas import NoteFreeze
from service.api.notes.service import freeze_note, unfreeze_note
from service.api.ops.dev import ClockAdvance, advance_clock_by
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
from service.domain import OPERATOR

router = console_router()
DAY = 86_400


def _members_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    values: dict[str, str] | None = None,
    created: MemberCreated | None = None,
) -> Response:
    require_role(user.member, OPERATOR)
    return render(
        request,
        "operator/members.html",
        user,
        status=status,
        members=list_members(context).items,
        role_names=get_args(RoleName),
        values=values or {},
        created=created,
        dev_clock=context.chain.kind == "in-process",
        errors=errors or {},
        message=message,
    )


@router.get("/members")
def members_page(request: Request, context: ConsoleContext, user: User) -> Response:
    return _members_page(request, context, user)


@router.post("/members")
async def onboard(request: Request, context: ConsoleContext, user: User, form: Form) -> Response:
    """Onboard a member (custodial, or self-custodied with its address); its API key is shown on
    the answering page only (the REST answer's, kept nowhere)."""
    require_role(user.member, OPERATOR)
    t = translator(request)
    values = form_values(form)
    try:
        body = MemberCreate.model_validate(
            {
                "name": text(form, "name"),
                "roles": form.getlist("roles"),
                "address": text(form, "address") or None,
            }
        )
    except ValidationError as exc:
        return _members_page(
            request, context, user, status=422, errors=validation_errors(t, exc), values=values
        )
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        "/v1/members",
        body,
        lambda: (201, onboard_member(context, user.member, body.name, body.roles, body.address)),
    )
    if not outcome.ok:
        return _members_page(
            request, context, user, status=outcome.status, errors=outcome.errors, values=values
        )
    return _members_page(request, context, user, created=MemberCreated.model_validate(outcome.content))


async def _change(
    request: Request, context: AppContext, user: SessionUser, form: Form, member_id: str, suspend: bool
) -> Response:
    require_role(user.member, OPERATOR)
    t = translator(request)
    action = "suspend" if suspend else "reinstate"
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/members/{member_id}/{action}",
        None,
        lambda: (200, change_member_status(context, user.member, member_id, suspend=suspend)),
    )
    if not outcome.ok:
        errors = {f"member-{member_id}": message for message in outcome.errors.values()}
        return _members_page(request, context, user, status=outcome.status, errors=errors)
    return RedirectResponse("/console/members", status_code=303)


@router.post("/members/{member_id}/suspend")
async def suspend(
    request: Request, member_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    return await _change(request, context, user, form, member_id, True)


@router.post("/members/{member_id}/reinstate")
async def reinstate(
    request: Request, member_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    return await _change(request, context, user, form, member_id, False)


async def _freeze(
    request: Request, context: AppContext, user: SessionUser, form: Form, note_id: str, freeze: bool
) -> Response:
    require_role(user.member, OPERATOR)
    t = translator(request)
    body: NoteFreeze | None = None
    if freeze:
        try:
            body = NoteFreeze(reason=text(form, "reason"))
        except ValidationError as exc:
            errors = validation_errors(t, exc, "reason")
            return render(
                request,
                "error.html",
                user,
                status=422,
                status_code=422,
                title=t("freeze_failed"),
                detail="; ".join(errors.values()),
            )
    reason = body.reason if body is not None else ""
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/notes/{note_id}/{'freeze' if freeze else 'unfreeze'}",
        body,
        lambda: (
            (200, freeze_note(context, user.member, note_id, reason))
            if freeze
            else (200, unfreeze_note(context, user.member, note_id))
        ),
    )
    if not outcome.ok:
        return render(
            request,
            "error.html",
            user,
            status=outcome.status,
            status_code=outcome.status,
            title=t("freeze_failed"),
            detail="; ".join(outcome.errors.values()),
        )
    return RedirectResponse(
        f"/console/notes/{note_id}?done={'freeze' if freeze else 'unfreeze'}", status_code=303
    )


@router.post("/notes/{note_id}/freeze")
async def freeze(request: Request, note_id: str, context: ConsoleContext, user: User, form: Form) -> Response:
    return await _freeze(request, context, user, form, note_id, True)


@router.post("/notes/{note_id}/unfreeze")
async def unfreeze(
    request: Request, note_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    return await _freeze(request, context, user, form, note_id, False)


@router.post("/dev/clock")
async def advance_clock(request: Request, context: ConsoleContext, user: User, form: Form) -> Response:
    """The embedded demo's clock moved forward (operator; the in-process chain only, as
    `POST /v1/dev/clock`)."""
    require_role(user.member, OPERATOR)
    t = translator(request)
    if context.chain.kind != "in-process":
        return _members_page(request, context, user, status=404, errors={"days": t("clock_not_here")})
    try:
        days = int(text(form, "days"))
        body = ClockAdvance(seconds=days * DAY)
    except (ValueError, ValidationError):
        return _members_page(request, context, user, status=422, errors={"days": t("days_invalid")})
    moved = await anyio.to_thread.run_sync(advance_clock_by, context, body.seconds)
    return _members_page(request, context, user, message=t("clock_moved", when=moved.block_time_iso))
