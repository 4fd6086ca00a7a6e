"""A write's answer, awaited off the request thread: `WriteResponse`, and `Prefer: respond-async`.

A write route's sync handler returns a `WriteResponse` at once; the write itself runs on the
context's write threads (`service.api.write_capacity`). Starlette awaits the response inside its
exception handling (`request_response` wraps `await response(...)` with the app's handlers), so
an exception of the write (a `ProblemError`, a `LedgerError`, a database fault) is answered as if
the handler had raised it: problem+json.

With `Prefer: respond-async` (RFC 7240) the answer is `202 Accepted` as soon as the write's first
transaction was accepted by the node (`WriteAccepted`: its hash, `Location:
/v1/transactions/{hash}`, `Preference-Applied: respond-async`); the write goes on in the
background and, under an Idempotency-Key, stores its final answer for the retry with the same key.
A write that ends before broadcasting anything (a pre-check refused it, the estimate reverted, an
answer that needs no transaction) is answered as usual.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from service.api.write_capacity import WriteCapacity
from service.ledger.sender import listening_for_broadcasts

log = logging.getLogger(__name__)

PREFERENCE_APPLIED = "Preference-Applied"
RESPOND_ASYNC = "respond-async"
Finish = Callable[[JSONResponse], JSONResponse]


class WriteLinks(BaseModel):
    transaction: str
    """Where the transaction's fate is told (pending, mined and indexed, reverted, dropped)."""


class WriteAccepted(BaseModel):
    """The answer `202 Accepted` to a write sent with `Prefer: respond-async`."""

    status: str = "pending"
    tx_hash: str
    tx_hashes: list[str]
    links: WriteLinks


WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": WriteAccepted,
        "description": "With `Prefer: respond-async`: the write's transaction was broadcast and the "
        "write goes on in the background. Follow `Location` (GET /v1/transactions/{hash}); repeat "
        "the request with the same Idempotency-Key for the final answer (409 "
        "`idempotency-key-in-use` with Retry-After while it runs).",
    }
}
"""The 202 every write route may answer (added to each by `document_write_routes`)."""


def prefers_async(prefer: str | None) -> bool:
    """Whether a `Prefer` header asks for `respond-async` (RFC 7240: comma-separated preferences,
    each `token[=value]` with optional parameters)."""
    if not prefer:
        return False
    return any(p.split(";")[0].split("=")[0].strip().lower() == RESPOND_ASYNC for p in prefer.split(","))


class WriteResponse(JSONResponse):
    """The answer of a write running on `capacity` (`work()` builds its JSONResponse), awaited when
    Starlette sends the response. With `respond_async`, 202 once the first transaction is
    broadcast. `finish` post-processes the final answer (e.g. a header naming a created resource).

    A JSONResponse to the routes that return it (their annotations and FastAPI's), but it has no
    body until it is sent."""

    def __init__(
        self,
        capacity: WriteCapacity,
        work: Callable[[], JSONResponse],
        *,
        respond_async: bool = False,
        finish: Finish | None = None,
    ) -> None:
        super().__init__(None)  # replaced by the write's own answer in __call__
        self._finish = finish
        self._accepted: Future[str] | None = Future() if respond_async else None
        if self._accepted is None:
            self._future = capacity.submit(work)
        else:
            accepted = self._accepted
            claimed = threading.Lock()

            def broadcast(tx_hash: str) -> None:
                if claimed.acquire(blocking=False):  # the write's first transaction only
                    accepted.set_result(tx_hash)

            def listened() -> JSONResponse:
                with listening_for_broadcasts(broadcast):
                    return work()

            self._future = capacity.submit(listened)
            self._future.add_done_callback(_log_background_failure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._outcome()
        if self._finish is not None and not isinstance(response, _Accepted):
            response = self._finish(response)
        await response(scope, receive, send)

    async def _outcome(self) -> JSONResponse:
        done = asyncio.wrap_future(self._future)
        if self._accepted is None:
            return await done
        accepted = asyncio.wrap_future(self._accepted)
        either: list[asyncio.Future[Any]] = [done, accepted]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if done.done():  # finished (or failed) first, or both at once: the final answer
            accepted.cancel()
            return done.result()
        done.cancel()  # only the wrapper: the write goes on
        return _Accepted(accepted.result())


class _Accepted(JSONResponse):
    def __init__(self, tx_hash: str) -> None:
        location = f"/v1/transactions/{tx_hash}"
        body = WriteAccepted(tx_hash=tx_hash, tx_hashes=[tx_hash], links=WriteLinks(transaction=location))
        super().__init__(
            body.model_dump(mode="json"),
            status_code=202,
            headers={"Location": location, PREFERENCE_APPLIED: RESPOND_ASYNC},
        )


def _log_background_failure(future: Future[JSONResponse]) -> None:
    """A write answered 202 may fail later; its record (if any) holds the outcome, this logs it."""
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.warning("background write failed: %s: %s", type(exc).__name__, exc)


def document_write_routes(router: APIRouter, dependency: Callable[..., Any]) -> None:
    """Add `WRITE_RESPONSES` (202 with `Prefer: respond-async`) to the OpenAPI of every route of
    `router` that depends on `dependency` (the write flow), in one place (before the router is
    included in an app; again is a no-op)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and _depends_on(route.dependant, dependency):
            for status, response in WRITE_RESPONSES.items():
                if status in route.responses:  # the route's own (e.g. a settlement job's 202)
                    continue
                route.responses[status] = response
                route.response_fields[status] = create_model_field(
                    name=f"Response_{status}_{route.unique_id}", type_=response["model"], mode="serialization"
                )


def _depends_on(dependant: Any, dependency: Callable[..., Any]) -> bool:
    return any(d.call is dependency or _depends_on(d, dependency) for d in dependant.dependencies)
