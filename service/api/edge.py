"""The gateway's edge: what every request goes through before any route sees it.

Three plain ASGI middlewares (no response buffering), outermost first:

- `ErrorBarrier`: any exception no handler took becomes a problem+json (logged with the request
  id, nothing of the exception in the body): a node or database fault its 503 with Retry-After,
  anything else a 500, so no answer is ever text/plain.
- `RateLimits`: per API key (writes, reads, expensive reads) and, for requests without a known key
  answered 401, 400 or 413, per client address; 429 problem+json with `Retry-After` over a limit.
- `BodyLimits`: a NUL character in the path, query or a JSON string is refused with 400 (SQL text
  cannot hold one); a body larger than `max_body_bytes` (declared in Content-Length or counted as it
  streams in, chunked bodies too) is refused with 413 before it is read whole; a body nested deeper
  than `max_json_depth` is refused with 400 before any JSON decoder sees it. Python's C JSON decoder
  recurses once per level: with the recursion limit that py_ecc sets at import (100,000) a 200 KB
  body of `[` overflowed the C stack and killed the process.

`restore_recursion_limit` puts a server process's recursion limit back to what the service needs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import ProblemError, fault_problem, problem_response
from service.settings import Settings, rate_limits

log = logging.getLogger("credchain.api")

SERVER_RECURSION_LIMIT = 12_288
"""The recursion limit of a server process: py-evm's own (1024 EVM call frames on the embedded
chain), instead of the 100,000 py_ecc sets at import. Python 3.11 keeps Python-to-Python calls off
the C stack; C recursion (the JSON decoder, repr) at this depth fits an 8 MiB thread stack."""


def restore_recursion_limit(limit: int = SERVER_RECURSION_LIMIT) -> None:
    """Set the recursion limit to `limit` (after the imports that raise it: eth-account's py_ecc)."""
    sys.setrecursionlimit(limit)


# ------------------------------------------------------------------ error barrier
class ErrorBarrier:
    """A 500 problem+json for any exception that escaped the app's handlers (logged with its
    traceback and the request id); if the answer had started, the connection is just closed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            state = scope.get("state", {})
            log.exception(
                "unhandled error answering %s %s",
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": state.get("request_id"), "path": scope.get("path")},
            )
            if started:
                raise
            await problem_response(fault_problem(exc), Request(scope))(scope, receive, send)


# ------------------------------------------------------------------ body limits
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
"""A JSON string, escapes included."""
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether `body`, read as JSON, nests arrays and objects deeper than `limit`: strings and
    everything but brackets are dropped at C speed (a regular expression, `bytes.translate`), then
    one pass over the brackets stops at the first level past `limit`. Any bytes are accepted (an
    invalid document is the decoder's to refuse; an unterminated string's brackets count)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for char in brackets:
        if char in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""A JSON escape `\u0000` (after an even number of backslashes, which escape each other)."""


def has_nul(scope: Scope) -> bool:
    """Whether the path or the query string carries a NUL character (PostgreSQL text cannot hold
    one: it would fail the statement instead of matching nothing)."""
    return "\x00" in str(scope.get("path", "")) or b"%00" in bytes(scope.get("query_string", b""))


def nul_character() -> ProblemError:
    return ProblemError(
        400,
        "nul-character",
        "The request contains a NUL character",
        "NUL (U+0000) is not allowed in paths, query strings or JSON strings",
    )


def body_too_large(limit: int) -> ProblemError:
    return ProblemError(
        413,
        "body-too-large",
        "The request body is too large",
        f"a request body may have at most {limit} bytes",
        headers={"Connection": "close"},
        max_body_bytes=limit,
    )


def body_too_deep(limit: int) -> ProblemError:
    return ProblemError(
        400,
        "body-too-deep",
        "The request body is nested too deeply",
        f"arrays and objects in a request body may nest at most {limit} levels",
        max_depth=limit,
    )


def _bad_length() -> ProblemError:
    return ProblemError(400, "invalid-content-length", "The Content-Length header is not valid")


OCTET_STREAM = b"application/octet-stream"


class BodyLimits:
    """Refuse bodies over `max_bytes` (413), JSON nested deeper than `max_depth` (400) and NUL
    characters (400; JSON checks are skipped for `application/octet-stream` bodies, which no route
    parses as JSON); a
    request without a body passes untouched, one with a body is read (up to the limit), checked
    and handed to the app as one message."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if has_nul(scope):
            await self._refuse(nul_character(), scope, receive, send)
            return
        declared: bytes | None = None
        streamed = False
        binary = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                streamed = True
            elif name == b"content-type":
                binary = value.split(b";")[0].strip().lower() == OCTET_STREAM
        if declared is None and not streamed:  # no body (RFC 9112 6.3)
            await self.app(scope, receive, send)
            return
        if declared is not None:
            if not declared.isdigit() or len(declared) > 18:
                await self._refuse(_bad_length(), scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(body_too_large(self.max_bytes), scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(body_too_large(self.max_bytes), scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not binary:  # a document to hash (evidence verification) is bytes, never parsed as JSON
            if nesting_exceeds(body, self.max_depth):
                await self._refuse(body_too_deep(self.max_depth), scope, receive, send)
                return
            if _NUL_ESCAPE.search(body):
                await self._refuse(nul_character(), scope, receive, send)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(problem: ProblemError, scope: Scope, receive: Receive, send: Send) -> None:
        await problem_response(problem, Request(scope))(scope, receive, send)


# ------------------------------------------------------------------ rate limits
class Cost(Enum):
    """What a request costs, for the limit it counts against."""

    FREE = "free"
    READ = "read"
    EXPENSIVE = "expensive"
    WRITE = "write"


_LISTS = frozenset({"/v1/notes", "/v1/discount-offers", "/v1/members", "/v1/settlement-tokens"})


def request_cost(method: str, path: str) -> Cost:
    """Writes: every method but GET/HEAD/OPTIONS (except the relay's preparation, a simulation);
    expensive: provenance, risk views, lists, relay preparation; other reads: one resource.
    Outside /v1 (health, metrics, OpenAPI): free."""
    if not path.startswith("/v1/"):
        return Cost.FREE
    path = path.rstrip("/") or path
    if method in ("GET", "HEAD"):
        if path.endswith("/provenance") or path.startswith("/v1/risk/") or path in _LISTS:
            return Cost.EXPENSIVE
        return Cost.READ
    if method == "OPTIONS":
        return Cost.FREE
    if path == "/v1/relay/prepare":
        return Cost.EXPENSIVE
    return Cost.WRITE


@dataclass(frozen=True)
class RateLimitConfig:
    """The limits of each cost per API key, and of refused requests without a known key per client
    address (401, 400, 413); an empty tuple is no limit."""

    per_key: dict[Cost, tuple[RateLimitItem, ...]]
    unauthenticated: tuple[RateLimitItem, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimitConfig:
        return cls(
            per_key={
                Cost.WRITE: tuple(rate_limits(settings.rate_limit_writes)),
                Cost.READ: tuple(rate_limits(settings.rate_limit_reads)),
                Cost.EXPENSIVE: tuple(rate_limits(settings.rate_limit_expensive)),
            },
            unauthenticated=tuple(rate_limits(settings.rate_limit_unauthenticated)),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.unauthenticated) or any(self.per_key.values())


OVERFLOW_ADDRESS = "overflow"
"""The one address identifier every client address shares once `max_counters` counters are held."""


class RateLimiter:
    """The limiter of one gateway process: `limits`' sliding-window counters (two counters per
    identifier and window) in memory, so each worker process limits on its own.

    Memory is bounded: API keys are limited only once they have authenticated (a bounded LRU of
    key hashes, `max_keys`), so made-up keys never get counters of their own; they are counted
    against their client address instead, and when `max_counters` counters are held, further
    addresses share one counter (a flood from many addresses throttles itself, not known clients).
    Counters expire with their windows.
    """

    def __init__(
        self, config: RateLimitConfig, *, max_keys: int = 10_000, max_counters: int = 10_000
    ) -> None:
        self.config = config
        self._storage = MemoryStorage()
        self._strategy = SlidingWindowCounterRateLimiter(self._storage)
        self._known: OrderedDict[str, None] = OrderedDict()
        self._known_lock = threading.Lock()
        self._max_keys = max_keys
        self._max_counters = max_counters

    # --- the keys that have authenticated
    def known(self, key_id: str) -> bool:
        with self._known_lock:
            if key_id in self._known:
                self._known.move_to_end(key_id)
                return True
            return False

    def remember(self, key_id: str) -> None:
        with self._known_lock:
            self._known[key_id] = None
            self._known.move_to_end(key_id)
            while len(self._known) > self._max_keys:
                self._known.popitem(last=False)

    def forget(self, key_id: str) -> None:
        with self._known_lock:
            self._known.pop(key_id, None)

    def tracked(self) -> int:
        """Counters held now (for tests and metrics)."""
        return len(self._storage.storage)

    # --- limits
    def hit(self, items: Iterable[RateLimitItem], *identifiers: str) -> RateLimitItem | None:
        """Count one request against every item; the first item it exceeds (None: allowed)."""
        for item in items:
            if not self._strategy.hit(item, *identifiers):
                return item
        return None

    def exhausted(self, items: Iterable[RateLimitItem], *identifiers: str) -> RateLimitItem | None:
        """The first item already used up for `identifiers` (nothing counted)."""
        for item in items:
            if not self._strategy.test(item, *identifiers):
                return item
        return None

    def address_id(self, address: str) -> str:
        """The identifier `address` is counted under: itself, or `OVERFLOW_ADDRESS` when
        `max_counters` counters are held and it has none yet."""
        if self.tracked() < self._max_counters:
            return address
        for item in self.config.unauthenticated[:1]:
            if self._strategy.get_window_stats(item, "address", address).remaining < item.amount:
                return address
        return OVERFLOW_ADDRESS

    def retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        """Whole seconds until `item` admits a request again for `identifiers` (at least 1)."""
        stats = self._strategy.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))


def too_many_requests(limiter: RateLimiter, item: RateLimitItem, *identifiers: str) -> ProblemError:
    retry = limiter.retry_after(item, *identifiers)
    return ProblemError(
        429,
        "rate-limited",
        "Too many requests",
        f"more than {item.amount} requests per {item.multiples} {item.GRANULARITY.name}; retry in {retry} s",
        headers={
            "Retry-After": str(retry),
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry),
        },
        limit=str(item),
    )


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, key = bytes(value).decode("latin-1").partition(" ")
            key = key.strip()
            return key if scheme.lower() == "bearer" and key else None
    return None


def client_address(scope: Scope) -> str:
    """The client's address (uvicorn applies X-Forwarded-For from trusted proxies); an IPv6
    address counts by its /64 (one subscriber's network)."""
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    if ":" in host:
        try:
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
        except ValueError:
            return host
    return host


_COUNTED_AGAINST_ADDRESS = frozenset({400, 401, 413})
"""Answers that count against the client address of a request without a known key: unknown or
missing keys, and bodies the edge refused (too large, too deep, NUL) before authentication."""


class RateLimits:
    """429 problem+json over a limit (see `RateLimiter`). A request with a key that has
    authenticated counts against that key's limit for its cost; any other request (no key, a key
    not seen yet) is let through unless its address is over the unauthenticated limit, and counts
    against it if it is answered 401, 400 or 413. Sits outside `BodyLimits`, so an address over
    its limit is refused before its body is read."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter
        if scope["type"] != "http" or not limiter.config.enabled:
            await self.app(scope, receive, send)
            return
        cost = request_cost(str(scope.get("method", "")), str(scope.get("path", "")))
        if cost is Cost.FREE:
            await self.app(scope, receive, send)
            return
        key = _bearer(scope)
        key_id = hashlib.sha256(key.encode()).hexdigest() if key is not None else None
        if key_id is not None and limiter.known(key_id):
            items = limiter.config.per_key[cost]
            refused = limiter.hit(items, cost.value, key_id)
            if refused is not None:
                problem = too_many_requests(limiter, refused, cost.value, key_id)
                await self._refuse(problem, scope, receive, send)
                return
            await self._call(scope, receive, send, key_id, None)
            return
        address = limiter.address_id(client_address(scope))
        unauthenticated = limiter.config.unauthenticated
        refused = limiter.exhausted(unauthenticated, "address", address)
        if refused is not None:
            await self._refuse(too_many_requests(limiter, refused, "address", address), scope, receive, send)
            return
        await self._call(scope, receive, send, key_id, address)

    async def _call(
        self, scope: Scope, receive: Receive, send: Send, key_id: str | None, address: str | None
    ) -> None:
        limiter = self.limiter

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 401 and key_id is not None:
                    limiter.forget(key_id)
                if address is not None and status in _COUNTED_AGAINST_ADDRESS:
                    limiter.hit(limiter.config.unauthenticated, "address", address)
                elif key_id is not None and address is not None and status != 401:
                    limiter.remember(key_id)
            await send(message)

        await self.app(scope, receive, watch)

    @staticmethod
    async def _refuse(problem: ProblemError, scope: Scope, receive: Receive, send: Send) -> None:
        log.info(
            "rate limited: %s",
            problem.detail,
            extra={"request_id": scope.get("state", {}).get("request_id"), "path": scope.get("path")},
        )
        await problem_response(problem, Request(scope))(scope, receive, send)
