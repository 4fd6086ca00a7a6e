"""A webhook receiver process for the tests and the benchmark (aiohttp): it appends one JSON line
per request (path, headers that matter, body, arrival time, requests then in flight on that path)
to a file, and answers with the status `POST /_control {"status": N, "delay": s}` set (default 204).

    python tests/webhooks/receiver.py --port P --out requests.jsonl [--status 500]

Refusing connections is done by not running it (the port is closed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from typing import Any

import uvloop
from aiohttp import web


def build(out_path: str, status: int, delay: float) -> web.Application:
    out = open(out_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed at cleanup
    state: dict[str, Any] = {"status": status, "delay": delay}
    in_flight: dict[str, int] = defaultdict(int)

    async def control(request: web.Request) -> web.Response:
        state.update(await request.json())
        return web.json_response(state)

    async def hook(request: web.Request) -> web.Response:
        path = request.path
        in_flight[path] += 1
        try:
            body = await request.text()
            arrived = time.time()
            if state["delay"]:
                await asyncio.sleep(state["delay"])
            record = {
                "path": path,
                "arrived": arrived,
                "overlap": in_flight[path],
                "status": state["status"],
                "headers": {
                    k.lower(): v for k, v in request.headers.items() if k.lower().startswith("webhook-")
                },
                "body": body,
            }
            out.write(json.dumps(record) + "\n")
            return web.Response(status=state["status"])
        finally:
            in_flight[path] -= 1

    async def close(_app: web.Application) -> None:
        out.close()

    app = web.Application()
    app.router.add_post("/_control", control)
    app.router.add_post("/{tail:.*}", hook)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--status", type=int, default=204)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    uvloop.install()
    web.run_app(
        build(args.out, args.status, args.delay),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
