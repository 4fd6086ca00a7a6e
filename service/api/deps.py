"""The gateway's request dependencies, each declared once: the application context, the
authenticated member and the role dependencies built on it, and the `Idempotency-Key` header.

Routes annotate their parameters with these; the rules behind them live in `service.api.auth`
(keys, suspension, roles) and `service.api.idempotency` (the journal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.api.auth import authenticate, bearer_key, require_role
from service.api.context import AppContext
from service.api.idempotency import run_idempotent
from service.api.writes import Answer
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


@dataclass(frozen=True)
class IdempotentWrite:
    """A write request as the idempotency journal sees it: its `Idempotency-Key` (if any), method
    and path, bound to the context. `run(member, body, action)` is every write route's one flow:
    `action` (pre-checks, then `service.api.writes.transact`: sign, send, wait for the index, build
    the answer) runs at most once per (member, key), and a retry is answered from the record or
    resolved from the chain (`service.api.idempotency.run_idempotent`)."""

    context: AppContext
    key: str | None
    method: str
    path: str

    def run(self, member: ApiMember, body: BaseModel | None, action: Callable[[], Answer]) -> JSONResponse:
        return run_idempotent(self.context, member, self.key, self.method, self.path, body, action)


def idempotent_write(
    request: Request, context: Context, idempotency_key: IdempotencyKey = None
) -> IdempotentWrite:
    return IdempotentWrite(context, idempotency_key, request.method, request.url.path)


Write = Annotated[IdempotentWrite, Depends(idempotent_write)]
"""The write flow of a route (see `IdempotentWrite`), with its `Idempotency-Key` header."""
