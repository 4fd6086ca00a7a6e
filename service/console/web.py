"""The console's web plumbing: templates, the route class that turns every refusal into a page,
the signed-in member of a request, CSRF-checked forms and the cookies.

Every console router is made with `console_router()`: its routes render HTML, and a problem raised
anywhere below them (a domain service's `ProblemError`, a ledger error, an unknown query parameter)
becomes a readable error page with the problem's status (another member's note: the 404 page), a
request without a live session a redirect to the sign-in page, a form without the session's CSRF
token the 403 page."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from service.api.auth import member_suspended
from service.api.context import AppContext
from service.api.deps import get_context
from service.api.display import minor_unit_exponent
from service.api.problems import ProblemError, ledger_problem
from service.api.schemas import to_datetime
from service.console.i18n import LOCALE_COOKIE, Translator, negotiate
from service.console.money import format_amount, format_major
from service.console.nav import pages_for
from service.console.sessions import SessionUser, find_session
from service.ledger.errors import LedgerError

PREFIX = "/console"
SESSION_COOKIE = "cc_session"
SIGNIN_CSRF_COOKIE = "cc_signin_csrf"
CSRF_FIELD = "csrf_token"
IDEMPOTENCY_FIELD = "idempotency_key"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
NOTE_ACTIONS: Final = (
    "offers/_note_offer.html",
    "settlement/_note_settle.html",
    "operator/_note_freeze.html",
    "provenance/_note_graph.html",
)
"""Templates included at the foot of a note's page, each deciding for itself whether it applies
(an area's note actions: offering, settling, freezing, the provenance graph)."""


class SignInRequired(Exception):
    """No live console session: the page sends the browser to sign in."""


class CsrfRefused(Exception):
    """A form without this session's CSRF token: refused (403 page)."""


def translator(request: Request) -> Translator:
    """The request's language (cached on the request)."""
    cached: Translator | None = getattr(request.state, "console_t", None)
    if cached is None:
        cached = Translator(
            negotiate(request.cookies.get(LOCALE_COOKIE), request.headers.get("accept-language"))
        )
        request.state.console_t = cached
    return cached


def _date(unix: int | None) -> str:
    return "" if unix is None else to_datetime(unix).strftime("%Y-%m-%d")


def _datetime(unix: int | None) -> str:
    return "" if unix is None else to_datetime(unix).strftime("%Y-%m-%d %H:%M UTC")


TEMPLATES.env.globals.update(
    new_idempotency_key=lambda: uuid.uuid4().hex,
    nav_items=pages_for,
    note_actions=NOTE_ACTIONS,
    exponent=minor_unit_exponent,
    CSRF_FIELD=CSRF_FIELD,
    IDEMPOTENCY_FIELD=IDEMPOTENCY_FIELD,
)
TEMPLATES.env.filters.update(
    money=format_amount,
    major=format_major,
    date=_date,
    datetime=_datetime,
    role_name=lambda role, t: t(f"role_{role}"),
)


def render(
    request: Request,
    template: str,
    user: SessionUser | None,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """`template` rendered for `user` in the request's language, with the security headers."""
    t = translator(request)
    context: dict[str, Any] = {
        "t": t,
        "user": user,
        "member": user.member if user is not None else None,
        "roles": set(user.member.role_names) if user is not None else set(),
        "csrf_token": user.csrf_token if user is not None else getattr(request.state, "signin_csrf", ""),
        "path": request.url.path,
        "errors": {},
        "values": {},
        "message": None,
        "shown_errors": [],  # the fields whose message a form showed; base.html shows the others
        **values,
    }
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    secure(response)
    return response


def secure(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def error_page(request: Request, status: int, title: str, detail: str | None = None) -> Response:
    user: SessionUser | None = getattr(request.state, "console_user", None)
    return render(request, "error.html", user, status=status, status_code=status, title=title, detail=detail)


class ConsoleRoute(APIRoute):
    """A console route: refusals become pages (see the module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)
            except CsrfRefused:
                t = translator(request)
                return error_page(request, 403, t("csrf_refused_title"), t("csrf_refused_detail"))
            except ProblemError as problem:
                return problem_page(request, problem)
            except LedgerError as exc:
                return problem_page(request, ledger_problem(exc))
            except RequestValidationError:
                t = translator(request)
                return error_page(request, 422, t("invalid_request_title"), t("invalid_request_detail"))

        return page


def problem_page(request: Request, problem: ProblemError) -> Response:
    t = translator(request)
    if problem.status == 404:
        return error_page(request, 404, t("not_found_title"), t("not_found_detail"))
    if problem.status == 403:
        return error_page(request, 403, t("forbidden_title"), problem.detail or problem.title)
    return error_page(request, problem.status, problem.title, problem.detail)


def console_router(prefix: str = "") -> APIRouter:
    """A router of console pages under `/console<prefix>` (hidden from the OpenAPI document)."""
    return APIRouter(prefix=PREFIX + prefix, route_class=ConsoleRoute, include_in_schema=False)


# ------------------------------------------------------------------ the signed-in member
async def optional_user(
    request: Request, context: Annotated[AppContext, Depends(get_context)]
) -> SessionUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = await anyio.to_thread.run_sync(find_session, context, token)
    request.state.console_user = user
    if user is not None:
        request.state.member_id = user.member.id  # the access log's member
    return user


SUSPENDED_MAY: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", PREFIX + "/"),
        ("GET", PREFIX + "/notes"),
        ("GET", PREFIX + "/notes/{note_id}"),
        ("POST", PREFIX + "/notes/{note_id}/settle"),
        ("POST", PREFIX + "/roots/{root_id}/settle"),
        ("POST", PREFIX + "/sign-out"),
    }
)
"""What a suspended member may still do in the console, as in the API (`service.api.auth.SUSPENDED_MAY`):
read its own notes (the notes queries narrow them to those it holds or owes) and pay what it owes."""


async def required_user(
    request: Request, user: Annotated[SessionUser | None, Depends(optional_user)]
) -> SessionUser:
    if user is None:
        raise SignInRequired()
    if user.member.suspended:
        route = request.scope.get("route")
        if (request.method, getattr(route, "path", None)) not in SUSPENDED_MAY:
            raise member_suspended(user.member.id)
    return user


MaybeUser = Annotated[SessionUser | None, Depends(optional_user)]
User = Annotated[SessionUser, Depends(required_user)]
ConsoleContext = Annotated[AppContext, Depends(get_context)]


async def checked_form(request: Request, user: User) -> FormData:
    """The posted form, refused (403 page) unless it carries the session's CSRF token."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf_token):
        raise CsrfRefused()
    return form


Form = Annotated[FormData, Depends(checked_form)]


def form_values(form: FormData) -> dict[str, str]:
    """The form's text fields (files and the CSRF token left out), to show back on a re-render."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def signin_csrf(request: Request) -> str:
    """The sign-in form's double-submit token: the cookie's, or a new one (set by `remember_signin_csrf`)."""
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    request.state.signin_csrf = token
    return token


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None = None
) -> None:
    context: AppContext = request.app.state.context
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=context.settings.console_secure_cookies,
    )
