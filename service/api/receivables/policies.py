"""Financiers' policies for evidence-backed receivables: read and replace (`receivable_policies`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Table, select, update

from service.db.receivable_models import ReceivablePolicy
from service.receivables.policy import FinancingPolicy, RateBand

POLICIES: Table = ReceivablePolicy.__table__  # type: ignore[assignment]


def read_policy(conn: Connection, financier: str) -> tuple[FinancingPolicy, datetime] | None:
    """The policy of `financier` and when it was set; None without one."""
    row = conn.execute(select(POLICIES).where(POLICIES.c.financier == financier)).mappings().first()
    if row is None:
        return None
    return _policy(row), row["updated_at"]


def _policy(row: object) -> FinancingPolicy:
    r = dict(row)  # type: ignore[call-overload]
    return FinancingPolicy(
        min_score=r["min_score"],
        min_attesters=r["min_attesters"],
        four_way_match_required=r["four_way_match_required"],
        advance_rate_bps=r["advance_rate_bps"],
        rate_bands=tuple(RateBand(int(b["min_score"]), int(b["annual_rate_bps"])) for b in r["rate_bands"]),
        max_exposure_per_supplier=int(r["max_exposure_per_supplier"]),
        auto_approve=r["auto_approve"],
        offer_validity_seconds=r["offer_validity_seconds"],
    )


def auto_approving(conn: Connection) -> dict[str, FinancingPolicy]:
    """Every financier whose policy has auto-approval on, by address."""
    rows = conn.execute(select(POLICIES).where(POLICIES.c.auto_approve.is_(True))).mappings()
    return {row["financier"]: _policy(row) for row in rows}


def write_policy(conn: Connection, financier: str, policy: FinancingPolicy, member_id: str) -> datetime:
    """Replace the policy of `financier`; when it was written."""
    now = datetime.now(UTC)
    values = {
        "min_score": policy.min_score,
        "min_attesters": policy.min_attesters,
        "four_way_match_required": policy.four_way_match_required,
        "advance_rate_bps": policy.advance_rate_bps,
        "rate_bands": [
            {"min_score": b.min_score, "annual_rate_bps": b.annual_rate_bps} for b in policy.rate_bands
        ],
        "max_exposure_per_supplier": policy.max_exposure_per_supplier,
        "auto_approve": policy.auto_approve,
        "offer_validity_seconds": policy.offer_validity_seconds,
        "updated_at": now,
        "updated_by": member_id,
    }
    done = conn.execute(update(POLICIES).where(POLICIES.c.financier == financier).values(**values))
    if done.rowcount == 0:
        conn.execute(POLICIES.insert().values(financier=financier, **values))
    return now
