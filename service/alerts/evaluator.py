"""Turning the rules' findings into alerts: raise what newly holds, update the figures of what
still holds, resolve what no longer does, each raise and resolve with its domain event
(`alert.raised` / `alert.resolved`, appended in the same transaction).

Who sees an alert's events: its owner (`recipient` = the financier whose policy raised it); a platform
alert (owner NULL) has no recipient and no subject in the event log, so only the auditor and the
operator see it (`service.api.events.visibility`): an early warning about an obligor is the
platform's and its financiers' business, not the obligor's.

Evaluators serialise on the domain event sequence row (the index's batch hook and the scheduler may
evaluate at once on PostgreSQL): whoever writes alerts sees the alerts the other committed. The
scheduler holds that lock only to compare and write (`evaluate_briefly`): the node's figures and the
rules' reading come before, so the indexer's batches (which append under the same lock) never wait
for a node round-trip.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, insert, or_, select, update

from service.alerts.policy import all_policies
from service.alerts.rules import (
    DUPLICATE_DOCUMENT,
    EVERYTHING,
    FINANCIER_RULES,
    FUNDED_RULES,
    PLATFORM_RULES,
    Finding,
    Funds,
    RuleInput,
    Scope,
    financier_obligors,
    financiers,
    obligor_concentration,
)
from service.db.alert_models import Alert
from service.db.models import Checkpoint
from service.events.log import SEQUENCE, SEQUENCE_NAME, EventDraft, append_events, reserve

ALERTS: Table = Alert.__table__  # type: ignore[assignment]
CHECKPOINTS: Table = Checkpoint.__table__  # type: ignore[assignment]
LIVE_STATUSES = ("open", "acknowledged")
log = logging.getLogger("credchain.alerts")


@dataclass
class Outcome:
    raised: int = 0
    resolved: int = 0
    updated: int = 0


def alert_data(row: Any) -> dict[str, Any]:
    """An alert as its domain events carry it (and the API shows it)."""
    return {
        "id": str(row["id"]),
        "rule": row["rule"],
        "severity": row["severity"],
        "status": row["status"],
        "owner": row["owner"],
        "subject_kind": row["subject_kind"],
        "subject": row["subject"],
        "obligor": row["obligor"],
        "figures": row["figures"],
    }


def _event(kind: str, row: Any, when: datetime) -> EventDraft:
    note_id = int(row["subject"]) if row["subject_kind"] == "note" else None
    return EventDraft(
        type=kind,
        occurred_at=when,
        data=alert_data(row),
        alert_id=int(row["id"]),
        note_id=note_id,
        recipient=row["owner"],
    )


def raise_alert(conn: Connection, owner: str | None, finding: Finding, when: datetime) -> dict[str, Any]:
    values = {
        "rule": finding.rule,
        "severity": finding.severity,
        "owner": owner,
        "subject_kind": finding.subject_kind,
        "subject": finding.subject,
        "obligor": finding.obligor,
        "key": finding.key(owner),
        "status": "open",
        "figures": finding.figures,
        "raised_at": when,
        "updated_at": when,
    }
    alert_id = conn.execute(insert(ALERTS).values(**values).returning(ALERTS.c.id)).scalar_one()
    row = {**values, "id": alert_id}
    append_events(conn, [_event("alert.raised", row, when)])
    log.info(
        "alert %s raised: %s on %s (owner %s)", alert_id, finding.rule, finding.subject, owner or "platform"
    )
    return row


def resolve_alert(conn: Connection, row: Any, when: datetime) -> None:
    conn.execute(update(ALERTS).where(ALERTS.c.id == row["id"]).values(status="resolved", resolved_at=when))
    append_events(conn, [_event("alert.resolved", {**row, "status": "resolved"}, when)])
    log.info("alert %s resolved: %s on %s", row["id"], row["rule"], row["subject"])


def reconcile(
    conn: Connection,
    owner: str | None,
    rules: Iterable[str],
    scope: Scope,
    findings: Sequence[Finding],
    when: datetime,
) -> Outcome:
    """Make the live alerts of `owner` by `rules` within `scope` match `findings`."""
    outcome = Outcome()
    stmt = select(ALERTS).where(
        ALERTS.c.owner.is_(None) if owner is None else ALERTS.c.owner == owner,
        ALERTS.c.rule.in_(list(rules)),
        ALERTS.c.status.in_(LIVE_STATUSES),
    )
    if scope.obligors is not None:
        by_member = and_(ALERTS.c.subject_kind == "member", ALERTS.c.subject.in_(scope.members or ()))
        stmt = stmt.where(or_(ALERTS.c.obligor.in_(scope.obligors), by_member))
    live = {row["key"]: row for row in conn.execute(stmt).mappings()}
    for finding in findings:
        key = finding.key(owner)
        current = live.pop(key, None)
        if current is not None and current["severity"] != finding.severity:
            resolve_alert(conn, current, when)
            outcome.resolved += 1
            current = None
        if current is None:
            raise_alert(conn, owner, finding, when)
            outcome.raised += 1
        elif current["figures"] != finding.figures:
            conn.execute(
                update(ALERTS)
                .where(ALERTS.c.id == current["id"])
                .values(figures=finding.figures, updated_at=when)
            )
            outcome.updated += 1
    for row in live.values():
        resolve_alert(conn, row, when)
        outcome.resolved += 1
    return outcome


def _add(total: Outcome, part: Outcome) -> None:
    total.raised += part.raised
    total.resolved += part.resolved
    total.updated += part.updated


@dataclass(frozen=True)
class Assessment:
    """What the rules found, before any alert is written: per owner, the rules it ran within a
    scope and their findings; `version` is what the index and the event log stood at when the
    reading started (`index_version`)."""

    version: tuple[int, ...]
    parts: list[tuple[str | None, list[str], Scope, list[Finding]]]


def index_version(conn: Connection) -> tuple[int, ...]:
    """The last domain event sequence number handed out and the indexer's checkpoints: any commit of
    an index batch or of an alert changes it."""
    last = conn.scalar(select(SEQUENCE.c.last).where(SEQUENCE.c.name == SEQUENCE_NAME))
    blocks = conn.execute(select(CHECKPOINTS.c.last_block).order_by(CHECKPOINTS.c.contract)).scalars()
    return (int(last or 0), *(int(block) for block in blocks))


def assess(
    conn: Connection, now: int, *, scope: Scope = EVERYTHING, funds: Funds | None = None
) -> Assessment:
    """Run every rule at ledger time `now` within `scope` (reads only; no lock): the platform's rules,
    the rules of each financier with a policy of its own, and each financier's concentration on one
    obligor. Without `funds` the funding-shortfall rule is left out."""
    version = index_version(conn)
    parts: list[tuple[str | None, list[str], Scope, list[Finding]]] = []

    def run(owner: str | None, rules: dict[str, Any], inp: RuleInput) -> None:
        names = [name for name in rules if funds is not None or name not in FUNDED_RULES]
        parts.append((owner, names, scope, [finding for name in names for finding in rules[name](inp)]))

    platform, policies = all_policies(conn)
    run(None, PLATFORM_RULES, RuleInput(conn, platform, now, scope, funds))
    for financier, policy in policies.items():
        inp = RuleInput(conn, policy, now, scope, funds, obligors=financier_obligors(conn, financier))
        run(financier, FINANCIER_RULES, inp)
    for financier in financiers(conn):
        if scope.members is not None and financier not in scope.members:
            continue
        inp = RuleInput(conn, policies.get(financier, platform), now)
        parts.append(
            (financier, ["obligor_concentration"], EVERYTHING, obligor_concentration(inp, financier))
        )
    return Assessment(version, parts)


def apply(conn: Connection, assessment: Assessment) -> Outcome:
    """Make the live alerts match `assessment` (raise, update, resolve, with their events), in the
    caller's transaction, which must hold the sequence row lock (`reserve(conn, 0)`)."""
    when = datetime.now(UTC)
    total = Outcome()
    for owner, rules, scope, findings in assessment.parts:
        _add(total, reconcile(conn, owner, rules, scope, findings, when))
    return total


