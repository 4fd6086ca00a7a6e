"""Minimum part amounts per currency (MinPartAmountSet) and the gateway's settlement jobs.

Revision ID: 0008_settlement_jobs_min_parts
Revises: 0007_relay_gas
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_settlement_jobs_min_parts"
down_revision: str | Sequence[str] | None = "0007_relay_gas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# service.db.models.ExactInteger: NUMERIC(78, 0), or a 79-character fixed-width string on SQLite.
AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")
ADDRESS = sa.String(42)


def upgrade() -> None:
    op.create_table(
        "min_part_amounts",
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "settlement_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("active_root_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("obligor", ADDRESS, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.Column("pending_first", sa.BigInteger(), nullable=True),
        sa.Column("pending_count", sa.Integer(), nullable=True),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.Column("batches_total", sa.Integer(), nullable=False),
        sa.Column("notes_total", sa.Integer(), nullable=False),
        sa.Column("amount_total", AMOUNT, nullable=False),
        sa.Column("notes_paid", sa.Integer(), nullable=False),
        sa.Column("amount_paid", AMOUNT, nullable=False),
        sa.Column("tx_hashes", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("active_root_id", name="uq_settlement_jobs_active_root"),
    )
    op.create_index("ix_settlement_jobs_status", "settlement_jobs", ["status", "created_at"])
    op.create_index("ix_settlement_jobs_root_id", "settlement_jobs", ["root_id"])


def downgrade() -> None:
    op.drop_index("ix_settlement_jobs_root_id", table_name="settlement_jobs")
    op.drop_index("ix_settlement_jobs_status", table_name="settlement_jobs")
    op.drop_table("settlement_jobs")
    op.drop_table("min_part_amounts")
