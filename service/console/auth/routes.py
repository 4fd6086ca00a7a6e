"""Signing in (a member's API key, or a demo member picked from a list when the gateway runs the
embedded demo), signing out (the session ends server-side) and the language switch."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from service.api.auth import find_caller, hash_key
from service.api.context import AppContext
from service.console.sessions import close_session, open_session
from service.console.web import (
    PREFIX,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    ConsoleContext,
    Form,
    MaybeUser,
    console_router,
    error_page,
    render,
    set_cookie,
    signin_csrf,
    text,
    translator,
)

router = console_router()
log = logging.getLogger("credchain.console")


@dataclass(frozen=True)
class DemoMember:
    """A member of the embedded demo the sign-in page offers to pick (its key stays server-side)."""

    id: str
    name: str
    roles: tuple[str, ...]


def demo_members(request: Request) -> list[DemoMember]:
    members: list[DemoMember] = getattr(request.app.state, "console_demo", None) or []
    return members


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def _signin_page(
    request: Request, next_: str | None, *, status: int = 200, error: str | None = None
) -> Response:
    token = signin_csrf(request)
    response = render(
        request,
        "auth/sign_in.html",
        None,
        status=status,
        next=_safe_next(next_),
        demo=demo_members(request),
        errors={"api_key": error} if error else {},
    )
    set_cookie(request, response, SIGNIN_CSRF_COOKIE, token)
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, user: MaybeUser, next: Annotated[str | None, Query()] = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _signin_page(request, next)


def _member_of_key(context: AppContext, key: str) -> str | None:
    with context.session() as session:
        caller = find_caller(session, hash_key(key))
    return caller.id if caller is not None else None


@router.post("/sign-in")
async def sign_in(request: Request, context: ConsoleContext) -> Response:
    form = await request.form()
    t = translator(request)
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    sent = form.get("csrf_token")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent, cookie):
        return error_page(request, 403, t("csrf_refused_title"), t("csrf_refused_detail"))
    next_ = text(form, "next")
    demo = text(form, "demo_member")
    member_id: str | None
    if demo:
        member_id = demo if demo in {m.id for m in demo_members(request)} else None
        if member_id is None:
            return _signin_page(request, next_, status=422, error=t("demo_member_unknown"))
    else:
        key = text(form, "api_key")
        if not key:
            return _signin_page(request, next_, status=422, error=t("api_key_required"))
        member_id = await anyio.to_thread.run_sync(_member_of_key, context, key)
        if member_id is None:
            return _signin_page(request, next_, status=401, error=t("api_key_unknown"))
    token = await anyio.to_thread.run_sync(open_session, context, member_id)
    log.info("console sign-in", extra={"member_id": member_id, "demo": bool(demo)})
    response = RedirectResponse(_safe_next(next_), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=context.settings.console_session_seconds)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, context: ConsoleContext, form: Form) -> Response:
    user = request.state.console_user
    await anyio.to_thread.run_sync(close_session, context, user.token_hash)
    log.info("console sign-out", extra={"member_id": user.member.id})
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
