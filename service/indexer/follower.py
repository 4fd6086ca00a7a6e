"""The index follower, and the coordination that lets a request wait for its own block to be
indexed (`IndexCoordinator`): one thread per process (and, on PostgreSQL, one process at a time:
the `indexer` lock of `service.db.locks.ProcessLocks`) applies batches, waking the requests whose
blocks it applied."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from service.background import BackgroundThread
from service.db.locks import ProcessLocks
from service.indexer.indexer import TRANSIENT_ERRORS, Indexer, Outcome, SyncResult

log = logging.getLogger("credchain.api")

INDEXER_LOCK = "indexer"
"""The `ProcessLocks` name held while a batch is applied (kept on a connection of its own)."""


class IndexCoordinator:
    """Applies index batches for the requests of one gateway process and its follower.

    `sync`: a request runs the indexer itself up to its block, one thread at a time (embedded
    mode and tests: deterministic). Otherwise too the request indexes its own block, under the
    `indexer` lock of `locks` (shared by every gateway process on PostgreSQL), while an
    `IndexFollower` applies everybody else's blocks (`index_batch`).

    The mark of what this process knows to be indexed (`_applied`) is only a hint: before a request
    is told its block is indexed, the checkpoint is read (one statement, with the journal's latest
    reorganisation), so a rollback by another process lowers it at once. A reorganisation seen
    (rolled back here or found in the journal) is told to the `on_reorg` listeners (e.g. nonce
    caches)."""

    def __init__(self, indexer: Indexer, locks: ProcessLocks, *, sync: bool) -> None:
        self.indexer = indexer
        self.locks = locks
        self.sync = sync
        self._sync_lock = threading.RLock()
        self._changed = threading.Condition()
        self._indexing = False
        """A thread of this process is applying batches (under the `indexer` lock)."""
        self._applied = -1
        """The last block this process knows to be in the index (a hint: see the class)."""
        self._latest_reorg: int | None = None
        """The journal's latest reorganisation this process has seen (None: not read yet)."""
        self._reorg_listeners: list[Callable[[], None]] = []
        self._applied_listeners: list[Callable[[int], None]] = []

    def on_reorg(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever this process sees a new reorganisation in the journal."""
        self._reorg_listeners.append(listener)

    def on_applied(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call `listener(last_block)` whenever this process applied a batch or read the checkpoint
        (e.g. to wake the readers of the domain event log without polling); returns the function
        that stops it."""
        self._applied_listeners.append(listener)
        return lambda: self._applied_listeners.remove(listener)

    def wait_indexed(self, block: int, timeout: float) -> bool:
        """Wait (up to `timeout` seconds) until the index has applied `block`; whether it has.

        The request indexes its block itself rather than waiting for a poll: one thread of the
        process at a time (and, on PostgreSQL, one process at a time: the `indexer` lock) applies
        batches up to the head, and after each batch wakes the requests whose blocks it applied.
        If the block cannot be applied yet (not confirmed, node or database away), it looks again
        after 2 ms, then 4, 8, ... at most 50 ms apart.
        """
        if self.sync:
            with self._sync_lock:
                try:
                    self.indexer.run_until(block, timeout=timeout)
                except TimeoutError:
                    return False
            return self._refresh() >= block
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            try:
                if (self._applied >= block and self._refresh() >= block) or self._index_up_to(
                    block, deadline
                ):
                    return True
            except TRANSIENT_ERRORS as exc:
                log.info("indexing block %s: %s: %s", block, type(exc).__name__, exc)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.05)

    def index_batch(self) -> Outcome | None:
        """One batch towards the head (the follower's step); None if another thread of this process
        is indexing already."""
        if not self._claim(None, None):
            return None
        try:
            with self.locks.hold(INDEXER_LOCK):
                return self._batch().outcome
        finally:
            self._release()

    def _claim(self, block: int | None, deadline: float | None) -> bool:
        """Become the thread of this process that indexes; with `block`, first wait (until
        `deadline`) while another thread indexes and `block` is not applied yet. False if `block`
        got applied meanwhile, or (without `block`) if another thread is indexing."""
        with self._changed:
            while self._indexing and (block is None or self._applied < block):
                if block is None:
                    return False
                remaining = deadline - time.monotonic() if deadline is not None else None
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
            if block is not None and self._applied >= block:
                return False
            self._indexing = True
            return True

    def _release(self) -> None:
        with self._changed:
            self._indexing = False
            self._changed.notify_all()

    def _applied_now(self, last: int, *, exact: bool = False) -> None:
        """The index is at `last` (at least, unless `exact`: after a reorganisation); wake waiters."""
        with self._changed:
            self._applied = last if exact else max(self._applied, last)
            self._changed.notify_all()
        for listener in self._applied_listeners:
            listener(last)

    def on_indexed_branch(self, block: int, block_hash: str) -> bool:
        """Whether the index holds block `block` with hash `block_hash` (so a transaction mined in
        it is in the index); False if it holds another block of that number (a reorganisation
        replaced it); True if the index keeps no hash that deep (nothing to tell them apart)."""
        stored = self.indexer.store.stored_blocks(block, 1)
        if not stored or stored[0][0] != block:
            return True
        return stored[0][1].lower() == block_hash.lower()

    def _refresh(self) -> int:
        """Read the checkpoint (and the journal's latest reorganisation) and make the mark say it:
        lowered if another process rolled the index back. Tells the listeners of a new
        reorganisation. Returns the checkpoint's last block."""
        position = self.indexer.store.position()
        last = position.last_block if position.last_block is not None else self.indexer.config.from_block - 1
        self._applied_now(last, exact=True)
        seen, self._latest_reorg = self._latest_reorg, position.latest_reorg
        if seen is not None and position.latest_reorg != seen:
            for listener in self._reorg_listeners:
                try:
                    listener()
                except Exception:  # a listener's failure must not fail the request that noticed
                    log.exception("reorganisation listener failed")
        return last

    def _batch(self) -> SyncResult:
        """One `sync_once`, and what it tells of the index (the caller holds the `indexer` lock)."""
        result = self.indexer.sync_once()
        if result.outcome is Outcome.APPLIED and result.last_block is not None:
            self._applied_now(result.last_block)
        elif result.outcome is Outcome.REORG:
            self._refresh()
        return result

    def _index_up_to(self, block: int, deadline: float) -> bool:
        """Apply batches until `block` is in the index (or nothing more can be applied yet), unless
        another thread of this process is at it, in which case wait for it; whether `block` is in."""
        if not self._claim(block, deadline):
            return self._applied >= block
        try:
            if self._refresh() >= block:  # another process may have applied it
                return True
            with self.locks.hold(INDEXER_LOCK, timeout=deadline - time.monotonic()) as held:
                if not held:
                    return False
                last = self._refresh()
                retries = 0
                while last < block and time.monotonic() < deadline and retries <= 3:
                    result = self._batch()
                    if result.outcome is Outcome.IDLE:
                        break
                    retries = retries + 1 if result.outcome is Outcome.RETRY else 0
                    last = self._applied
                return last >= block
        finally:
            self._release()


