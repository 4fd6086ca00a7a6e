"""Financing: discount offers, payments, payment claims, settlement tokens; notes' paid and
written-off amounts; the ledger's grace period.

Revision ID: 0003_financing
Revises: 0002_gateway
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_financing"
down_revision: str | Sequence[str] | None = "0002_gateway"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# service.db.models.ExactInteger: NUMERIC(78, 0), or a 79-character fixed-width string on SQLite.
AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")
ADDRESS = sa.String(42)
HASH = sa.String(66)
SQLITE_ZERO = "0" * 78  # ExactInteger's encoding of 0 on SQLite


def _zero_amount() -> str:
    """Server default filling existing notes' new amount columns with an exact 0."""
    return SQLITE_ZERO if op.get_bind().dialect.name == "sqlite" else "0"


def upgrade() -> None:
    with op.batch_alter_table("notes") as notes:
        notes.add_column(sa.Column("paid_amount", AMOUNT, nullable=False, server_default=_zero_amount()))
        notes.add_column(
            sa.Column("written_off_amount", AMOUNT, nullable=False, server_default=_zero_amount())
        )
    op.create_index("ix_notes_maturity_status", "notes", ["maturity", "status"])
    with op.batch_alter_table("ledger_config") as config:
        config.add_column(sa.Column("grace_period", sa.BigInteger(), nullable=False, server_default="432000"))

    op.create_table(
        "settlement_tokens",
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("token", ADDRESS, nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "discount_offers",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("financier", ADDRESS, nullable=False),
        sa.Column("holder", ADDRESS, nullable=False),
        sa.Column("price", AMOUNT, nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("off_chain", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payment_reference", HASH, nullable=True),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("created_tx", HASH, nullable=False),
        sa.Column("closed_block", sa.BigInteger(), nullable=True),
        sa.Column("closed_tx", HASH, nullable=True),
    )
    op.create_index("ix_discount_offers_note_id", "discount_offers", ["note_id"])
    op.create_index("ix_discount_offers_root_id", "discount_offers", ["root_id"])
    op.create_index("ix_discount_offers_financier_status", "discount_offers", ["financier", "status"])
    op.create_index("ix_discount_offers_holder_status", "discount_offers", ["holder", "status"])
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("obligor", ADDRESS, nullable=False),
        sa.Column("holder", ADDRESS, nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("remaining", AMOUNT, nullable=False),
        sa.Column("payment_reference", HASH, nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_payments_tx_log"),
    )
    op.create_index("ix_payments_note_id", "payments", ["note_id"])
    op.create_index("ix_payments_root_id", "payments", ["root_id"])
    op.create_index("ix_payments_block_number", "payments", ["block_number"])
    op.create_table(
        "payment_claims",
        sa.Column("note_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("obligor", ADDRESS, nullable=False),
        sa.Column("holder", ADDRESS, nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("payment_reference", HASH, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("payment_claims")
    op.drop_table("payments")
    op.drop_table("discount_offers")
    op.drop_table("settlement_tokens")
    with op.batch_alter_table("ledger_config") as config:
        config.drop_column("grace_period")
    op.drop_index("ix_notes_maturity_status", table_name="notes")
    with op.batch_alter_table("notes") as notes:
        notes.drop_column("written_off_amount")
        notes.drop_column("paid_amount")
