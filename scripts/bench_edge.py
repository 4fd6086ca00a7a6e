"""What the gateway's edge middlewares (service.api.edge) cost per request, measured on a trivial
ASGI app so that nothing else is timed: the error barrier, rate limits and body limits with the
default settings (plain reads not limited), with a per-key read limit, and the nesting scan of the
largest legitimate body and of a hostile one. The last line printed is one JSON object with the
results (microseconds).

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_edge.py [--requests 20000] [--scans 100]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.bench_machine import machine_info  # noqa: E402
from service.api.edge import (  # noqa: E402
    BodyLimits,
    ErrorBarrier,
    RateLimitConfig,
    RateLimiter,
    RateLimits,
    nesting_exceeds,
)
from service.domain import MAX_AMOUNT, MAX_SPLIT_PARTS  # noqa: E402
from service.settings import Settings  # noqa: E402

KEY = b"cc_" + b"k" * 43
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/v1/notes/4294967296",
    "query_string": b"",
    "headers": [(b"authorization", b"Bearer " + KEY), (b"host", b"gateway")],
    "client": ("10.0.0.1", 40000),
}


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def _stack(settings: Settings) -> Any:
    limiter = RateLimiter(RateLimitConfig.from_settings(settings))
    limiter.remember(hashlib.sha256(KEY).hexdigest())  # the key has authenticated before
    body = BodyLimits(_app, settings.max_body_bytes, settings.max_json_depth)
    return ErrorBarrier(RateLimits(body, limiter))


def _per_request(app: Any, n: int) -> float:
    async def run(count: int) -> None:
        for _ in range(count):
            await app(dict(SCOPE), _receive, _send)

    asyncio.run(run(1000))
    started = time.perf_counter()
    asyncio.run(run(n))
    return (time.perf_counter() - started) / n * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000, help="requests timed per stack")
    parser.add_argument("--scans", type=int, default=100, help="nesting scans timed per body")
    args = parser.parse_args(argv)
    n: int = args.requests
    bare = _per_request(_app, n)
    default = _per_request(_stack(Settings()), n)
    limited = _per_request(_stack(Settings(rate_limit_reads="1000000/minute")), n)
    print(f"GET of one note, {n} requests, microseconds per request:")
    print(f"  bare ASGI app                                   {bare:7.1f}")
    print(f"  + edge, default settings (reads not limited)   {default:7.1f}  (+{default - bare:.1f})")
    print(f"  + edge, a per-key read limit                    {limited:7.1f}  (+{limited - bare:.1f})")
    split = json.dumps(
        {"parts": [{"to": "0x" + "ab" * 20, "amount": str(MAX_AMOUNT)}] * MAX_SPLIT_PARTS}
    ).encode()
    hostile = b"[" * 100_000 + b"]" * 100_000
    scans: dict[str, dict[str, float]] = {}
    for key, label, body in (
        ("split_body", "largest split body", split),
        ("hostile_body", "100,000-deep body", hostile),
    ):
        started = time.perf_counter()
        for _ in range(args.scans):
            nesting_exceeds(body, 32)
        took = (time.perf_counter() - started) / args.scans * 1e6
        print(f"nesting scan, {label} ({len(body):,} bytes): {took:.1f} us")
        scans[key] = {"bytes": len(body), "us": round(took, 1)}
    result = {
        "requests": n,
        "bare_us": round(bare, 2),
        "edge_default_us": round(default, 2),
        "edge_read_limit_us": round(limited, 2),
        "nesting_scans": args.scans,
        "nesting_scan": scans,
        "machine": machine_info(),
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
