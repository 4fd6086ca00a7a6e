"""The indexer: follows a ledger contract's events into SQL, batch by batch.

One batch: check that the checkpoint block is still on the chain (else roll back to the fork point),
fetch the logs of the next block range with eth_getLogs, fetch the headers of the blocks they are in
(all blocks, near the head, so a later reorganisation can be walked back), check that logs and
headers agree and chain onto the checkpoint, decode, and apply everything with the new checkpoint
in one database transaction (see `IndexStore.apply_batch`).

Embedded beside the gateway: `Indexer(...).start()` runs it in a thread, `stop()` ends it.
As a process: `credchain index` (service/cli.py).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from web3 import HTTPProvider, Web3

from service.indexer.decode import DecodedLog, LogDecoder
from service.indexer.progress import ProgressCallback
from service.indexer.ranges import AdaptiveRange
from service.indexer.reorg import find_fork_point
from service.indexer.source import BlockHeader, LogSource, RpcError, source_for
from service.indexer.store import ConcurrentIndexer, IndexStore
from service.ledger.artifacts import load_artifact
from service.ledger.errors import LedgerUnavailable
from service.ledger.types import EVIDENCE_CONTRACT, LEDGER_CONTRACT

log = logging.getLogger("credchain.indexer")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    LedgerUnavailable,
    RpcError,
    OperationalError,
    ConcurrentIndexer,
)
"""Errors the run loops wait out (node or database away, another writer): nothing was written."""

PROGRESS_EVERY = 10.0
"""Seconds between progress lines in the log."""


@dataclass(frozen=True)
class IndexerConfig:
    """What to index and how.

    `confirmations`: blocks behind the head the indexer stays (0: index the head). `keep_blocks`:
    how far back block hashes are kept, i.e. the deepest reorganisation it can undo. `pipeline`:
    fetch the next batch from the node while the current one is written to SQL.
    """

    contract: str
    from_block: int = 0
    confirmations: int = 0
    poll_interval: float = 2.0
    initial_range: int = 2_000
    max_range: int = 100_000
    min_range: int = 1
    target_logs: int = 5_000
    keep_blocks: int = 128
    max_backoff: float = 30.0
    pipeline: bool = True


class Outcome(enum.Enum):
    APPLIED = "applied"
    """A batch was applied (possibly with no events)."""
    IDLE = "idle"
    """Nothing to do: the index is at the target block."""
    REORG = "reorg"
    """The chain changed under the index; it was rolled back to the fork point."""
    RETRY = "retry"
    """The chain moved while the batch was fetched, or the node refused the range; nothing written."""


@dataclass(frozen=True)
class SyncResult:
    outcome: Outcome
    events: int = 0
    first_block: int | None = None
    last_block: int | None = None


@dataclass(frozen=True)
class _Position:
    """Where the next batch starts: after `last` (whose hash is `last_hash`, "" if unknown);
    `expected` is the checkpoint the batch must find when it is written (None: none yet)."""

    last: int
    last_hash: str
    expected: int | None


@dataclass(frozen=True)
class _Batch:
    """A batch fetched from the chain and checked: blocks `start..end.number`."""

    position: _Position
    start: int
    end: BlockHeader
    events: list[DecodedLog]
    headers: dict[int, BlockHeader]

    def next_position(self) -> _Position:
        return _Position(self.end.number, self.end.hash, self.end.number)


@dataclass(frozen=True)
class _Reorganised:
    """The block at `position.last` is no longer on the chain."""

    position: _Position


_Fetched = _Batch | _Reorganised | SyncResult


def _drain(pending: Future[_Fetched] | None) -> None:
    """Wait for a prefetch nobody will use, and drop its result or error."""
    if pending is not None:
        with contextlib.suppress(BaseException):
            pending.result()


@dataclass
class IndexerStats:
    batches: int = 0
    events: int = 0
    reorgs: int = 0
    events_rolled_back: int = 0
    retries: int = 0
    errors: int = 0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)


def http_web3(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A Web3 over HTTP without web3's own retries: the indexer's loop retries, and a dead node
    should surface at once rather than after seconds of hidden back-off."""
    provider = HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
    return Web3(provider)


