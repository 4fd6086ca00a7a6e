"""The index's batch hook of the early-warning rules: evaluated in the batch's own transaction, for
the obligors and members the batch touched only (the funding-shortfall rule, which reads token
balances on the chain, is left to `service.alerts.scheduler`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

from service.alerts.evaluator import evaluate
from service.alerts.rules import Scope

if TYPE_CHECKING:
    from service.indexer.store import AppliedBatch


def batch_scope(applied: AppliedBatch) -> Scope:
    """The obligors and members whose rows the batch touched (notes' obligors and holders too; the
    suppliers and buyers of evidence records and receivables)."""
    state = applied.state
    notes = list(state.notes.rows.values())
    obligors = {str(row["obligor"]) for row in notes} | {str(key) for key in state.credit.rows}
    members = {str(row["holder"]) for row in notes} | {str(key) for key in state.members.rows}
    # evidence: a revoked attestation concerns its supplier's receivables, a receivable its buyer
    evidence = [*state.evidence.rows.values(), *state.receivables.rows.values()]
    obligors |= {str(row["supplier"]) for row in evidence}
    members |= {str(row["buyer"]) for row in evidence}
    return Scope(frozenset(obligors), frozenset(members))


def evaluate_alerts(conn: Connection, applied: AppliedBatch) -> None:
    """`BatchHook`: re-evaluate the alerts the batch may have raised or cleared, at its last block's
    time."""
    if not applied.events or not applied.block_times:
        return
    scope = batch_scope(applied)
    if not scope.obligors and not scope.members:
        return
    evaluate(conn, max(applied.block_times.values()), scope=scope)
