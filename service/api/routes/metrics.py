"""/metrics: this gateway's Prometheus registry in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import Context

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(context: Context) -> Response:
    """Request and ledger transaction latency, indexer position and lag (Prometheus text format)."""
    body, content_type = context.metrics.exposition()
    return Response(content=body, media_type=content_type)
