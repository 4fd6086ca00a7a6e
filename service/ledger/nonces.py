"""One nonce sequence per signing account, so concurrent senders never collide or leave gaps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from web3 import HTTPProvider, Web3

from service.ledger.errors import LedgerError, LedgerUnavailable
from service.ledger.jsonrpc import JsonRpc, NodeHttpError, NodeUnreachable


class NonceManager:
    """Hands out consecutive nonces per address.

    `reserve` holds the account's lock while the caller signs and sends, so nonces reach the node
    in order. If sending fails, the cached nonce is dropped and re-read from the node next time,
    so a failed send never leaves a gap.
    """

    def __init__(self, fetch_pending_nonce: Callable[[str], int]) -> None:
        self._fetch = fetch_pending_nonce
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._next: dict[str, int] = {}

    @classmethod
    def for_web3(cls, w3: Web3) -> NonceManager:
        """A manager that reads starting nonces from the node (pending block)."""
        return cls(pending_nonce_reader(w3))

    def _lock_for(self, address: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(address)
            if lock is None:
                lock = self._locks[address] = threading.Lock()
            return lock

    @contextmanager
    def reserve(self, address: str) -> Iterator[int]:
        """Yield the next nonce of `address`; it is consumed only if the block exits normally."""
        with self._lock_for(address):
            nonce = self._next.get(address)
            if nonce is None:
                nonce = self._fetch(address)
            try:
                yield nonce
            except BaseException:
                self._next.pop(address, None)
                raise
            self._next[address] = nonce + 1

    def on_node(self, address: str) -> int:
        """The next nonce of `address` as the node counts it now (mined and pending), uncached."""
        return self._fetch(address)

    def forget(self, address: str) -> None:
        """Drop the cached nonce of `address` (e.g. after the chain was reverted)."""
        with self._lock_for(address):
            self._next.pop(address, None)

    def forget_all(self) -> None:
        """Drop every cached nonce (after a reorganisation: the chain's counts may be lower than
        the cache's, and a nonce above the chain's would wait in the node's queue for ever)."""
        with self._guard:
            addresses = list(self._next)
        for address in addresses:
            self.forget(address)


def pending_nonce_reader(w3: Web3) -> Callable[[str], int]:
    """Reads an account's next nonce (transactions mined and pending) from the node: over HTTP as one
    JSON-RPC request straight to the node (web3.py's middleware costs more than the request)."""
    if isinstance(w3.provider, HTTPProvider):
        rpc = JsonRpc(w3)

        def direct(address: str) -> int:
            try:
                response = rpc.request(
                    "eth_getTransactionCount", [Web3.to_checksum_address(address), "pending"]
                )
            except (NodeUnreachable, NodeHttpError) as exc:
                raise LedgerUnavailable(f"eth_getTransactionCount: {exc}") from exc
            if response.get("error") is not None:
                raise LedgerError(f"eth_getTransactionCount: {response['error']}")
            return int(response["result"], 16)

        return direct
    return lambda a: int(w3.eth.get_transaction_count(Web3.to_checksum_address(a), "pending"))


class NamedLocks(Protocol):
    """Locks by name held across processes (`service.db.locks.ProcessLocks`)."""

    def hold(self, name: str, timeout: float | None = None) -> AbstractContextManager[bool]: ...


class SharedNonces(NonceManager):
    """Nonces for accounts that several processes sign for (gateway workers, several gateways):
    under the account's lock in `locks` (`service.db.locks.ProcessLocks`), the next nonce is the
    node's pending transaction count, read every time (nothing cached that another process could
    make stale). A failed send leaves no gap: nothing was added to the pending count."""

    def __init__(self, w3: Web3, locks: NamedLocks) -> None:
        self._pending = pending_nonce_reader(w3)
        super().__init__(self._pending)
        self._process_locks = locks

    def lock(self, address: str) -> AbstractContextManager[bool]:
        """The lock of `address`'s nonces (also held while the funder pays for a new account)."""
        return self._process_locks.hold(f"nonce:{Web3.to_checksum_address(address)}")

    @contextmanager
    def reserve(self, address: str) -> Iterator[int]:
        with self.lock(address):
            yield self._pending(address)

    def forget(self, address: str) -> None:
        """Nothing is cached."""

    def forget_all(self) -> None:
        """Nothing is cached."""