class Indexer:
    """Indexes one CreditNoteLedger contract into one database."""

    def __init__(
        self,
        w3: Web3,
        engine: Engine,
        config: IndexerConfig,
        *,
        source: LogSource | None = None,
    ) -> None:
        self.w3 = w3
        self.config = config
        self.source: LogSource = source if source is not None else source_for(w3)
        self.decoder = LogDecoder(load_artifact(LEDGER_CONTRACT).abi, config.contract)
        self.contract = self.decoder.contract
        self.registry: str | None = None
        """The ledger's EvidenceRegistry, whose logs are indexed with the ledger's (None until the
        ledger names one: looked up again before each batch until then)."""
        self.store = IndexStore(engine, self.contract, keep_blocks=config.keep_blocks)
        self.range = AdaptiveRange(
            size=config.initial_range,
            minimum=config.min_range,
            maximum=config.max_range,
            target_logs=config.target_logs,
        )
        self.stats = IndexerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_progress = time.monotonic()

    def _evidence_registry(self) -> str | None:
        """The registry the ledger names, once it names one. The registry emits nothing before it
        is named (every registration goes through the ledger's check of its caller), so asking
        before each batch until then misses none of its logs."""
        if self.registry is None:
            ledger = self.w3.eth.contract(address=self.contract, abi=load_artifact(LEDGER_CONTRACT).abi)
            try:
                address = str(ledger.functions.evidenceRegistry().call())
            except Exception as exc:  # an unreachable node or a ledger without registries: ask later
                log.debug("the ledger's evidence registry is unknown for now: %s", exc)
                return None
            if int(address, 16) == 0:
                return None
            self.decoder.add_contract(load_artifact(EVIDENCE_CONTRACT).abi, address)
            self.registry = Web3.to_checksum_address(address)
        return self.registry

    # ------------------------------------------------------------------ position
    def last_block(self) -> int:
        """The last block fully applied (`from_block - 1` before the first batch)."""
        checkpoint = self.store.checkpoint()
        return checkpoint.last_block if checkpoint is not None else self.config.from_block - 1

    def lag(self) -> int:
        """Blocks between the chain head and the last block applied."""
        return max(0, self.source.block_number() - self.last_block())

    def target_block(self) -> int:
        """The block the indexer is heading for: the head minus the confirmations."""
        return self.source.block_number() - self.config.confirmations

    # ------------------------------------------------------------------ one step
    def sync_once(self, until: int | None = None) -> SyncResult:
        """Apply the next batch up to `until` (default: the head minus the confirmations), or roll
        back a reorganisation. Raises LedgerUnavailable / RpcError / OperationalError having written
        nothing."""
        return self._settle(self._fetch(self._position(), until))

    def _position(self) -> _Position:
        checkpoint = self.store.checkpoint()
        if checkpoint is None:
            return _Position(self.config.from_block - 1, "", None)
        return _Position(checkpoint.last_block, checkpoint.last_block_hash, checkpoint.last_block)

    def _fetch(self, position: _Position, until: int | None) -> _Fetched:
        """Everything about the next batch that comes from the chain, checked for consistency;
        touches no database, so it can run while the previous batch is being written."""
        last, last_hash = position.last, position.last_hash
        head = self.source.block_number()
        target = head - self.config.confirmations
        if until is not None:
            target = min(target, until)
        end = min(last + self.range.size, target)
        wanted = ([last] if last_hash else []) + ([end] if end > last else [])
        before = self.source.get_headers(wanted) if wanted else {}
        if last_hash:
            current = before.get(last)
            if current is None or current.hash != last_hash:
                return _Reorganised(position)
        if end <= last:
            return SyncResult(Outcome.IDLE, last_block=last)
        end_before = before.get(end)
        if end_before is None:
            return self._retry("block %s vanished", end)
        start = last + 1
        registry = self._evidence_registry()
        try:
            logs = self.source.get_logs(self.contract, start, end)
            if registry is not None:
                logs = logs + self.source.get_logs(registry, start, end)
        except RpcError as exc:
            self.range.failed(exc, end - start + 1)
            return self._retry(
                "eth_getLogs %s..%s refused (%s); range now %s", start, end, exc, self.range.size
            )
        events = [e for e in self.decoder.decode_all(logs) if start <= e.block_number <= end]

        numbers = {start, end, *(e.block_number for e in events)}
        dense_from = max(start, head - self.config.keep_blocks + 1)
        numbers.update(range(dense_from, end + 1))
        fetched = self.source.get_headers(sorted(numbers))
        headers: dict[int, BlockHeader] = {}
        for number, header in fetched.items():
            if header is None:
                return self._retry("block %s vanished", number)
            headers[number] = header
        last_header = headers[end]
        if last_header.hash != end_before.hash:
            return self._retry("block %s changed during the batch", end)
        if last_hash and headers[start].parent_hash != last_hash:
            return self._retry("block %s no longer follows the checkpoint", start)
        for event in events:
            if headers[event.block_number].hash != event.block_hash:
                return self._retry("logs of block %s come from another branch", event.block_number)
        for number in range(dense_from + 1, end + 1):
            if headers[number].parent_hash != headers[number - 1].hash:
                return self._retry("blocks %s..%s do not chain", number - 1, number)
        self.range.succeeded(end - start + 1, len(logs))
        return _Batch(position, start, last_header, events, headers)

    def _settle(self, fetched: _Fetched) -> SyncResult:
        """Write what `_fetch` found: apply a batch, or roll back a reorganisation."""
        if isinstance(fetched, SyncResult):
            return fetched
        if isinstance(fetched, _Reorganised):
            return self._roll_back(fetched.position.last)
        result = self.store.apply_batch(
            fetched.events, fetched.headers, fetched.start, fetched.end, fetched.position.expected
        )
        self.stats.batches += 1
        self.stats.events += result.events
        log.debug("applied blocks %s..%s: %s events", fetched.start, fetched.end.number, result.events)
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = now
            log.info(
                "at block %s: %s events in %s batches since start",
                fetched.end.number,
                self.stats.events,
                self.stats.batches,
            )
        return SyncResult(Outcome.APPLIED, result.events, fetched.start, fetched.end.number)

    def _retry(self, message: str, *args: Any) -> SyncResult:
        self.stats.retries += 1
        log.info("batch not applied: " + message, *args)
        return SyncResult(Outcome.RETRY)

    def _roll_back(self, last: int) -> SyncResult:
        fork_block, fork_hash = find_fork_point(self.store, self.source, last, self.config.from_block)
        removed = self.store.rollback_to(fork_block, fork_hash, expected_last=last)
        self.stats.reorgs += 1
        self.stats.events_rolled_back += removed
        return SyncResult(Outcome.REORG, removed, fork_block + 1, last)

    # ------------------------------------------------------------------ loops
    def run_until(
        self,
        block: int | None = None,
        *,
        retry: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Index up to `block` (default: the current head minus the confirmations) and return the
        last block applied. Waits for `block` to be mined (and confirmed). With `retry`, node and
        database outages are waited out; otherwise they raise. `progress("blocks", done, total)`
        follows the blocks applied of those this call started with."""
        target = block if block is not None else self._with_retry(self.target_block, retry)
        deadline = None if timeout is None else time.monotonic() + timeout
        if progress is not None:
            first = self._with_retry(self.last_block, retry)
            total = max(0, target - first)
            progress("blocks", 0, total)

            def applied(last: int) -> None:
                progress("blocks", min(total, max(0, last - first)), total)

            self._loop(self._stop, until=target, retry=retry, deadline=deadline, applied=applied)
        else:
            self._loop(self._stop, until=target, retry=retry, deadline=deadline)
        return self.last_block()

    def run(self, stop: threading.Event | None = None) -> None:
        """Follow the head until `stop` (or `self.stop()`) is set: catch up, then poll every
        `poll_interval` seconds. Outages are logged and waited out with exponential back-off."""
        self._loop(stop or self._stop, until=None, retry=True, deadline=None)

    def _loop(
        self,
        stop: threading.Event,
        *,
        until: int | None,
        retry: bool,
        deadline: float | None,
        applied: Callable[[int], None] | None = None,
    ) -> None:
        """Batches until `until` is reached (never, if None) or `stop` is set. While one batch is
        written to SQL, the next one is fetched from the node in a second thread (`pipeline`);
        `applied(last_block)` after each batch applied."""
        failures = 0
        retries = 0
        pending: Future[_Fetched] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="credchain-fetch") as pool:
            try:
                while not stop.is_set() and not self._stop.is_set():
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError(f"index did not reach block {until} in time")
                    try:
                        if pending is not None:
                            fetched = pending.result()
                            pending = None
                        else:
                            fetched = self._fetch(self._position(), until)
                        if isinstance(fetched, _Batch) and self.config.pipeline:
                            pending = pool.submit(self._fetch, fetched.next_position(), until)
                        result = self._settle(fetched)
                        failures = 0
                    except TRANSIENT_ERRORS as exc:
                        _drain(pending)
                        pending = None
                        if not retry:
                            raise
                        failures += 1
                        self._note_error(exc)
                        stop.wait(self._backoff(failures))
                        continue
                    if result.outcome is Outcome.IDLE:
                        retries = 0
                        if until is not None and result.last_block is not None and result.last_block >= until:
                            return
                        stop.wait(self.config.poll_interval)
                    elif result.outcome is Outcome.RETRY:
                        retries += 1
                        if retries > 3:
                            stop.wait(min(self.config.poll_interval, 1.0))
                    else:
                        retries = 0
                        if (
                            applied is not None
                            and result.outcome is Outcome.APPLIED
                            and result.last_block is not None
                        ):
                            applied(result.last_block)
            finally:
                _drain(pending)

    def start(self) -> threading.Thread:
        """Run `run()` in a daemon thread (embedded mode)."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="credchain-indexer", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the loops to stop after the current batch, and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _backoff(self, failures: int) -> float:
        return float(min(self.config.max_backoff, 0.25 * 2 ** min(failures - 1, 10)))

    def _note_error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("indexer: %s; retrying", self.stats.last_error)

    def _with_retry(self, fn: Any, retry: bool) -> Any:
        failures = 0
        while True:
            try:
                return fn()
            except TRANSIENT_ERRORS as exc:
                if not retry or self._stop.is_set():
                    raise
                failures += 1
                self._note_error(exc)
                self._stop.wait(self._backoff(failures))
