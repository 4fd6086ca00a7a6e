"""Idempotency records: a lease while in flight, the journal of signed transactions (recorded before
broadcast), what the answer is built from, the full path's fingerprint and an expiry (indexed).
Records written before this revision expire at once: their answers may hold API keys in plain text.

Revision ID: 0004_idempotency_journal
Revises: 0003_financing
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_idempotency_journal"
down_revision: str | Sequence[str] | None = "0003_financing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_records") as records:
        records.add_column(sa.Column("path_sha256", sa.String(64), nullable=False, server_default=""))
        records.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        records.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        records.add_column(sa.Column("transactions", sa.JSON(), nullable=True))
        records.add_column(sa.Column("answer_builder", sa.String(200), nullable=True))
        records.add_column(sa.Column("answer_inputs", sa.JSON(), nullable=True))
        records.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE idempotency_records SET expires_at = created_at")
    with op.batch_alter_table("idempotency_records") as records:
        records.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        records.create_index("ix_idempotency_records_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as records:
        records.drop_index("ix_idempotency_records_expires_at")
        for column in (
            "expires_at",
            "answer_inputs",
            "answer_builder",
            "transactions",
            "lease_expires_at",
            "lease_owner",
            "path_sha256",
        ):
            records.drop_column(column)
