"""The domain event log and its sequence.

Revision ID: 0010_domain_events
Revises: 0009_reorg_journal
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_domain_events"
down_revision: str | Sequence[str] | None = "0009_reorg_journal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("seq", ID, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contract", sa.String(42), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.Column("note_id", sa.BigInteger(), nullable=True),
        sa.Column("root_id", sa.BigInteger(), nullable=True),
        sa.Column("offer_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("subject", sa.String(42), nullable=True),
        sa.Column("recipient", sa.String(42), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("retracts", sa.BigInteger(), nullable=True),
        sa.Column("retracted_by", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_domain_events_block_number", "domain_events", ["block_number"])
    op.create_index("ix_domain_events_note_id", "domain_events", ["note_id"])
    op.create_index("ix_domain_events_root_id", "domain_events", ["root_id"])
    op.create_index("ix_domain_events_recipient", "domain_events", ["recipient"])
    op.create_index("ix_domain_events_type_seq", "domain_events", ["type", "seq"])
    sequence = op.create_table(
        "domain_event_sequence",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(sequence, [{"name": "events", "last": 0}])


def downgrade() -> None:
    op.drop_table("domain_event_sequence")
    for index in ("type_seq", "recipient", "root_id", "note_id", "block_number"):
        op.drop_index(f"ix_domain_events_{index}", table_name="domain_events")
    op.drop_table("domain_events")
