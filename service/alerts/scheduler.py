"""The early-warning rules as time passes: every `CREDCHAIN_ALERT_INTERVAL_SECONDS`, all the rules
are evaluated at the ledger's clock (the latest block's time: on the embedded chain, the dev clock),
with the obligors' settlement-token balances and allowances read from the chain, so maturities that
approach or pass raise their alerts without any new block being indexed."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from service.alerts.backlog import AlertBacklog
from service.alerts.evaluator import Outcome, evaluate_briefly
from service.alerts.rules import Funds
from service.api.receivables.service import auto_approve_pending
from service.background import BackgroundThread

if TYPE_CHECKING:
    from service.api.context import AppContext

log = logging.getLogger("credchain.alerts")
BACKLOG_PAUSE_SECONDS = 0.25
"""After evaluating the index's latest batches, the scheduler lets this long pass before it takes the
next ones: an alert follows its batch by at most about this much under load."""


def chain_funds(context: AppContext) -> Funds:
    """Token balance and ledger allowance of an address, read from the chain (once per evaluation)."""
    seen: dict[tuple[str, str], tuple[int, int] | None] = {}

    def funds(address: str, currency: str) -> tuple[int, int] | None:
        if (address, currency) not in seen:
            token = context.settlement_token(currency)
            seen[(address, currency)] = (
                None
                if token is None
                else (token.balance_of(address), token.allowance(address, context.ledger.address))
            )
        return seen[(address, currency)]

    return funds


def evaluate_now(context: AppContext) -> Outcome:
    """Evaluate every rule once, at the ledger's clock: the clock and the balances are read from the
    node before the transaction that takes the event sequence's lock (`evaluate_briefly`)."""
    return evaluate_briefly(context.engine, context.chain_time(), funds=chain_funds(context))


class AlertScheduler(BackgroundThread):
    """Evaluates the rules every `interval` seconds in one background thread of the gateway, then
    sweeps the receivables auto-approval has not decided on yet; with a `backlog`, it also evaluates
    at once, within their scope, the index batches committed since it last looked
    (`service.alerts.backlog`)."""

    thread_name = "credchain-alerts"

    def __init__(
        self, context: AppContext, interval: float | None = None, *, backlog: AlertBacklog | None = None
    ) -> None:
        super().__init__()
        self._context = context
        self._interval = interval if interval is not None else context.settings.alert_interval_seconds
        self._backlog = backlog

    def _stopping(self) -> None:
        if self._backlog is not None:
            self._backlog.ready.set()

    def _run(self) -> None:
        due = time.monotonic() + self._interval
        while not self._stop.is_set():
            remaining = max(due - time.monotonic(), 0.0)
            if self._backlog is None:
                self._stop.wait(remaining)
            else:
                self._backlog.ready.wait(remaining)
            if self._evaluate_backlog():
                # the batches of the next moment are evaluated together: under a steady write load
                # a few evaluations a second, not one per batch (each costs the database and a core)
                self._stop.wait(BACKLOG_PAUSE_SECONDS)
            if self._stop.is_set():
                self._evaluate_backlog()
                return
            if time.monotonic() >= due:
                self._round()
                due = time.monotonic() + self._interval

    def _evaluate_backlog(self) -> bool:
        """Evaluate the backlog's scope (if any); whether there was one."""
        taken = self._backlog.take() if self._backlog is not None else None
        if taken is None:
            return False
        scope, batch_time = taken
        try:  # at the ledger's clock now, never before an evaluation of the clock's latest time
            now = max(batch_time, self._context.chain_time())
        except Exception:  # the node away: the batches' own time
            now = batch_time
        try:
            evaluate_briefly(self._context.engine, now, scope=scope)
        except Exception:  # the database away: the next full round evaluates everything anyway
            log.exception("alerts: evaluation of the index's latest batches failed")
        return True

    def _round(self) -> None:
        try:
            evaluate_now(self._context)
        except Exception:  # the node or the database away: the next round tries again
            log.exception("alerts: evaluation failed")
        try:  # evidence-backed receivables no origination answer offered on
            auto_approve_pending(self._context)
        except Exception:
            log.exception("receivables: auto-approval sweep failed")
