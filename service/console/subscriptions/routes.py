"""Webhook subscriptions (every member): its subscriptions (the operator: everyone's), creating one
(the signing secret shown once, on the answer page), pausing and resuming, replaying from an event
sequence number, and the delivery log: the REST API's subscription use cases
(`service.api.subscriptions.service`), each write under the idempotency journal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from service.api.context import AppContext
from service.api.subscriptions import service
from service.api.subscriptions.schemas import (
    ReplayIn,
    SubscriptionFilters,
    SubscriptionIn,
    SubscriptionOut,
)
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
from service.events.types import EVENT_TYPES

router = console_router("/subscriptions")
DELIVERY_LIMIT: Final = 100


def _list_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    chosen: list[str] | None = None,
) -> Response:
    with context.session() as session:
        items = service.list_for(session, user.member)
    return render(
        request,
        "subscriptions/list.html",
        user,
        status=status,
        subscriptions=items,
        event_types=EVENT_TYPES,
        chosen=set(chosen or ()),
        errors=errors or {},
        values=values or {},
    )


@router.get("")
def list_page(request: Request, context: ConsoleContext, user: User) -> Response:
    return _list_page(request, context, user)


def _form_body(form: Form, chosen: list[str]) -> SubscriptionIn:
    return SubscriptionIn.model_validate(
        {
            "url": text(form, "url"),
            "event_types": chosen,
            "description": text(form, "description") or None,
            "filters": SubscriptionFilters.model_validate(
                {name: text(form, name) for name in ("note_id", "root_id", "obligor") if text(form, name)}
            ),
        }
    )


@router.post("")
async def create(request: Request, context: ConsoleContext, user: User, form: Form) -> Response:
    t = translator(request)
    values = form_values(form)
    chosen = [v for v in form.getlist("event_types") if isinstance(v, str)]
    try:
        body = _form_body(form, chosen)
    except ValidationError as exc:
        errors = {k.removeprefix("filters."): v for k, v in validation_errors(t, exc).items()}
        return _list_page(request, context, user, status=422, errors=errors, values=values, chosen=chosen)
    secrets: list[str] = []

    def create_subscription() -> tuple[int, BaseModel]:
        """The use case; the secret is kept for this answer page only (not in the journal)."""
        with context.session() as session:
            created = service.create(session, context.settings, user.member, body)
        secrets.append(created.secret)
        return 201, SubscriptionOut.model_validate(created.model_dump(exclude={"secret"}))

    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        "/v1/subscriptions",
        body,
        create_subscription,
    )
    if not outcome.ok:
        return _list_page(
            request, context, user, status=outcome.status, errors=outcome.errors, values=values, chosen=chosen
        )
    return render(
        request,
        "subscriptions/created.html",
        user,
        status=201,
        subscription=SubscriptionOut.model_validate(outcome.content),
        secret=secrets[0] if secrets else None,
    )


def _detail_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    subscription_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    with context.session() as session:
        sub = service.answer(service.find(session, user.member, subscription_id))
        log = service.deliveries(session, user.member, subscription_id, None, DELIVERY_LIMIT)
    return render(
        request,
        "subscriptions/detail.html",
        user,
        status=status,
        subscription=sub,
        deliveries=log.items,
        owns=sub.member_id == user.member.id,
        errors=errors or {},
        values=values or {},
        message=message,
    )


@router.get("/{subscription_id}")
def detail_page(
    request: Request,
    subscription_id: str,
    context: ConsoleContext,
    user: User,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    t = translator(request)
    message = t(f"subscription_done_{done}") if done in ("pause", "resume", "replay") else None
    return _detail_page(request, context, user, subscription_id, message=message)


async def _write(
    request: Request,
    context: AppContext,
    user: SessionUser,
    form: Form,
    subscription_id: str,
    action: str,
    body: BaseModel | None,
    use_case: Callable[[], BaseModel],
) -> Response:
    t = translator(request)

    def run() -> tuple[int, BaseModel]:
        return 200, use_case()

    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/subscriptions/{subscription_id}/{action}",
        body,
        run,
    )
    if not outcome.ok:
        errors = {("from_seq" if action == "replay" and not k else k): v for k, v in outcome.errors.items()}
        return _detail_page(
            request,
            context,
            user,
            subscription_id,
            status=outcome.status,
            errors=errors,
            values=form_values(form),
        )
    return RedirectResponse(f"/console/subscriptions/{subscription_id}?done={action}", status_code=303)


@router.post("/{subscription_id}/pause")
async def pause(
    request: Request, subscription_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    def use_case() -> BaseModel:
        with context.session() as session:
            return service.pause(session, user.member, subscription_id)

    return await _write(request, context, user, form, subscription_id, "pause", None, use_case)


@router.post("/{subscription_id}/resume")
async def resume(
    request: Request, subscription_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    def use_case() -> BaseModel:
        with context.session() as session:
            return service.resume(session, user.member, subscription_id)

    return await _write(request, context, user, form, subscription_id, "resume", None, use_case)


@router.post("/{subscription_id}/replay")
async def replay(
    request: Request, subscription_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    """Replay from an event sequence number (the form's one field)."""
    t = translator(request)
    raw = text(form, "from_seq")
    try:
        body = ReplayIn.model_validate({"from_seq": raw or None})
    except ValidationError as exc:
        errors = {"from_seq": "; ".join(validation_errors(t, exc).values())}
        return _detail_page(
            request, context, user, subscription_id, status=422, errors=errors, values=form_values(form)
        )

    def use_case() -> BaseModel:
        with context.session() as session:
            return service.replay(session, user.member, subscription_id, body)

    return await _write(request, context, user, form, subscription_id, "replay", body, use_case)
