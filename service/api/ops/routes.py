"""Liveness, readiness and the Prometheus metrics of this gateway."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

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
    """Ready when the database and the node answer and the index is not too far behind."""
    checks: dict[str, object] = {"index_role": context.index_role()}
    ready = True
    try:
        with context.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
        ready = False
    try:
        head = int(context.chain.w3.eth.block_number)
        checks["node"] = "ok"
        checks["head_block"] = head
    except Exception as exc:
        checks["node"] = f"error: {type(exc).__name__}"
        ready = False
        head = None
    if checks["database"] == "ok":
        last = context.indexer.last_block()
        checks["indexed_block"] = last
        if head is not None:
            lag = max(0, head - last)
            checks["indexer_lag"] = lag
            if lag > context.settings.max_indexer_lag and not context.sync_indexing:
                ready = False
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(context: Context) -> Response:
    """Request and ledger transaction latency, indexer position and lag (Prometheus text format)."""
    body, content_type = context.metrics.exposition()
    return Response(content=body, media_type=content_type)
