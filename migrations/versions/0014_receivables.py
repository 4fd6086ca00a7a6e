"""Financiers' policies for evidence-backed receivables, auto-approval's offers, and the alert
policy's threshold of a buyer's indirect (evidence-backed) exposure.

Revision ID: 0014_receivables
Revises: 0013_evidence
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_receivables"
down_revision: str | Sequence[str] | None = "0013_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "receivable_policies",
        sa.Column("financier", sa.String(42), primary_key=True),
        sa.Column("min_score", sa.Integer(), nullable=False),
        sa.Column("min_attesters", sa.Integer(), nullable=False),
        sa.Column("four_way_match_required", sa.Boolean(), nullable=False),
        sa.Column("advance_rate_bps", sa.Integer(), nullable=False),
        sa.Column("rate_bands", sa.JSON(), nullable=False),
        sa.Column("max_exposure_per_supplier", AMOUNT, nullable=False),
        sa.Column("auto_approve", sa.Boolean(), nullable=False),
        sa.Column("offer_validity_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=False),
    )
    op.create_table(
        "receivable_auto_offers",
        sa.Column("note_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("financier", sa.String(42), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=True),
        sa.Column("price", AMOUNT, nullable=True),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    with op.batch_alter_table("alert_policies") as policies:
        policies.add_column(sa.Column("buyer_indirect_exposure", AMOUNT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_policies") as policies:
        policies.drop_column("buyer_indirect_exposure")
    op.drop_table("receivable_auto_offers")
    op.drop_table("receivable_policies")
