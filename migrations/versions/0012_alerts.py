"""Early-warning alerts and alert policies.

Revision ID: 0012_alerts
Revises: 0010_domain_events
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_alerts"
down_revision: str | Sequence[str] | None = "0011_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(42), nullable=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("obligor", sa.String(42), nullable=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("acknowledged_at", WHEN, nullable=True),
        sa.Column("acknowledged_by", sa.String(32), nullable=True),
        sa.Column("resolved_at", WHEN, nullable=True),
    )
    live = sa.text("status <> 'resolved'")
    op.create_index(
        "uq_alerts_live_key", "alerts", ["key"], unique=True, postgresql_where=live, sqlite_where=live
    )
    op.create_index("ix_alerts_owner_id", "alerts", ["owner", "id"])
    op.create_index("ix_alerts_obligor_status", "alerts", ["obligor", "status"])
    op.create_index("ix_alerts_status_rule", "alerts", ["status", "rule"])
    op.create_table(
        "alert_policies",
        sa.Column("scope", sa.String(42), primary_key=True),
        sa.Column("utilisation_warning_bps", sa.Integer(), nullable=True),
        sa.Column("utilisation_critical_bps", sa.Integer(), nullable=True),
        sa.Column("shortfall_days", sa.Integer(), nullable=True),
        sa.Column("holder_concentration_bps", sa.Integer(), nullable=True),
        sa.Column("obligor_concentration_bps", sa.Integer(), nullable=True),
        sa.Column("max_tenor_days", sa.Integer(), nullable=True),
        sa.Column("velocity_holders", sa.Integer(), nullable=True),
        sa.Column("velocity_hours", sa.Integer(), nullable=True),
        sa.Column("block_offers_under_alert", sa.Boolean(), nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_policies")
    for index in (
        "ix_alerts_status_rule",
        "ix_alerts_obligor_status",
        "ix_alerts_owner_id",
        "uq_alerts_live_key",
    ):
        op.drop_index(index, table_name="alerts")
    op.drop_table("alerts")
