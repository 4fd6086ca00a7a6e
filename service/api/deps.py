"""The gateway's request dependencies, each declared once: the application context, the
authenticated member and the role dependencies built on it, and the `Idempotency-Key` header.

Routes annotate their parameters with these; the rules behind them live in `service.api.auth`
(keys, suspension, roles) and `service.api.idempotency` (the journal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from service.api.auth import authenticate, bearer_key, require_role
from service.api.context import AppContext
from service.db.gateway_models import ApiMember
from service.domain import AUDITOR, CORE_ENTERPRISE, FINANCIER, OPERATOR


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]
"""The application's `AppContext` (composition root), one per process."""

BearerKey = Annotated[str, Depends(bearer_key)]
"""The API key in `Authorization: Bearer <key>` (401 if missing or malformed), not yet looked up."""


def current_member(request: Request, context: Context, key: BearerKey) -> ApiMember:
    """The authenticated member, read with its registry status on every request and let through
    the suspension gate (`service.api.auth.authenticate`)."""
    return authenticate(request, context, key)


CurrentMember = Annotated[ApiMember, Depends(current_member)]


def role_dependency(*roles: str) -> Callable[[ApiMember], ApiMember]:
    """A dependency: the current member, 403 `forbidden` unless it has one of `roles`."""

    def check(member: CurrentMember) -> ApiMember:
        require_role(member, *roles)
        return member

    return check


Operator = Annotated[ApiMember, Depends(role_dependency(OPERATOR))]
Obligor = Annotated[ApiMember, Depends(role_dependency(CORE_ENTERPRISE))]
Financier = Annotated[ApiMember, Depends(role_dependency(FINANCIER))]
RelationshipReader = Annotated[
    ApiMember, Depends(role_dependency(CORE_ENTERPRISE, FINANCIER, AUDITOR, OPERATOR))
]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
"""The optional `Idempotency-Key` header of a write (see `service.api.idempotency`)."""
