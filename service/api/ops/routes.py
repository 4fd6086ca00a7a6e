"""Liveness, readiness and the Prometheus metrics of this gateway."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.api.context import AppContext
from service.api.deps import Context


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)


router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(context: Context) -> JSONResponse:
    """Ready when the database and the node answer and the index is not too far behind. Each check
    is asked once, and given up on after `readiness_timeout_seconds` (a black-holed node or database
    makes this answer 503 in about that long, not hang)."""
    timeout = context.settings.readiness_timeout_seconds
    checks: dict[str, object] = {"index_role": context.index_role()}
    probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="credchain-readyz")
    try:
        database = probes.submit(_database_probe, context)
        node = probes.submit(context.chain.probe, timeout)
        deadline = time.monotonic() + timeout
        indexed = _outcome(database, deadline, checks, "database")
        head = _outcome(node, deadline, checks, "node")
    finally:
        probes.shutdown(wait=False, cancel_futures=True)  # a hung probe is left to its own timeout
    ready = indexed is not None and head is not None
    if head is not None:
        checks["head_block"] = head
    if indexed is not None:
        checks["indexed_block"] = indexed
        if head is not None:
            lag = max(0, head - indexed)
            checks["indexer_lag"] = lag
            if lag > context.settings.max_indexer_lag and not context.sync_indexing:
                ready = False
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


def _database_probe(context: AppContext) -> int:
    """The index's last block, read on a fresh check of the database (`SELECT 1` first). A pooled
    connection the database dropped (a restart, a terminated backend) fails once and is replaced:
    asked once more on a fresh one, so readiness says what the database is, not what a dead
    connection was."""
    for attempt in (1, 2):
        try:
            with context.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return context.indexer.last_block()
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def _outcome(probe: Future[int], deadline: float, checks: dict[str, object], name: str) -> int | None:
    """The probe's answer by `deadline` (`checks[name]` "ok"), else None and what went wrong."""
    try:
        value = probe.result(timeout=max(deadline - time.monotonic(), 0.0))
    except FutureTimeout:
        checks[name] = "error: no answer in time"
        return None
    except Exception as exc:
        checks[name] = f"error: {type(exc).__name__}"
        return None
    checks[name] = "ok"
    return value


@router.get("/metrics", response_class=Response)
def metrics(context: Context) -> Response:
    """Request and ledger transaction latency, indexer position and lag (Prometheus text format)."""
    body, content_type = context.metrics.exposition()
    return Response(content=body, media_type=content_type)
