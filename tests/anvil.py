"""A real, separate-process Ethereum node for integration tests: anvil from node_modules.

`anvil` (session fixture) starts one node on a free port, automining (one block per transaction),
waits until it answers JSON-RPC, yields a `Chain` whose funder is anvil's first dev account, and
kills the node at the end. `TcpProxy` stands between a client and the node so a test can take the
"node" down and bring it back without losing the chain.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from service.ledger.chain import ANVIL_DEV_KEY, Chain, http_chain

REPO_ROOT = Path(__file__).resolve().parents[1]
ANVIL_BIN = Path(
    os.environ.get("CREDCHAIN_ANVIL", REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AnvilNode:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_anvil(
    port: int | None = None, timeout: float = 30.0, args: tuple[str, ...] = (), gas_limit: int = 100_000_000
) -> AnvilNode:
    """Start anvil on `port` (a free one by default), with extra command-line `args` (e.g.
    `("--block-time", "1")`: a block period instead of automine), and wait until it answers."""
    if not ANVIL_BIN.exists():
        pytest.skip(f"anvil not installed at {ANVIL_BIN} (run `npm ci`)")
    port = port or free_port()
    process = subprocess.Popen(
        [
            str(ANVIL_BIN),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--quiet",
            "--gas-limit",
            str(gas_limit),
            "--balance",
            "10000000000",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    node = AnvilNode(process, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"anvil exited with {process.returncode}")
        try:
            answer = requests.post(
                node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1
            )
            if answer.ok and "result" in answer.json():
                return node
        except requests.RequestException:
            pass
        time.sleep(0.05)
    node.stop()
    raise RuntimeError("anvil did not answer in time")


@pytest.fixture(scope="session")
def anvil() -> Iterator[Chain]:
    """A running anvil node (one per test session) as a Chain funded by its first dev account."""
    node = start_anvil()
    try:
        yield http_chain(node.url, funder_key=ANVIL_DEV_KEY)
    finally:
        node.stop()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target_port` while up; `down()` closes the listener
    and every open connection (clients then see connection refused), `up()` reopens it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
