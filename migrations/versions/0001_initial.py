"""Initial schema: members, notes, events, credit, ledger configuration, blocks, checkpoint.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# service.db.models.ExactInteger: NUMERIC(78, 0), or a 79-character fixed-width string on SQLite.
AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")
ADDRESS = sa.String(42)
HASH = sa.String(66)


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("address", ADDRESS, primary_key=True),
        sa.Column("roles", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("onboarded_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("holder", ADDRESS, nullable=False),
        sa.Column("obligor", ADDRESS, nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("maturity", sa.BigInteger(), nullable=False),
        sa.Column("document_hash", HASH, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("created_tx", HASH, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_notes_root_id", "notes", ["root_id", "id"])
    op.create_index("ix_notes_parent_id", "notes", ["parent_id"])
    op.create_index("ix_notes_holder_status", "notes", ["holder", "status"])
    op.create_index("ix_notes_obligor_status", "notes", ["obligor", "status"])

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", HASH, nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", ADDRESS, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=True),
        sa.Column("root_id", sa.BigInteger(), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_events_tx_log"),
    )
    op.create_index("ix_events_note_id", "events", ["note_id", "block_number", "log_index"])
    op.create_index("ix_events_root_id", "events", ["root_id", "block_number", "log_index"])
    op.create_index("ix_events_block_number", "events", ["block_number"])
    op.create_index(
        "ix_events_non_note",
        "events",
        ["name", "block_number"],
        postgresql_where=sa.text("note_id IS NULL"),
        sqlite_where=sa.text("note_id IS NULL"),
    )

    op.create_table(
        "credit_grants",
        sa.Column("financier", ADDRESS, primary_key=True),
        sa.Column("obligor", ADDRESS, primary_key=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "obligor_credit",
        sa.Column("obligor", ADDRESS, primary_key=True),
        sa.Column("credit_limit", AMOUNT, nullable=False),
        sa.Column("outstanding", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ledger_config",
        sa.Column("contract", ADDRESS, primary_key=True),
        sa.Column("operator", ADDRESS, nullable=True),
        sa.Column("pending_operator", ADDRESS, nullable=True),
        sa.Column("max_tenor", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "blocks",
        sa.Column("number", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("parent_hash", HASH, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "indexer_checkpoint",
        sa.Column("contract", ADDRESS, primary_key=True),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", HASH, nullable=False),
        sa.Column("events_applied", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "indexer_checkpoint",
        "blocks",
        "ledger_config",
        "obligor_credit",
        "credit_grants",
        "events",
        "notes",
        "members",
    ):
        op.drop_table(table)
