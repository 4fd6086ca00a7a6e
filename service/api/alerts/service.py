"""Alert use cases: acknowledging, the closed loop on discount offers, reading and writing policies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update

from service.alerts.evaluator import ALERTS, LIVE_STATUSES, alert_data, resolve_alert
from service.alerts.policy import FIELDS, PLATFORM, POLICIES, effective_policy
from service.alerts.rules import CLOSED_LOOP_RULES, DUPLICATE_DOCUMENT
from service.api.alerts.schemas import AlertOut, AlertPage
from service.api.auth import sees_everything
from service.api.context import AppContext
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember
from service.domain import OPERATOR


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts a listing wants (every field optional, each checked by the caller)."""

    status: str | None = None
    rule: str | None = None
    severity: str | None = None
    subject: str | None = None


def alert_out(row: Any) -> AlertOut:
    return AlertOut.model_validate({**dict(row), "id": str(row["id"])})


def visible_alert(conn: Connection, member: ApiMember, alert_id: int) -> dict[str, Any]:
    """The alert, if `member` owns it (auditor and operator: any); 404 otherwise."""
    stmt = select(ALERTS).where(ALERTS.c.id == alert_id)
    if not sees_everything(member):
        stmt = stmt.where(ALERTS.c.owner == member.address)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise ProblemError(404, "not-found", "Not found", f"alert {alert_id} does not exist or is not yours")
    return dict(row)


def find_alerts(
    context: AppContext, member: ApiMember, wanted: AlertFilter, *, cursor: int | None = None, limit: int = 50
) -> AlertPage:
    """The alerts `member` owns (auditor and operator: every alert, the platform's too), by id,
    `limit` after `cursor`."""
    stmt = select(ALERTS).order_by(ALERTS.c.id).limit(limit + 1)
    if wanted.status is not None:
        stmt = stmt.where(ALERTS.c.status == wanted.status)
    if wanted.rule is not None:
        stmt = stmt.where(ALERTS.c.rule == wanted.rule)
    if wanted.severity is not None:
        stmt = stmt.where(ALERTS.c.severity == wanted.severity)
    if wanted.subject is not None:
        subject = wanted.subject
        stmt = stmt.where(ALERTS.c.subject == (subject.lower() if subject.startswith("0x") else subject))
    if cursor is not None:
        stmt = stmt.where(ALERTS.c.id > cursor)
    if not sees_everything(member):
        stmt = stmt.where(ALERTS.c.owner == member.address)
    with context.engine.connect() as conn:
        rows = list(conn.execute(stmt).mappings())
    more = len(rows) > limit
    items = [alert_out(row) for row in rows[:limit]]
    return AlertPage(items=items, next_cursor=items[-1].id if more and items else None)


def alert_of(context: AppContext, member: ApiMember, alert_id: int) -> AlertOut:
    with context.engine.connect() as conn:
        return alert_out(visible_alert(conn, member, alert_id))


def acknowledge_alert(context: AppContext, member: ApiMember, alert_id: int) -> AlertOut:
    """open -> acknowledged, by its owner (platform alerts: the operator); see `acknowledge`."""
    with context.engine.begin() as conn:
        alert = visible_alert(conn, member, alert_id)
        if alert["owner"] is None and OPERATOR not in member.role_names:
            raise ProblemError(
                403,
                "forbidden",
                "Your roles do not allow this",
                "platform alerts are acknowledged by the operator",
            )
        return alert_out(acknowledge(conn, alert, member.id))


def acknowledge(conn: Connection, alert: dict[str, Any], member_id: str) -> dict[str, Any]:
    """open -> acknowledged (an acknowledged alert stays so; a resolved one is a 409). A
    double-financing alert has no condition to clear: acknowledging it resolves it."""
    if alert["status"] == "resolved":
        raise ProblemError(409, "alert-resolved", "The alert is resolved", f"alert {alert['id']} is resolved")
    now = datetime.now(UTC)
    if alert["status"] == "open":
        values = {"status": "acknowledged", "acknowledged_at": now, "acknowledged_by": member_id}
        conn.execute(update(ALERTS).where(ALERTS.c.id == alert["id"]).values(**values))
        alert = {**alert, **values}
    if alert["rule"] == DUPLICATE_DOCUMENT:
        resolve_alert(conn, alert, now)
        alert = {**alert, "status": "resolved", "resolved_at": now}
    return alert


def require_no_blocking_alert(conn: Connection, financier: str, obligor: str) -> None:
    """The closed loop: with the financier's `block_offers_under_alert`, a live funding-shortfall or
    overdue alert on the obligor (the platform's or the financier's own) refuses its offer."""
    if not effective_policy(conn, financier).block_offers_under_alert:
        return
    alert = (
        conn.execute(
            select(ALERTS)
            .where(
                ALERTS.c.obligor == obligor,
                ALERTS.c.rule.in_(CLOSED_LOOP_RULES),
                ALERTS.c.status.in_(LIVE_STATUSES),
                or_(ALERTS.c.owner.is_(None), ALERTS.c.owner == financier),
            )
            .order_by(ALERTS.c.id)
        )
        .mappings()
        .first()
    )
    if alert is None:
        return
    data = alert_data(alert)
    raise ProblemError(
        409,
        "obligor-under-alert",
        "The obligor is under an alert",
        f"obligor {obligor} has a live {alert['rule']} alert {alert['id']}: your alert policy refuses new "
        "discount offers on it until the alert is resolved or you set block_offers_under_alert to false",
        alert={
            "id": data["id"],
            "rule": data["rule"],
            "severity": data["severity"],
            "figures": data["figures"],
        },
    )


def policy_row(conn: Connection, scope: str) -> dict[str, Any]:
    row = conn.execute(select(POLICIES).where(POLICIES.c.scope == scope)).mappings().first()
    return {} if row is None else {name: row[name] for name in FIELDS}


def write_policy(conn: Connection, scope: str, values: dict[str, Any], member_id: str) -> None:
    """Replace the policy row of `scope` (the fields not given: NULL, i.e. inherited)."""
    row = {name: values.get(name) for name in FIELDS}
    row.update(updated_at=datetime.now(UTC), updated_by=member_id)
    done = conn.execute(update(POLICIES).where(POLICIES.c.scope == scope).values(**row))
    if done.rowcount == 0:
        conn.execute(POLICIES.insert().values(scope=scope, **row))


__all__ = ["PLATFORM", "acknowledge", "policy_row", "require_no_blocking_alert", "write_policy"]
