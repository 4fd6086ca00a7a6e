"""The reorganisation journal, and the gateway's signed transactions by hash.

Revision ID: 0009_reorg_journal
Revises: 0008_settlement_jobs_min_parts
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_reorg_journal"
down_revision: str | Sequence[str] | None = "0008_settlement_jobs_min_parts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reorgs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("fork_block", sa.BigInteger(), nullable=False),
        sa.Column("fork_hash", sa.String(66), nullable=False),
        sa.Column("old_head", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events_removed", sa.Integer(), nullable=False),
    )
    op.create_table(
        "reorg_transactions",
        sa.Column(
            "reorg_id", sa.BigInteger(), sa.ForeignKey("reorgs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("note_ids", sa.JSON(), nullable=False),
    )
    op.create_index("ix_reorg_transactions_tx_hash", "reorg_transactions", ["tx_hash"])
    op.create_table(
        "reorg_notes",
        sa.Column(
            "reorg_id", sa.BigInteger(), sa.ForeignKey("reorgs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("note_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "reorg_idempotency_records",
        sa.Column(
            "reorg_id", sa.BigInteger(), sa.ForeignKey("reorgs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("record_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("tx_hashes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_reorg_idempotency_records_record_id", "reorg_idempotency_records", ["record_id"])
    op.create_table(
        "idempotency_transactions",
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column(
            "record_id", ID, sa.ForeignKey("idempotency_records.id", ondelete="CASCADE"), nullable=False
        ),
    )
    op.create_index("ix_idempotency_transactions_record_id", "idempotency_transactions", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_transactions_record_id", table_name="idempotency_transactions")
    op.drop_table("idempotency_transactions")
    op.drop_index("ix_reorg_idempotency_records_record_id", table_name="reorg_idempotency_records")
    op.drop_table("reorg_idempotency_records")
    op.drop_table("reorg_notes")
    op.drop_index("ix_reorg_transactions_tx_hash", table_name="reorg_transactions")
    op.drop_table("reorg_transactions")
    op.drop_table("reorgs")
