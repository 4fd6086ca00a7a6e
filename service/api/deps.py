"""The gateway's request dependencies, each declared once: the application context, the
authenticated member and the role dependencies built on it, and the `Idempotency-Key` header.

Routes annotate their parameters with these; the rules behind them live in `service.api.auth`
(keys, suspension, roles) and `service.api.idempotency` (the journal).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.api.auth import authenticate, bearer_key, require_role
from service.api.context import AppContext
from service.api.deferred_write import Finish, WriteResponse, prefers_async
from service.api.idempotency import run_idempotent
from service.api.writes import Answer
from service.db.gateway_models import ApiMember
from service.domain import AUDITOR, CORE_ENTERPRISE, FINANCIER, OPERATOR, SUPPLIER


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]
"""The application's `AppContext` (composition root), one per process."""

BearerKey = Annotated[str, Depends(bearer_key)]
"""The API key in `Authorization: Bearer <key>` (401 if missing or malformed), not yet looked up."""


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_ADMISSION_THREADS = 4
"""Threads of a process that authenticate write requests (a SQL statement each) before the write
is handed to its own threads (`service.api.write_capacity`): a burst of hundreds of writes then
queues here, not on the threads that serve reads."""


async def current_member(request: Request, context: Context, key: BearerKey) -> ApiMember:
    """The authenticated member, read with its registry status on every request and let through
    the suspension gate (`service.api.auth.authenticate`). A write request's look-up runs on the
    app's write admission threads (`WRITE_ADMISSION_THREADS`), a read's on the threads reads use."""
    limiter = None if request.method in SAFE_METHODS else write_admission(request)
    return await anyio.to_thread.run_sync(authenticate, request, context, key, limiter=limiter)


def write_admission(request: Request) -> anyio.CapacityLimiter:
    """The app's limiter of write admission threads, made in its event loop on first use."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "write_admission", None)
    if limiter is None:
        limiter = state.write_admission = anyio.CapacityLimiter(WRITE_ADMISSION_THREADS)
    return limiter


CurrentMember = Annotated[ApiMember, Depends(current_member)]


def role_dependency(*roles: str) -> Callable[[ApiMember], Awaitable[ApiMember]]:
    """A dependency: the current member, 403 `forbidden` unless it has one of `roles`."""

    async def check(member: CurrentMember) -> ApiMember:  # no I/O: no thread needed
        require_role(member, *roles)
        return member

    return check


Operator = Annotated[ApiMember, Depends(role_dependency(OPERATOR))]
Obligor = Annotated[ApiMember, Depends(role_dependency(CORE_ENTERPRISE))]
Financier = Annotated[ApiMember, Depends(role_dependency(FINANCIER))]
Payer = Annotated[ApiMember, Depends(role_dependency(CORE_ENTERPRISE, SUPPLIER))]
"""An obligor of record: a core enterprise, or a supplier (of its own evidence-backed receivables),
which approves financiers and pays its notes."""
RelationshipReader = Annotated[
    ApiMember, Depends(role_dependency(CORE_ENTERPRISE, SUPPLIER, FINANCIER, AUDITOR, OPERATOR))
]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
"""The optional `Idempotency-Key` header of a write (see `service.api.idempotency`)."""

Prefer = Annotated[
    str | None,
    Header(
        alias="Prefer",
        description="`respond-async`: answer 202 Accepted once the write's transaction is broadcast",
    ),
]
"""The optional `Prefer` header of a write (RFC 7240; see `service.api.deferred_write`)."""


@dataclass(frozen=True)
class IdempotentWrite:
    """A write request as the idempotency journal sees it: its `Idempotency-Key` (if any), method
    and path, bound to the context. `run(member, body, action)` is every write route's one flow:
    `action` (pre-checks, then `service.api.writes.transact`: sign, send, wait for the index, build
    the answer) runs at most once per (member, key), and a retry is answered from the record or
    resolved from the chain (`service.api.idempotency.run_idempotent`).

    The write runs on the context's write threads (`service.api.write_capacity`: 503
    `gateway-busy` when they are all taken), not the request's: `run` returns at once a
    `WriteResponse` that awaits it (`service.api.deferred_write`), 202 Accepted once its
    transaction is broadcast if the request said `Prefer: respond-async`. `finish` post-processes
    the final answer."""

    context: AppContext
    key: str | None
    method: str
    path: str
    respond_async: bool = False

    def run(
        self,
        member: ApiMember,
        body: BaseModel | None,
        action: Callable[[], Answer],
        finish: Finish | None = None,
    ) -> JSONResponse:
        def work() -> JSONResponse:
            return run_idempotent(self.context, member, self.key, self.method, self.path, body, action)

        return WriteResponse(self.context.writes, work, respond_async=self.respond_async, finish=finish)


async def idempotent_write(  # no I/O: no thread needed
    request: Request, context: Context, idempotency_key: IdempotencyKey = None, prefer: Prefer = None
) -> IdempotentWrite:
    return IdempotentWrite(
        context, idempotency_key, request.method, request.url.path, respond_async=prefers_async(prefer)
    )


Write = Annotated[IdempotentWrite, Depends(idempotent_write)]
"""The write flow of a route (see `IdempotentWrite`), with its `Idempotency-Key` header."""
