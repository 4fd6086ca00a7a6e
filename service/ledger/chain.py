"""Connections to a chain: the in-process eth-tester chain (embedded mode, unit tests) or a
JSON-RPC node over HTTP (anvil in integration tests, Besu/GoQuorum in production)."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import get_default_account_keys
from eth_utils.exceptions import ValidationError as EthValidationError
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import TimeExhausted, Web3RPCError
from web3.types import RPCEndpoint, RPCResponse

from service.ledger.chain_store import ChainStore
from service.ledger.errors import InsufficientGas, LedgerUnavailable, TransactionTimeout
from service.ledger.jsonrpc import JsonRpc, NodeHttpError, NodeUnreachable
from service.ledger.sender import CONNECTION_ERRORS, insufficient_funds, journal_broadcast, journal_refusal

ChainKind = Literal["in-process", "http"]

UNREACHABLE_MEMORY_SECONDS = 1.0
"""How long `Chain.now` answers LedgerUnavailable at once after the node failed to answer it."""


class SerialisedTesterProvider(EthereumTesterProvider):
    """An eth-tester provider whose requests run one at a time: eth-tester (py-evm) is not
    thread-safe, and the gateway's request threads, indexer and background threads all call it.
    `lock` (re-entrant) is the chain's: `Chain.serialised` holds it across several calls."""

    def __init__(self, tester: EthereumTester, lock: threading.RLock) -> None:
        super().__init__(tester)
        self.lock = lock

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self.lock:
            return super().make_request(method, params)


