"""The early-warning rules off the write's path, an operator's choice
(`CREDCHAIN_ALERTS_AFTER_COMMIT=true`, with the alert scheduler running). By default an index batch
evaluates the rules on what it touched in its own transaction, so an `alert.raised` is committed
with the ledger events that caused it; but a write answers once its block is indexed, so those
reads and writes (about 17 statements a batch) are on every write's path. With the option, after a
batch commits its scope (the obligors and members it touched) and its last block's time are added
to the process's `AlertBacklog`, and the scheduler's thread evaluates them (`evaluate_briefly`
within that scope, at the ledger's clock), the batches of each quarter second together. Measured
with `scripts/bench_api.py` (2 gateway workers on anvil, 2 cores): 30.9 -> 35.0 splits a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from service.alerts.hook import batch_scope, evaluate_alerts
from service.alerts.rules import Scope

if TYPE_CHECKING:
    from service.events.batch import AppliedBatch
    from service.indexer.store import IndexStore


class AlertBacklog:
    """What committed index batches touched and the rules have not yet been evaluated on: the union
    of their scopes and the latest of their block times. Thread-safe; `ready` is set while there is
    something to take."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._obligors: set[str] = set()
        self._members: set[str] = set()
        self._now = 0
        self.ready = threading.Event()

    def collect(self, applied: AppliedBatch) -> None:
        """`CommittedHook`: note the batch's scope (nothing if it touched no obligor or member)."""
        if not applied.events or not applied.block_times:
            return
        scope = batch_scope(applied)
        if not scope.obligors and not scope.members:
            return
        with self._lock:
            self._obligors |= scope.obligors or frozenset()
            self._members |= scope.members or frozenset()
            self._now = max(self._now, max(applied.block_times.values()))
            self.ready.set()

    def take(self) -> tuple[Scope, int] | None:
        """The scope to evaluate and the ledger time to evaluate it at, emptying the backlog; None
        if it is empty."""
        with self._lock:
            self.ready.clear()
            if not self._obligors and not self._members:
                return None
            taken = Scope(frozenset(self._obligors), frozenset(self._members)), self._now
            self._obligors.clear()
            self._members.clear()
            return taken

    def pending(self) -> bool:
        with self._lock:
            return bool(self._obligors or self._members)


def defer_batch_alerts(store: IndexStore, backlog: AlertBacklog) -> Callable[[], None]:
    """Take the rules out of `store`'s batch transaction and note each committed batch in `backlog`
    instead; returns the function that puts the store back as it was."""
    batch_hooks, committed_hooks = store.batch_hooks, store.committed_hooks
    store.batch_hooks = tuple(hook for hook in batch_hooks if hook is not evaluate_alerts)
    store.committed_hooks = (*committed_hooks, backlog.collect)

    def restore() -> None:
        store.batch_hooks, store.committed_hooks = batch_hooks, committed_hooks

    return restore