FOLLOWER_LOCK = "follower"
"""The `ProcessLocks` name kept (`try_keep`) by the one gateway process that follows the chain head."""

FIRST_BACKOFF = 0.25
"""Seconds the follower waits after its first failure in a row; doubled after each further one."""


def follower_backoff(failures: int, cap: float, rng: random.Random) -> float:
    """Seconds to wait after `failures` failures in a row: 0.25, 0.5, 1, ... but never more than
    `cap`, each drawn between half of it and all of it (jitter: processes that failed together do not
    retry together)."""
    ceiling = min(cap, FIRST_BACKOFF * 2 ** min(max(failures, 1) - 1, 16))
    return rng.uniform(ceiling / 2, ceiling)


class IndexFollower(BackgroundThread):
    """Keeps the index at the chain head in a background thread (blocks written by anybody), taking
    the `indexer` lock for every batch, so that it never races the requests that index their own
    blocks (`IndexCoordinator.wait_indexed`) in this or another process. After a batch it looks
    again at once; when idle it polls the node every `poll_interval` seconds.

    On PostgreSQL every gateway process runs one, but only the holder of the `follower` lock
    (`ProcessLocks.try_keep`, on a connection of its own) follows: the others try to take it every
    `contend_seconds`, so when the holder dies (its connection closes, PostgreSQL frees the lock) or
    loses its connection, another process takes over within a few seconds. The role only saves
    work (one process polls the node): the `indexer` lock keeps two followers from racing anyway.
    After a failure it waits `follower_backoff`, at most `max_backoff` seconds."""

    thread_name = "credchain-index-follower"

    def __init__(
        self,
        coordinator: IndexCoordinator,
        poll_interval: float,
        *,
        contend_seconds: float = 2.0,
        max_backoff: float = 2.0,
    ) -> None:
        super().__init__()
        self._coordinator = coordinator
        self._poll_interval = poll_interval
        self._contend_seconds = contend_seconds
        self._max_backoff = max_backoff
        self._rng = random.Random()
        self._active = False

    @property
    def active(self) -> bool:
        """Whether this process follows the chain head now (it holds the follower role)."""
        return self._active

    def _run(self) -> None:
        try:
            self._follow()
        finally:
            self._active = False
            self._coordinator.locks.let_go(FOLLOWER_LOCK)  # another process takes over at once

    def _has_role(self) -> bool:
        """Whether this process holds the follower role (taking it if it is free); logs changes."""
        try:
            held = self._coordinator.locks.try_keep(FOLLOWER_LOCK)
        except Exception:
            if self._active:
                log.warning("index follower: lost the follower role's connection", exc_info=True)
            held = False
        if held != self._active:
            log.info("index follower: %s the follower role", "took" if held else "lost")
        self._active = held
        return held

    def _follow(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self._has_role():
                self._stop.wait(self._contend_seconds)
                continue
            try:
                outcome = self._coordinator.index_batch()
                failures = 0
            except TRANSIENT_ERRORS as exc:
                failures += 1
                log.warning("index follower: %s: %s; retrying", type(exc).__name__, exc)
                self._stop.wait(follower_backoff(failures, self._max_backoff, self._rng))
                continue
            except Exception:  # keep following: a bug in one batch must not stop the index for good
                log.exception("index follower: unexpected error; retrying")
                self._stop.wait(min(1.0, self._max_backoff))
                continue
            if outcome is Outcome.IDLE:
                self._stop.wait(self._poll_interval)
            elif outcome is None or outcome is Outcome.RETRY:  # a request is indexing, or try again
                self._stop.wait(min(0.05, self._poll_interval))
