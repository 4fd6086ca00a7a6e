"""Per-request observation: a request id (taken from `X-Request-ID` or generated, echoed in the
answer), one JSON-ready log line per request, and the request latency histogram.

A plain ASGI middleware (no response buffering): it reads the status from the response start,
the route template from the scope once routing has matched, and the member id that
authentication left in the request state.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER = REQUEST_ID_HEADER.lower().encode()
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
UNMATCHED = "<unmatched>"

log = logging.getLogger("credchain.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == _HEADER:
            candidate: str = bytes(value).decode("latin-1").strip()
            if _VALID_ID.match(candidate):
                return candidate
            break
    return os.urandom(16).hex()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObserver:
    """Request id, access log line and latency histogram for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                headers.append((_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            method = str(scope.get("method", ""))
            self.metrics.request_seconds.labels(method=method, route=route, status=str(status)).observe(
                elapsed
            )
            fields: dict[str, Any] = {
                "request_id": request_id,
                "method": method,
                "route": route,
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            }
            member_id = state.get("member_id")
            if member_id is not None:
                fields["member_id"] = member_id
            log.info("%s %s %s", method, route, status, extra=fields)
