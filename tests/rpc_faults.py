"""A JSON-RPC-aware HTTP proxy between a gateway and its node that injects faults at random (a
seeded RNG): it drops or delays receipt polls (`eth_getTransactionReceipt`), drops the answer to
`eth_sendRawTransaction` after forwarding it (the node has the transaction, the sender does not
know), loses `eth_sendRawTransaction` before forwarding it (the node never sees it), and resets
connections. `FaultyRpcProxy.counts` says what it did; faults apply only while `enabled`.
`black_hole()` makes it accept every request and answer none (until `release()`, then it resets the
held connections), as a node that hangs does.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import urllib3


@dataclass(frozen=True)
class Faults:
    """Probabilities per request (each drawn independently)."""

    receipt_drop: float = 0.25
    """A receipt poll answered with a reset connection or an HTTP 502, never forwarded."""
    receipt_delay: float = 0.15
    receipt_delay_seconds: tuple[float, float] = (0.05, 0.4)
    send_answer_drop: float = 0.25
    """`eth_sendRawTransaction` forwarded, its answer replaced by a reset connection."""
    send_lost: float = 0.05
    """`eth_sendRawTransaction` never forwarded (the node never sees it), answered with a 502."""
    reset: float = 0.02
    """Any other request: the connection reset before forwarding."""


class FaultyRpcProxy:
    """Listens on 127.0.0.1:`port` and forwards JSON-RPC POSTs to `upstream`, with `faults`."""

    def __init__(self, upstream: str, *, seed: int, faults: Faults | None = None) -> None:
        self.upstream = upstream
        self.faults = faults or Faults()
        self.enabled = False
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(total=30))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                proxy._serve(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultyRpcProxy:
        self._thread.start()
        return self

    def black_hole(self) -> None:
        """From now on, hold every request unanswered (a hung node)."""
        self._released.clear()

    def release(self) -> None:
        """End the black hole: the held requests get a reset connection, new ones are served."""
        self._released.set()

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._pool.clear()

    # ------------------------------------------------------------------ deciding
    def _draw(self, p: float) -> bool:
        with self._lock:
            return self.enabled and self._rng.random() < p

    def _uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    # ------------------------------------------------------------------ serving
    def _serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if not self._released.is_set():
            self._count("black_holed")
            self._released.wait(timeout=300)
            return _reset(handler)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        method = request.get("method") if isinstance(request, dict) else "batch"
        f = self.faults
        if method == "eth_getTransactionReceipt":
            if self._draw(f.receipt_drop):
                if self._draw(0.5):
                    self._count("receipt_reset")
                    return _reset(handler)
                self._count("receipt_502")
                return _answer(handler, 502, b"bad gateway")
            if self._draw(f.receipt_delay):
                self._count("receipt_delay")
                time.sleep(self._uniform(*f.receipt_delay_seconds))
        elif method == "eth_sendRawTransaction":
            if self._draw(f.send_lost):
                self._count("send_lost")
                return _answer(handler, 502, b"bad gateway")
            status, data = self._forward(body)
            if self._draw(f.send_answer_drop):
                self._count("send_answer_dropped")
                return _reset(handler)
            return _answer(handler, status, data)
        elif self._draw(f.reset):
            self._count("reset")
            return _reset(handler)
        status, data = self._forward(body)
        _answer(handler, status, data)

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        try:
            response = self._pool.request(
                "POST", self.upstream, body=body, headers={"Content-Type": "application/json"}
            )
        except urllib3.exceptions.HTTPError as exc:
            return 502, str(exc).encode()
        return response.status, response.data


def _answer(handler: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP reset, answering nothing."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
