"""/v1/events: the domain event log a member may see, as a cursor page with an optional long poll,
one event by sequence number, and a Server-Sent Events stream resumable with `Last-Event-ID`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from service.api.context import AppContext
from service.api.deps import Context, CurrentMember
from service.api.events.hub import EventHub
from service.api.events.queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_WAIT_SECONDS,
    event_by_seq,
    event_not_found,
    events_after,
    parse_types,
)
from service.api.events.schemas import EventOut, EventPage
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember
from service.events.log import last_sequence

router = APIRouter(prefix="/v1/events", tags=["events"])
STREAM_PAGE = 200
MAX_SEQ = 2**63 - 1


def hub_of(request: Request) -> EventHub:
    hub: EventHub | None = getattr(request.app.state, "events", None)
    if hub is None or hub.closed:
        raise ProblemError(
            503,
            "shutting-down",
            "The gateway is shutting down",
            "retry on another gateway process",
            headers={"Retry-After": "1"},
        )
    return hub


async def _page(
    context: AppContext, member: ApiMember, after: int, limit: int, types: tuple[str, ...] | None
) -> list[EventOut]:
    return await anyio.to_thread.run_sync(
        lambda: context.read(lambda session: events_after(session, member, after, limit, types))
    )


@router.get("", response_model=EventPage)
async def list_events(
    request: Request,
    context: Context,
    member: CurrentMember,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="return events with a larger seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    types: Annotated[str | None, Query(description="comma-separated event types (default: all)")] = None,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="long poll: seconds to wait for a first event")
    ] = 0,
) -> EventPage:
    """The events after `after` that the caller may see, in seq order. With `wait`, an empty
    answer is held until a visible event arrives (answered at once) or `wait` seconds passed."""
    wanted = parse_types(types)
    items = await _page(context, member, after, limit, wanted)
    if not items and wait > 0:
        hub = hub_of(request)
        deadline = time.monotonic() + wait
        while not items and not hub.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await hub.changed(remaining)
            items = await _page(context, member, after, limit, wanted)
    return EventPage(items=items, next_after=items[-1].seq if items else after)


def _sse(event: EventOut) -> str:
    body = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.type}\ndata: {body}\n\n"


def _resume_point(last_event_id: str | None, after: int | None, latest: int) -> int:
    if last_event_id is not None:
        raw = last_event_id.strip()
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise ProblemError(
                422, "invalid-request", "The request is not valid", "Last-Event-ID is the seq of an event"
            )
        return int(raw)
    return latest if after is None else after


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def stream_events(
    request: Request,
    context: Context,
    member: CurrentMember,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="start after this seq (default: from now on)")
    ] = None,
    types: Annotated[str | None, Query(description="comma-separated event types (default: all)")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """The events the caller may see as Server-Sent Events (`id:` seq, `event:` type, `data:` the
    event's JSON), after `Last-Event-ID` (a reconnecting client's), else `after`, else from now on.
    A comment every `CREDCHAIN_EVENT_STREAM_HEARTBEAT_SECONDS` keeps idle connections open."""
    wanted = parse_types(types)
    hub = hub_of(request)
    latest = 0
    if last_event_id is None and after is None:
        latest = await anyio.to_thread.run_sync(
            lambda: context.read(lambda session: last_sequence(session.connection()))
        )
    cursor = _resume_point(last_event_id, after, latest)
    release = hub.open_stream(member.id)
    heartbeat = context.settings.event_stream_heartbeat_seconds

    async def body() -> AsyncIterator[str]:
        position = cursor
        try:
            yield "retry: 3000\n: stream open\n\n"
            beat = time.monotonic() + heartbeat
            while not hub.closed:
                items = await _page(context, member, position, STREAM_PAGE, wanted)
                for item in items:
                    yield _sse(item)
                    position = item.seq
                if len(items) == STREAM_PAGE:
                    continue
                now = time.monotonic()
                if now >= beat:
                    yield ": heartbeat\n\n"
                    beat = now + heartbeat
                await hub.changed(beat - now)
        finally:
            release()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(release),
    )


@router.get("/{seq}", response_model=EventOut)
async def get_event(
    context: Context, member: CurrentMember, seq: Annotated[str, Path(description="the event's seq")]
) -> EventOut:
    """One event the caller may see (404 for one it may not, as for one that does not exist)."""
    if not seq.isascii() or not seq.isdigit() or len(seq) > 18:
        raise event_not_found(seq)
    number = int(seq)
    return await anyio.to_thread.run_sync(
        lambda: context.read(lambda session: event_by_seq(session, member, number))
    )
