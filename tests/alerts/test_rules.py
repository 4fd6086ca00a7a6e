"""Each early-warning rule on SQLite and on PostgreSQL (the `empty_db` fixture, migrated): index rows
written as the indexer writes them, figures computed by hand, raise -> no duplicate -> resolve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from service.alerts.evaluator import ALERTS, evaluate
from service.alerts.policy import POLICIES
from service.alerts.rules import CREDIT, EVENTS, MEMBERS, NOTES
from service.db.event_models import DomainEvent
from service.domain import MemberStatus, NoteStatus

DAY = 86_400
NOW = 1_900_000_000
OBLIGOR = "0x" + "0b" * 20
S1, S2, BANK = "0x" + "51" * 20, "0x" + "52" * 20, "0x" + "ba" * 20
LEDGER = "0x" + "1e" * 20


def note(
    engine: Engine,
    note_id: int,
    amount: int,
    *,
    holder: str = S1,
    maturity: int = NOW + 30 * DAY,
    **extra: Any,
) -> None:
    row = {
        "id": note_id,
        "root_id": extra.pop("root_id", note_id),
        "parent_id": extra.pop("parent_id", None),
        "depth": 0,
        "holder": holder,
        "obligor": extra.pop("obligor", OBLIGOR),
        "amount": amount,
        "currency": "USD",
        "maturity": maturity,
        "document_hash": "0x" + f"{note_id:064x}",
        "status": int(extra.pop("status", NoteStatus.ACTIVE)),
        "frozen": False,
        "created_block": 1,
        "created_tx": "0x" + "00" * 32,
        "updated_block": 1,
        "paid_amount": extra.pop("paid", 0),
        "written_off_amount": 0,
    }
    with engine.begin() as conn:
        conn.execute(insert(NOTES).values(**row))


def credit(engine: Engine, limit: int, outstanding: int) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(CREDIT)
            .where(CREDIT.c.obligor == OBLIGOR)
            .values(credit_limit=limit, outstanding=outstanding)
        )
        if done.rowcount == 0:
            conn.execute(
                insert(CREDIT).values(
                    obligor=OBLIGOR, credit_limit=limit, outstanding=outstanding, updated_block=1
                )
            )


def run(engine: Engine, now: int = NOW, funds: Any = None) -> None:
    with engine.begin() as conn:
        evaluate(conn, now, funds=funds)


def alerts(engine: Engine, rule: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(ALERTS).where(ALERTS.c.rule == rule).order_by(ALERTS.c.id)
            ).mappings()
        ]


def event_types(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(DomainEvent.type).order_by(DomainEvent.seq)))


def test_utilisation_warning_at_80_percent_with_exact_figures(db: Engine) -> None:
    credit(db, 1_000_000, 812_345)  # 812_345 * 10_000 // 1_000_000 = 8_123 bps
    run(db)
    [alert] = alerts(db, "utilisation")
    assert (alert["severity"], alert["status"], alert["subject"]) == ("warning", "open", OBLIGOR)
    assert alert["figures"] == {
        "credit_limit": "1000000",
        "outstanding": "812345",
        "utilisation_bps": 8123,
        "threshold_bps": 8000,
    }
    assert event_types(db) == ["alert.raised"]


def test_utilisation_rising_to_95_percent_replaces_the_warning_by_a_critical_alert(db: Engine) -> None:
    credit(db, 1_000_000, 800_000)
    run(db)
    credit(db, 1_000_000, 950_000)
    run(db)
    warning, critical = alerts(db, "utilisation")
    assert (warning["severity"], warning["status"]) == ("warning", "resolved")
    assert (critical["severity"], critical["status"], critical["figures"]["utilisation_bps"]) == (
        "critical",
        "open",
        9500,
    )


def test_utilisation_is_raised_once_and_resolves_when_it_drops(db: Engine) -> None:
    credit(db, 1_000_000, 799_999)  # 7_999 bps: below
    run(db)
    assert alerts(db, "utilisation") == []
    credit(db, 1_000_000, 900_000)
    run(db)
    run(db)
    assert len(alerts(db, "utilisation")) == 1
    credit(db, 1_000_000, 100_000)
    run(db)
    [alert] = alerts(db, "utilisation")
    assert alert["status"] == "resolved" and alert["resolved_at"] is not None
    assert event_types(db) == ["alert.raised", "alert.resolved"]


def test_overdue_after_maturity_plus_grace_with_days_past_due(db: Engine) -> None:
    note(db, 1, 500_000, maturity=NOW - 8 * DAY - 3_600, paid=120_000)
    run(db, NOW - 8 * DAY - 3_600 + 5 * DAY)  # exactly maturity + grace: not yet
    assert alerts(db, "overdue") == []
    run(db)
    [alert] = alerts(db, "overdue")
    assert alert["subject"] == "1" and alert["obligor"] == OBLIGOR
    assert alert["figures"]["unpaid"] == "380000"
    assert alert["figures"]["days_past_due"] == 8  # (8 days + 1 hour) // 1 day
    with db.begin() as conn:
        conn.execute(
            update(NOTES).where(NOTES.c.id == 1).values(paid_amount=500_000, status=int(NoteStatus.SETTLED))
        )
    run(db)
    assert alerts(db, "overdue")[0]["status"] == "resolved"


def test_funding_shortfall_counts_notes_within_the_window_against_balance_and_allowance(db: Engine) -> None:
    note(db, 1, 300_000, maturity=NOW + 3 * DAY)
    note(db, 2, 200_000, maturity=NOW + 6 * DAY, paid=50_000)
    note(db, 3, 900_000, maturity=NOW + 8 * DAY)  # outside the 7 days
    accounts = {(OBLIGOR, "USD"): (1_000_000, 400_000)}
    run(db, funds=lambda address, currency: accounts.get((address, currency)))
    [alert] = alerts(db, "funding_shortfall")
    assert alert["figures"] == {
        "currency": "USD",
        "window_days": 7,
        "notes": 2,
        "due": "450000",  # 300_000 + (200_000 - 50_000)
        "balance": "1000000",
        "allowance": "400000",
        "available": "400000",
        "shortfall": "50000",
    }
    accounts[(OBLIGOR, "USD")] = (1_000_000, 450_000)
    run(db, funds=lambda address, currency: accounts.get((address, currency)))
    assert alerts(db, "funding_shortfall")[0]["status"] == "resolved"


def test_funding_shortfall_is_left_alone_without_balances(db: Engine) -> None:
    note(db, 1, 300_000, maturity=NOW + 3 * DAY)
    run(db, funds=lambda address, currency: (0, 0))
    run(db)  # the batch hook's evaluation: no balances, no verdict
    assert [a["status"] for a in alerts(db, "funding_shortfall")] == ["open"]


def test_holder_concentration_over_80_percent_of_an_obligors_live_amount(db: Engine) -> None:
    note(db, 1, 850_000, holder=S1)
    note(db, 2, 150_000, holder=S2)
    run(db)
    [alert] = alerts(db, "holder_concentration")
    assert alert["figures"]["share_bps"] == 8500 and alert["figures"]["holder"] == S1
    assert alert["figures"]["obligor_live"] == "1000000"
    note(db, 3, 500_000, holder=S2)  # S1: 850_000 / 1_500_000 = 5_666 bps
    run(db)
    assert alerts(db, "holder_concentration")[0]["status"] == "resolved"


def test_obligor_concentration_is_the_financiers_own_alert(db: Engine) -> None:
    other = "0x" + "0c" * 20
    note(db, 1, 700_000, holder=BANK)
    note(db, 2, 300_000, holder=BANK, obligor=other)
    run(db)
    [alert] = alerts(db, "obligor_concentration")
    assert alert["owner"] == BANK and alert["subject"] == OBLIGOR
    assert (alert["figures"]["share_bps"], alert["figures"]["holdings"]) == (7000, "1000000")
    with db.connect() as conn:
        recipients = list(conn.scalars(select(DomainEvent.recipient)))
    assert recipients == [BANK]


def test_tenor_over_180_days_at_issuance(db: Engine) -> None:
    note(db, 1, 1_000, maturity=NOW + 181 * DAY)
    note(db, 2, 1_000, maturity=NOW + 180 * DAY)
    with db.begin() as conn:
        for note_id in (1, 2):
            conn.execute(
                insert(EVENTS).values(
                    block_number=1,
                    block_hash="0x" + "00" * 32,
                    block_time=NOW,
                    tx_hash="0x" + "00" * 32,
                    log_index=note_id,
                    contract=LEDGER,
                    name="NoteIssued",
                    note_id=note_id,
                    root_id=note_id,
                    args={"holder": S1},
                )
            )
    run(db)
    [alert] = alerts(db, "tenor")
    assert alert["subject"] == "1" and alert["figures"]["tenor_days"] == 181


def test_suspended_member_with_live_notes(db: Engine) -> None:
    note(db, 1, 70_000, holder=S1)
    note(db, 2, 30_000, holder=S1, status=NoteStatus.PENDING)
    with db.begin() as conn:
        conn.execute(
            update(MEMBERS).where(MEMBERS.c.address == S1).values(status=int(MemberStatus.SUSPENDED))
        )
    run(db)
    [alert] = alerts(db, "suspended_holder")
    assert alert["figures"] == {"live_notes": 2, "live_amount": "100000"}
    with db.begin() as conn:
        conn.execute(update(MEMBERS).where(MEMBERS.c.address == S1).values(status=int(MemberStatus.ACTIVE)))
    run(db)
    assert alerts(db, "suspended_holder")[0]["status"] == "resolved"


def test_velocity_more_than_5_holders_within_24_hours(db: Engine) -> None:
    note(db, 1, 1_000)
    holders = ["0x" + f"{i:02x}" * 20 for i in range(1, 7)]  # 6 distinct holders
    with db.begin() as conn:
        for i, holder in enumerate(holders):
            conn.execute(
                insert(EVENTS).values(
                    block_number=i + 1,
                    block_hash="0x" + "00" * 32,
                    block_time=NOW - 3_600 * (i + 1),
                    tx_hash="0x" + "00" * 32,
                    log_index=i,
                    contract=LEDGER,
                    name="NoteTransferred",
                    note_id=1,
                    root_id=1,
                    args={"to": holder},
                )
            )
    run(db)
    [alert] = alerts(db, "velocity")
    assert alert["figures"] == {"holders": 6, "window_hours": 24, "max_holders": 5}
    run(db, NOW + 2 * 3_600)  # the oldest transfer is 8 h old: still 6 holders in 24 h
    assert alerts(db, "velocity")[0]["status"] == "open"
    run(db, NOW + 20 * 3_600)  # the window starts 4 h before NOW: 4 holders left
    assert alerts(db, "velocity")[0]["status"] == "resolved"


def test_a_financiers_policy_gives_it_its_own_alerts_with_its_thresholds(db: Engine) -> None:
    credit(db, 1_000_000, 700_000)  # 7_000 bps: under the platform's 8_000
    note(db, 1, 10_000, holder=BANK)
    with db.begin() as conn:
        conn.execute(
            insert(POLICIES).values(
                scope=BANK,
                utilisation_warning_bps=6_000,
                updated_at=datetime.now(UTC),
                updated_by="bank",
            )
        )
    run(db)
    [alert] = alerts(db, "utilisation")
    assert alert["owner"] == BANK and alert["figures"]["threshold_bps"] == 6000


def test_every_rule_name_fits_the_alerts_rule_column() -> None:
    from service.alerts.rules import RULES
    from service.db.alert_models import Alert

    width = Alert.__table__.c.rule.type.length
    assert width is not None
    assert [rule for rule in RULES if len(rule) > width] == []
