"""The scheduler's evaluation (`evaluate_briefly`) takes the event sequence's lock only to write the
alerts: the node's figures are read before it, and a batch committed meanwhile is not overwritten by
stale findings. On SQLite and PostgreSQL (rows and figures from tests/alerts/test_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, update

from service.alerts import evaluator
from service.alerts.evaluator import evaluate_briefly
from service.alerts.rules import NOTES
from service.events.log import EventDraft, append_events, reserve
from tests.alerts.test_rules import DAY, NOW, OBLIGOR, alerts, event_types, note

NOW_AT = datetime.fromtimestamp(NOW, UTC)


def test_funds_are_read_while_another_transaction_can_take_the_sequence_lock(db: Engine) -> None:
    """An index batch appending events (under the same lock) commits while the balances are read."""
    note(db, 1, 700_000, maturity=NOW + 3 * DAY)
    committed: list[list[int]] = []

    def funds(address: str, currency: str) -> tuple[int, int]:
        with db.begin() as conn:  # would wait for ever (SQLite: fail) if the lock were held
            if db.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            committed.append(append_events(conn, [EventDraft("note.accepted", NOW_AT, {})]))
        return (100_000, 100_000)

    evaluate_briefly(db, NOW, funds=funds)
    assert committed == [[1]]
    [alert] = alerts(db, "funding_shortfall")
    assert alert["figures"]["shortfall"] == "600000"
    assert event_types(db) == ["note.accepted", "alert.raised"]


def test_a_payment_committed_while_the_rules_run_is_not_overwritten_by_stale_findings(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payment commits after the unlocked reading of the rules: under the lock they see the
    index moved and run again, so the shortfall they first found is not raised."""
    note(db, 1, 700_000, maturity=NOW + 3 * DAY)
    readings: list[int] = []
    original = evaluator.assess

    def assess_then_pay(conn: Connection, now: int, **kwargs: Any) -> evaluator.Assessment:
        assessment = original(conn, now, **kwargs)
        readings.append(len([f for _, _, _, found in assessment.parts for f in found]))
        if len(readings) == 2:  # the funds were read (1), the rules ran unlocked (2): a batch commits
            with db.begin() as other:
                reserve(other, 0)
                other.execute(update(NOTES).where(NOTES.c.id == 1).values(paid_amount=650_000))
                append_events(other, [EventDraft("payment.received", NOW_AT, {})])
        return assessment

    monkeypatch.setattr(evaluator, "assess", assess_then_pay)
    evaluate_briefly(db, NOW, funds=lambda address, currency: (100_000, 100_000))
    assert readings == [1, 1, 0]  # what funds to read, the unlocked findings, the locked ones
    assert alerts(db, "funding_shortfall") == []
    assert event_types(db) == ["payment.received"]


def test_nothing_committed_meanwhile_writes_the_first_findings_without_reading_again(db: Engine) -> None:
    note(db, 1, 700_000, maturity=NOW + 3 * DAY)
    calls: list[str] = []

    def funds(address: str, currency: str) -> tuple[int, int]:
        calls.append(address)
        return (100_000, 100_000)

    evaluate_briefly(db, NOW, funds=funds)
    assert calls == [OBLIGOR]  # once, before any transaction
    assert [a["figures"]["shortfall"] for a in alerts(db, "funding_shortfall")] == ["600000"]