@dataclass
class Chain:
    """A web3 connection plus what tests and the demo need around it.

    `funder` is an account holding ether that pays for other accounts' gas (the chain's dev
    account in embedded mode and on anvil; on a gas-free permissioned network it is unused).
    """

    w3: Web3
    kind: ChainKind
    funder: LocalAccount | None
    tester: EthereumTester | None = None
    lock: threading.RLock | None = field(default=None, repr=False)
    """The in-process chain's lock (each request to it holds it); None over HTTP (a node serves
    concurrent requests itself)."""

    _rpc: JsonRpc | None = field(default=None, init=False, repr=False, compare=False)
    _probes: dict[float, JsonRpc] = field(default_factory=dict, init=False, repr=False, compare=False)
    _unreachable_until: float = field(default=0.0, init=False, repr=False, compare=False)

    def node(self) -> JsonRpc:
        """The chain's JSON-RPC client (`JsonRpc`: a urllib3 pool of its own over HTTP, with the
        provider's timeout and no retries)."""
        if self._rpc is None:
            self._rpc = JsonRpc(self.w3)
        return self._rpc

    def request(self, method: str, params: list[Any], *, rpc: JsonRpc | None = None) -> Any:
        """One JSON-RPC request's result. An unreachable node, one that does not answer in time or
        answers with an HTTP error or a JSON-RPC error is `LedgerUnavailable`: every read of the
        chain made outside the ledger client (chain time, head block, readiness) comes here, so a
        dead or black-holed node is a 503 `ledger-unavailable`, never an unmapped exception."""
        try:
            response = (rpc or self.node()).request(method, params)
        except (NodeUnreachable, NodeHttpError, OSError) as exc:
            raise LedgerUnavailable(f"{method}: {exc}") from exc
        error = response.get("error")
        if error is not None:
            raise LedgerUnavailable(f"{method}: {error}")
        return response.get("result")

    def head_block(self) -> int:
        """The number of the latest block."""
        if self.kind == "in-process":
            return int(self.w3.eth.block_number)
        return int(self.request("eth_blockNumber", []), 16)

    def probe(self, timeout: float) -> int:
        """The head block asked with a timeout of its own (readiness checks); LedgerUnavailable if
        the node does not answer within `timeout` seconds."""
        if self.kind == "in-process":
            return self.head_block()
        rpc = self._probes.get(timeout)
        if rpc is None:
            rpc = self._probes.setdefault(timeout, JsonRpc(self.w3, timeout=timeout))
        return int(self.request("eth_blockNumber", [], rpc=rpc), 16)

    def serialised(self) -> AbstractContextManager[object]:
        """Hold the in-process chain for a sequence of calls no other thread may interleave with
        (each single call is serialised already); nothing over HTTP."""
        return self.lock if self.lock is not None else nullcontext()

    def now(self) -> int:
        """Timestamp of the latest block. Over HTTP, for `UNREACHABLE_MEMORY_SECONDS` after the
        node failed to answer it, LedgerUnavailable at once: a write's pre-checks ask it while they
        hold a database connection and a turn to work (`service.api.write_capacity`), and a burst
        of writes to a black-holed node must not each wait the node's timeout in turn."""
        if self.kind == "in-process":
            return int(self.w3.eth.get_block("latest")["timestamp"])
        if time.monotonic() < self._unreachable_until:
            raise LedgerUnavailable("eth_getBlockByNumber: the node did not answer a moment ago")
        try:
            return int(self.request("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        except LedgerUnavailable as exc:
            if isinstance(exc.__cause__, OSError):  # no answer (NodeUnreachable is one), not an error answer
                self._unreachable_until = time.monotonic() + UNREACHABLE_MEMORY_SECONDS
            raise

    def advance_time(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block (test chains only)."""
        target = self.now() + seconds
        if self.tester is not None:
            with self.serialised():
                # eth-tester stamps its pending block with the wall clock when that is later than the
                # head (e.g. after a revert to an older snapshot): it refuses to travel back before it
                pending = int(self.tester.get_block_by_number("pending")["timestamp"])
                self.tester.time_travel(max(target, pending))
                self.tester.mine_blocks(1)
            return
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def snapshot(self) -> Any:
        """Take a snapshot of chain state (test chains only)."""
        if self.tester is not None:
            with self.serialised():
                return self.tester.take_snapshot()
        return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self, snapshot_id: Any) -> None:
        """Return to a snapshot (test chains only)."""
        if self.tester is not None:
            with self.serialised():
                self.tester.revert_to_snapshot(snapshot_id)
            return
        self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]

    def fund(self, address: str, wei: int) -> Any:
        """Send `wei` of ether from the funder to `address` and wait for it to be mined; its receipt
        (None without a funder). A funder that cannot pay is `InsufficientGas` naming it."""
        if self.funder is None:
            return None
        with self.serialised():  # the funder's nonce is read, then used
            return self._fund(address, wei)

    def balance(self, address: str) -> int:
        """The ether balance of `address` in wei (LedgerUnavailable if the node cannot be asked)."""
        checksummed = Web3.to_checksum_address(address)
        if self.kind == "in-process":
            return int(self.w3.eth.get_balance(checksummed))
        return int(self.request("eth_getBalance", [checksummed, "latest"]), 16)

    def _fund(self, address: str, wei: int) -> Any:
        assert self.funder is not None
        tx: dict[str, Any] = {
            "to": Web3.to_checksum_address(address),
            "value": wei,
            "gas": 21_000,
            "nonce": self.w3.eth.get_transaction_count(self.funder.address, "pending"),
            "chainId": self.w3.eth.chain_id,
            "maxFeePerGas": 2 * int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0)) + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        signed = self.funder.sign_transaction(tx)
        journal_broadcast(signed.hash.to_0x_hex(), bytes(signed.raw_transaction))
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except (Web3RPCError, EthValidationError) as exc:
            if not insufficient_funds(str(exc)):
                raise
            journal_refusal(signed.hash.to_0x_hex())
            raise InsufficientGas(
                str(exc), address=self.funder.address, cost=tx["gas"] * tx["maxFeePerGas"] + wei
            ) from exc
        except CONNECTION_ERRORS as exc:  # sent or not: journaled, a retry resolves it from the chain
            raise LedgerUnavailable(f"eth_sendRawTransaction: {exc}") from exc
        try:
            return self.w3.eth.wait_for_transaction_receipt(tx_hash)
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(f"eth_getTransactionReceipt: {exc}") from exc
        except TimeExhausted as exc:
            raise TransactionTimeout(f"no receipt for {tx_hash.to_0x_hex()}") from exc


def in_process_chain(store: ChainStore | None = None) -> Chain:
    """An in-process chain (py-evm), its first dev account as funder: fresh and in memory, or kept
    in `store` (its genesis written there first if the store is empty, else resumed at its head)."""
    backend = PyEVMBackend()
    if store is not None:
        if store.empty():
            store.load(dict(backend.chain.chaindb.db.wrapped_db.kv_store))
        backend.chain = type(backend.chain)(store.db)
    tester = EthereumTester(backend)
    lock = threading.RLock()
    w3 = Web3(SerialisedTesterProvider(tester, lock))
    funder: LocalAccount = Account.from_key(get_default_account_keys(1)[0].to_bytes())
    return Chain(w3=w3, kind="in-process", funder=funder, tester=tester, lock=lock)


ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""anvil's first well-known development account (public test key, never holds real value)."""


def http_chain(url: str, funder_key: str | None = None, timeout: float = 10.0) -> Chain:
    """A JSON-RPC node over HTTP; `funder_key` pays other accounts' gas if given. A request not
    answered within `timeout` seconds fails, and is not retried by web3's provider (its default
    retries five times, with the timeout each time: a black-holed node held a request for a minute);
    whoever asked decides whether to ask again."""
    # web3's validation middleware asks the node for its chain id before every eth_call and
    # eth_estimateGas (and once more on the answer): cached, that is one round trip per connection
    # instead of two or three per call
    provider = HTTPProvider(
        url,
        request_kwargs={"timeout": timeout},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
        exception_retry_configuration=None,
    )
    w3 = Web3(provider)
    funder: LocalAccount | None = Account.from_key(funder_key) if funder_key else None
    return Chain(w3=w3, kind="http", funder=funder)
