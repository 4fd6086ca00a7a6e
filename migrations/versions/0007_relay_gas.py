"""Relay gas: what the relayer spent for each member's relayed requests (the per-member budget).

Revision ID: 0007_relay_gas
Revises: 0006_idempotency_journal
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_relay_gas"
down_revision: str | Sequence[str] | None = "0006_idempotency_journal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_gas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("relayed_at", sa.BigInteger(), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
    )
    op.create_index("ix_relay_gas_member_time", "relay_gas", ["member_id", "relayed_at"])


def downgrade() -> None:
    op.drop_index("ix_relay_gas_member_time", table_name="relay_gas")
    op.drop_table("relay_gas")
