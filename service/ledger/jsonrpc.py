"""JSON-RPC requests to a node: over HTTP through a urllib3 connection pool of our own, else through
the web3 provider's `make_request`.

The service asks the node several times per write (estimate, fee, nonce, send, receipt) and per
index batch; through `requests` (which web3's HTTP provider uses) each request costs about twice
the CPU of the same request through urllib3 directly (`requests` merges environment settings and
looks for a .netrc on every request). Errors: an unreachable node or a timeout is
`NodeUnreachable` (an `OSError`), an HTTP status other than 2xx is `NodeHttpError`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import urllib3
from web3 import HTTPProvider, Web3
from web3.middleware import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

DEFAULT_TIMEOUT = 10.0
POOL_SIZE = 48
"""Keep-alive connections kept per pool: more than the 40 threads anyio gives a gateway's sync handlers,
so concurrent requests never open and discard connections beyond it."""


RECEIPT_PROMPT_SECONDS = 0.09
"""For this long a receipt not there yet is asked for again promptly (`prompt_pauses`)."""
RECEIPT_LONGEST_PROMPT_PAUSE = 0.02


def prompt_pauses() -> Iterator[float]:
    """The pauses before asking again for a receipt not there yet: 1 ms, then 2, 4, ... at most
    `RECEIPT_LONGEST_PROMPT_PAUSE` (a node that mines at once has it after a few ms)."""
    pause = 0.001
    while True:
        yield pause
        pause = min(pause * 2, RECEIPT_LONGEST_PROMPT_PAUSE)


class NodeUnreachable(OSError):
    """The node could not be reached, or did not answer in time."""


class NodeHttpError(Exception):
    """The node answered with an HTTP error status."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


class JsonRpc:
    """`request(method, params)` and `batch(calls)` to the node behind `w3`, answering the JSON-RPC
    response objects as the node sent them (a dict with `result` or `error`; a list for a batch)."""

    def __init__(self, w3: Web3, *, timeout: float | None = None) -> None:
        """`timeout`: seconds per request (default: the provider's own timeout)."""
        self._provider = w3.provider
        self._ids = itertools.count(1)
        self._url: str | None = None
        self._pool: urllib3.PoolManager | None = None
        if isinstance(w3.provider, HTTPProvider):
            self._url = str(w3.provider.endpoint_uri)
            if timeout is None:
                timeout = dict(w3.provider.get_request_kwargs()).get("timeout", DEFAULT_TIMEOUT)
            self._pool = urllib3.PoolManager(
                maxsize=POOL_SIZE,
                retries=False,
                timeout=urllib3.Timeout(total=float(timeout) if timeout else DEFAULT_TIMEOUT),
                headers={"Content-Type": "application/json"},
            )

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        if self._pool is None:
            return dict(self._provider.make_request(RPCEndpoint(method), params))
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer: dict[str, Any] = self._post(body)
        return answer

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]] | dict[str, Any]:
        """The responses in the order of `calls` (a dict if the node refused the whole batch)."""
        if self._pool is None:
            make_batch: Any = getattr(self._provider, "make_batch_request", None)
            if make_batch is None:
                return [self.request(m, p) for m, p in calls]
            answered: Any = make_batch([(RPCEndpoint(m), p) for m, p in calls])
            return answered if isinstance(answered, dict) else list(answered)
        first = next(self._ids)
        for _ in calls[1:]:
            next(self._ids)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answer = self._post(body)
        if isinstance(answer, dict):
            return answer
        by_id = {item.get("id"): item for item in answer}
        return [by_id.get(first + i, {"error": {"message": "no response"}}) for i in range(len(calls))]

    def _post(self, body: Any) -> Any:
        assert self._pool is not None and self._url is not None
        try:
            response = self._pool.request("POST", self._url, body=json.dumps(body).encode())
        except urllib3.exceptions.HTTPError as exc:  # connection refused or reset, timeout, ...
            raise NodeUnreachable(str(exc)) from exc
        if not 200 <= response.status < 300:
            raise NodeHttpError(response.status, response.data)
        try:
            return json.loads(response.data)
        except ValueError as exc:
            raise NodeHttpError(response.status, response.data) from exc


class PromptReceipts(Web3Middleware):
    """Makes web3.py's `wait_for_transaction_receipt` prompt: when the node has no receipt yet,
    ask again on the ledger client's schedule (`prompt_pauses`: 1 ms, then 2, 4, ... at most 20 ms
    apart) for up to 90 ms, before answering
    "none yet" (after which web3.py sleeps its fixed 100 ms and asks again). Only receipt look-ups
    that find nothing are affected."""

    BUDGET = RECEIPT_PROMPT_SECONDS
    LONGEST_PAUSE = RECEIPT_LONGEST_PROMPT_PAUSE

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            response = make_request(method, params)
            if method != "eth_getTransactionReceipt" or response.get("result") is not None:
                return response
            deadline = time.monotonic() + self.BUDGET
            for pause in prompt_pauses():
                if response.get("result") is not None or "error" in response:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(min(pause, remaining))
                response = make_request(method, params)
            return response

        return middleware


def prompt_receipts(w3: Web3) -> Web3:
    """Add `PromptReceipts` to `w3` (once)."""
    if "prompt_receipts" not in w3.middleware_onion:
        w3.middleware_onion.add(PromptReceipts, name="prompt_receipts")
    return w3
