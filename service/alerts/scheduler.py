"""The early-warning rules as time passes: every `CREDCHAIN_ALERT_INTERVAL_SECONDS`, all the rules
are evaluated at the ledger's clock (the latest block's time: on the embedded chain, the dev clock),
with the obligors' settlement-token balances and allowances read from the chain, so maturities that
approach or pass raise their alerts without any new block being indexed."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from service.alerts.evaluator import Outcome, evaluate_briefly
from service.alerts.rules import Funds
from service.api.receivables.service import auto_approve_pending
from service.background import BackgroundThread

if TYPE_CHECKING:
    from service.api.context import AppContext

log = logging.getLogger("credchain.alerts")


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
    sweeps the receivables auto-approval has not decided on yet."""

    thread_name = "credchain-alerts"

    def __init__(self, context: AppContext, interval: float | None = None) -> None:
        super().__init__()
        self._context = context
        self._interval = interval if interval is not None else context.settings.alert_interval_seconds

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                evaluate_now(self._context)
            except Exception:  # the node or the database away: the next round tries again
                log.exception("alerts: evaluation failed")
            try:  # evidence-backed receivables no origination answer offered on
                auto_approve_pending(self._context)
            except Exception:
                log.exception("receivables: auto-approval sweep failed")
