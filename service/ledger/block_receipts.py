"""Receipts found per block for every waiter of a process, not polled per transaction.

A write waits for its transaction's receipt. On a node that mines at once (anvil's automine) the
receipt is there within milliseconds, and a few prompt look-ups of that one receipt are the fastest
way to it. On a node with a block period (QBFT, `anvil --block-time 2`) hundreds of writes may wait
for the same next block: each asking for its own receipt every 100 ms would cost the node
thousands of requests a second and find nothing until the block comes. So `BlockReceipts`:

- `wait(tx_hash, timeout)` registers the waiter, then looks its receipt up directly (once, or
  promptly for up to `RECEIPT_PROMPT_SECONDS` while prompt look-ups pay off: `PromptTuner`), then
  waits to be woken;
- while anyone waits, one thread of the process follows the head (`eth_blockNumber` every
  `interval`) and fetches each new block's receipts once (`eth_getBlockReceipts`; on a node without
  it, the block's transaction hashes and their receipts in one batch), waking every waiter whose
  transaction is in it; it ends when nobody has waited for a while;
- a waiter also looks its receipt up directly every `FALLBACK_LOOKUP_SECONDS` (a block the follower
  skipped: it starts at the head, and catches up at most `MAX_CATCH_UP` blocks after a pause);
- a waiter whose transaction the node no longer knows (a reorganisation dropped it) stops at its
  second fallback look-up with `TransactionDropped`;
- a node error in the follower is logged and the block asked for again; a waiter not woken by its
  deadline raises `TransactionTimeout`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.ledger.errors import LedgerError, LedgerUnavailable, TransactionDropped, TransactionTimeout
from service.ledger.jsonrpc import RECEIPT_PROMPT_SECONDS, prompt_pauses
from service.ledger.waiting import waiting

log = logging.getLogger(__name__)

Request = Callable[[str, list[Any]], Any]
"""One JSON-RPC request: (method, params) -> result; node faults raise `LedgerError`s."""
Batch = Callable[[list[tuple[str, list[Any]]]], list[Any]]
"""Several JSON-RPC requests at once: their results in order."""

FOLLOW_INTERVAL = 0.05
"""Seconds between `eth_blockNumber` look-ups while anyone waits."""
IDLE_SECONDS = 2.0
"""The follower thread ends after this long without waiters."""
FALLBACK_LOOKUP_SECONDS = 4.0
"""A waiter also asks for its own receipt this often."""
VANISHED_LOOKUPS = 2
"""A waiter whose transaction the node no longer knows at this many fallback look-ups in a row
(neither mined nor pending: a reorganisation or a node restart dropped it) stops waiting with
`TransactionDropped`, rather than until its timeout: the write's idempotency record keeps the
signed transaction, and a retry resolves it (broadcast again if its nonce is still free)."""
MAX_CATCH_UP = 16
"""After a pause the follower fetches at most this many blocks it missed (older ones: see the
fallback look-ups)."""
ERROR_PAUSE = 0.1


class PromptTuner:
    """Whether a new waiter should look its receipt up promptly (for `RECEIPT_PROMPT_SECONDS`):
    yes while recent prompt phases found it, no after `misses` in a row (a node with a block
    period), except one waiter in `probe_every`, which finds out whether that still holds; and at
    most `concurrent` waiters at once (a burst of writes waits for the block, not each polling)."""

    def __init__(self, misses: int = 4, probe_every: int = 32, concurrent: int = 8) -> None:
        self._misses_allowed = misses
        self._probe_every = probe_every
        self._concurrent = concurrent
        self._missed = 0
        self._skipped = 0
        self._prompting = 0
        self._lock = threading.Lock()

    def should_prompt(self) -> bool:
        """Whether the next waiter prompts now; if so it must call `record` when done."""
        with self._lock:
            if self._prompting >= self._concurrent:
                return False
            if self._missed >= self._misses_allowed:
                self._skipped += 1
                if self._skipped < self._probe_every:
                    return False
                self._skipped = 0
            self._prompting += 1
            return True

    def record(self, found: bool) -> None:
        """A prompt phase ended: whether it found the receipt."""
        with self._lock:
            self._prompting = max(0, self._prompting - 1)
            self._missed = 0 if found else self._missed + 1


@dataclass
class _Waiter:
    found: threading.Event = field(default_factory=threading.Event)
    receipt: dict[str, Any] | None = None
    checked: bool = False
    """Its receipt was looked up once it was registered (so a block mined before the follower
    came to it cannot be missed); if the node could not be asked then, the follower looks it up
    after its next successful step."""


class BlockReceipts:
    """Waits for receipts, one follower of the head per instance (one per process: the ledger
    client's sender); see the module."""

    def __init__(
        self,
        request: Request,
        batch: Batch,
        *,
        interval: float = FOLLOW_INTERVAL,
        fallback_seconds: float = FALLBACK_LOOKUP_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        transient: Callable[[BaseException], bool] = lambda _exc: True,
    ) -> None:
        self._request = request
        self._transient = transient
        """Whether a node fault may pass if asked again (a 401 from the node will not: raised)."""
        self._batch = batch
        self.interval = interval
        self.fallback_seconds = fallback_seconds
        self.idle_seconds = idle_seconds
        self.tuner = PromptTuner()
        self._lock = threading.Lock()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._thread: threading.Thread | None = None
        self._last_block: int | None = None
        self._block_receipts_supported = True
        self.blocks_fetched = 0
        """Blocks whose receipts the follower fetched (for tests and metrics)."""
        self.last_error: BaseException | None = None

    # ------------------------------------------------------------------ waiting
    def wait(self, tx_hash: str, timeout: float) -> dict[str, Any]:
        """The raw JSON-RPC receipt of `tx_hash`; TransactionTimeout after `timeout` seconds."""
        key = tx_hash.lower()
        started = time.monotonic()
        deadline = started + timeout
        waiter = _Waiter()
        with self._lock:
            self._waiters.setdefault(key, []).append(waiter)
        try:
            found = self._prompt(tx_hash, started, waiter)
            if found is not None:
                return found
            self._ensure_follower()
            with waiting():
                return self._wait_woken(tx_hash, waiter, deadline)
        finally:
            with self._lock:
                waiting_here = self._waiters.get(key, [])
                if waiter in waiting_here:
                    waiting_here.remove(waiter)
                if not waiting_here:
                    self._waiters.pop(key, None)

    def _wait_woken(self, tx_hash: str, waiter: _Waiter, deadline: float) -> dict[str, Any]:
        unknown = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = f": {self.last_error}" if self.last_error is not None else ""
                raise TransactionTimeout(f"no receipt for {tx_hash}{detail}")
            if waiter.found.wait(min(self.fallback_seconds, remaining)):
                assert waiter.receipt is not None
                return waiter.receipt
            found, asked = self._look_up(tx_hash)
            if found is not None:
                return found
            unknown = unknown + 1 if asked and not self._known(tx_hash) else 0
            if unknown >= VANISHED_LOOKUPS:
                raise TransactionDropped(
                    f"{tx_hash} is neither mined nor pending any more (a reorganisation or a node "
                    "restart dropped it)"
                )
            self._ensure_follower()  # it may have ended after an idle spell

    def _known(self, tx_hash: str) -> bool:
        """Whether the node still knows `tx_hash` (pending or mined); True if it cannot be asked."""
        try:
            return self._request("eth_getTransactionByHash", [tx_hash]) is not None
        except LedgerUnavailable:
            return True

    def waiters(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._waiters.values())

    def _prompt(self, tx_hash: str, started: float, waiter: _Waiter) -> dict[str, Any] | None:
        """One direct look-up, repeated promptly while the tuner says it pays off."""
        prompt = self.tuner.should_prompt()
        found, asked = self._look_up(tx_hash)
        if prompt and found is None:
            pauses = prompt_pauses()
            while found is None:
                elapsed = time.monotonic() - started
                if elapsed >= RECEIPT_PROMPT_SECONDS:
                    break
                time.sleep(min(next(pauses), RECEIPT_PROMPT_SECONDS - elapsed))
                found, asked_again = self._look_up(tx_hash)
                asked = asked or asked_again
        if prompt:
            self.tuner.record(found is not None)
        waiter.checked = asked
        return found

    def _look_up(self, tx_hash: str) -> tuple[dict[str, Any] | None, bool]:
        """The receipt if the node has it (None if not yet), and whether the node could be asked
        (a node away is transient: the follower and the next look-up try again)."""
        try:
            found = self._request("eth_getTransactionReceipt", [tx_hash])
        except LedgerUnavailable as exc:
            if not self._transient(exc):
                raise
            self.last_error = exc
            return None, False
        return (dict(found) if found is not None else None), True

    # ------------------------------------------------------------------ following the head
    def _ensure_follower(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._follow, name="credchain-block-receipts", daemon=True)
            self._thread.start()

    def _follow(self) -> None:
        idle_since: float | None = None
        while True:
            with self._lock:
                if self._waiters:
                    idle_since = None
                else:
                    now = time.monotonic()
                    idle_since = idle_since or now
                    if now - idle_since >= self.idle_seconds:
                        self._thread = None
                        return
            try:
                self._step()
            except LedgerError as exc:
                if self.last_error is None:  # once per outage, not every ERROR_PAUSE
                    log.warning("block receipts: %s: %s; asking again", type(exc).__name__, exc)
                self.last_error = exc
                time.sleep(ERROR_PAUSE)
                continue
            except Exception:  # never let the follower die silently with waiters left
                log.exception("block receipts follower failed")
                time.sleep(ERROR_PAUSE)
                continue
            time.sleep(self.interval)

    def _step(self) -> None:
        head = int(self._request("eth_blockNumber", []), 16)
        if self.last_error is not None:
            log.info("block receipts: the node answers again")
            self.last_error = None
        last = self._last_block
        if last is None or head < last or head - last > MAX_CATCH_UP:
            last = head - 1  # a fresh start, a reorganisation to a shorter chain, or a long pause
        for number in range(last + 1, head + 1):
            receipts = self._receipts_of(number)
            self.blocks_fetched += 1
            self._last_block = number
            self.last_error = None
            self._wake(receipts)
        self._check_unchecked()

    def _check_unchecked(self) -> None:
        """Look up at once the receipts of waiters whose own look-up found the node away (their
        transactions may be in blocks mined before the follower's)."""
        with self._lock:
            unchecked = {h: ws for h, ws in self._waiters.items() if any(not w.checked for w in ws)}
        if not unchecked:
            return
        hashes = list(unchecked)
        found = self._batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        self._wake([r for r in found if r])
        with self._lock:
            for waiters in unchecked.values():
                for waiter in waiters:
                    waiter.checked = True

    def _receipts_of(self, number: int) -> list[dict[str, Any]]:
        if self._block_receipts_supported:
            try:
                found = self._request("eth_getBlockReceipts", [hex(number)])
            except LedgerUnavailable:
                raise
            except LedgerError as exc:  # the node has no such method
                log.info("eth_getBlockReceipts refused (%s): receipts by transaction", exc)
                self._block_receipts_supported = False
            else:
                return list(found or [])
        block = self._request("eth_getBlockByNumber", [hex(number), False])
        hashes = list(block.get("transactions") or []) if block else []
        if not hashes:
            return []
        return [r for r in self._batch([("eth_getTransactionReceipt", [h]) for h in hashes]) if r]

    def _wake(self, receipts: list[dict[str, Any]]) -> None:
        with self._lock:
            for receipt in receipts:
                waiting = self._waiters.get(str(receipt.get("transactionHash", "")).lower())
                for waiter in waiting or []:
                    waiter.receipt = dict(receipt)
                    waiter.found.set()