def evaluate(conn: Connection, now: int, *, scope: Scope = EVERYTHING, funds: Funds | None = None) -> Outcome:
    """Evaluate every rule at ledger time `now` within `scope` under the sequence row lock, in the
    caller's transaction (the index's batch hook, whose transaction holds the lock anyway). `funds`
    is called under the lock: give it figures read beforehand, not a node."""
    reserve(conn, 0)  # the sequence row lock: one evaluator at a time
    return apply(conn, assess(conn, now, scope=scope, funds=funds))


class _Wanted:
    """A `Funds` that notes which (address, currency) the rules ask for and answers nothing yet."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def __call__(self, address: str, currency: str) -> tuple[int, int] | None:
        self.pairs.append((address, currency))
        return None


def read_funds(engine: Engine, now: int, funds: Funds) -> Funds:
    """The figures the rules will ask `funds` for, read up front: the rules run once in a read-only
    transaction to learn which (address, currency) they need, then `funds` (the node) is asked with
    no transaction open. A pair needed later that was not read (a batch committed since) falls back
    to `funds`."""
    wanted = _Wanted()
    with engine.connect() as conn:
        assess(conn, now, funds=wanted)
        conn.rollback()
    known = {pair: funds(*pair) for pair in dict.fromkeys(wanted.pairs)}

    def read(address: str, currency: str) -> tuple[int, int] | None:
        if (address, currency) in known:
            return known[(address, currency)]
        return funds(address, currency)

    return read


def evaluate_briefly(engine: Engine, now: int, *, funds: Funds | None = None) -> Outcome:
    """Evaluate every rule with the sequence row lock held only to compare and write the alerts:
    the node's figures are read first with no transaction open (`read_funds`), the rules run in a
    read-only transaction, and then, under the lock, if an index batch or another evaluator
    committed since (`index_version`), they run again on what is committed now (with the figures
    already read), and the alerts are written. The indexer's batches, which take the same lock, wait
    only for that last step."""
    if funds is not None:
        funds = read_funds(engine, now, funds)
    with engine.connect() as conn:
        assessment = assess(conn, now, funds=funds)
        conn.rollback()
    with engine.begin() as conn:
        reserve(conn, 0)
        if index_version(conn) != assessment.version:
            assessment = assess(conn, now, funds=funds)
        return apply(conn, assessment)


def record_duplicate_document(
    conn: Connection, obligor: str, document_hash: str, used_by: int, to: str, amount: int
) -> int:
    """(6) The gateway refused an issuance for a document hash that already backs a live note: a
    platform alert on the document (repeated attempts count up on the same live alert). It is not
    resolved by any condition clearing: acknowledging it resolves it."""
    reserve(conn, 0)
    when = datetime.now(UTC)
    finding = Finding(
        DUPLICATE_DOCUMENT,
        "critical",
        "document",
        document_hash,
        {"obligor": obligor, "note_id": str(used_by), "to": to, "amount": str(amount), "attempts": 1},
        obligor=obligor,
    )
    current = (
        conn.execute(
            select(ALERTS).where(ALERTS.c.key == finding.key(None), ALERTS.c.status.in_(LIVE_STATUSES))
        )
        .mappings()
        .first()
    )
    if current is None:
        return int(raise_alert(conn, None, finding, when)["id"])
    figures = {**finding.figures, "attempts": int(current["figures"].get("attempts", 1)) + 1}
    conn.execute(update(ALERTS).where(ALERTS.c.id == current["id"]).values(figures=figures, updated_at=when))
    return int(current["id"])
