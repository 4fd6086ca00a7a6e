"""Alert thresholds: the platform's defaults (the operator's policy row, else `DEFAULTS`) and a
financier's overrides on top of them."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final

from sqlalchemy import Connection, Table, select

from service.db.alert_models import AlertPolicy

POLICIES: Table = AlertPolicy.__table__  # type: ignore[assignment]
PLATFORM: Final = "platform"
"""The `scope` of the platform's policy row."""


@dataclass(frozen=True)
class Policy:
    """Effective thresholds (ratios in basis points: 8000 = 80 %)."""

    utilisation_warning_bps: int = 8_000
    utilisation_critical_bps: int = 9_500
    shortfall_days: int = 7
    holder_concentration_bps: int = 8_000
    obligor_concentration_bps: int = 5_000
    max_tenor_days: int = 180
    velocity_holders: int = 5
    velocity_hours: int = 24
    block_offers_under_alert: bool = False
    buyer_indirect_exposure: int = 0
    """Evidence-backed face (minor units) owed by a buyer through its suppliers' receivables above
    which `buyer_indirect_exposure` alerts; 0: the rule is off."""


DEFAULTS: Final = Policy()
FIELDS: Final = tuple(f.name for f in fields(Policy))


def overrides_of(conn: Connection, scope: str) -> dict[str, int | bool]:
    """The values a policy row sets (its non-NULL columns); {} without a row."""
    row = conn.execute(select(POLICIES).where(POLICIES.c.scope == scope)).mappings().first()
    if row is None:
        return {}
    return {name: row[name] for name in FIELDS if row[name] is not None}


def platform_policy(conn: Connection) -> Policy:
    return replace(DEFAULTS, **overrides_of(conn, PLATFORM))  # type: ignore[arg-type]


def all_policies(conn: Connection) -> tuple[Policy, dict[str, Policy]]:
    """The platform's effective policy, and that of every financier with a policy row of its own
    (one query: the rules read them on every index batch)."""
    rows = {
        str(row["scope"]): {name: row[name] for name in FIELDS if row[name] is not None}
        for row in conn.execute(select(POLICIES)).mappings()
    }
    platform = replace(DEFAULTS, **rows.pop(PLATFORM, {}))
    return platform, {scope: replace(platform, **values) for scope, values in rows.items()}


def effective_policy(conn: Connection, financier: str | None) -> Policy:
    platform = platform_policy(conn)
    if financier is None:
        return platform
    return replace(platform, **overrides_of(conn, financier))  # type: ignore[arg-type]
