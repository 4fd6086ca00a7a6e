"""The console's start page: what the signed-in member can do, by role; and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from service.console.accounts import balances
from service.console.i18n import LOCALE_COOKIE, LOCALES
from service.console.nav import pages_for
from service.console.web import PREFIX, ConsoleContext, User, console_router, render, set_cookie

router = console_router()


@router.get("/")
def home(request: Request, context: ConsoleContext, user: User) -> Response:
    return render(
        request,
        "home/home.html",
        user,
        pages=pages_for(user.member.role_names),
        accounts=balances(context, user.member),
    )


@router.get("/language")
def switch_language(
    request: Request,
    set: Annotated[str, Query()],
    back: Annotated[str | None, Query()] = None,
) -> Response:
    """The language switch: a link in every page's header (a preference cookie, no state changed)."""
    target = back if back and back.startswith(PREFIX + "/") and not back.startswith("//") else PREFIX + "/"
    response = RedirectResponse(target, status_code=303)
    if set in LOCALES:
        set_cookie(request, response, LOCALE_COOKIE, set, max_age=365 * 86_400)
    return response
