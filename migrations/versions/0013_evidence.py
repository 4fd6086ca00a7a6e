"""Trade evidence, attestations and evidence-backed receivables (issue 17).

Revision ID: 0013_evidence
Revises: 0012_alerts
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_evidence"
down_revision: str | Sequence[str] | None = "0012_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# service.db.models.ExactInteger: NUMERIC(78, 0), or a 79-character fixed-width string on SQLite.
AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")
ADDRESS = sa.String(42)
HASH = sa.String(66)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_records",
        sa.Column("doc_hash", HASH, primary_key=True),
        sa.Column("supplier", ADDRESS, nullable=False),
        sa.Column("buyer", ADDRESS, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", WHEN, nullable=False),
        sa.Column("attester_count", sa.Integer(), nullable=False),
        sa.Column("financed_note_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_evidence_records_supplier_kind", "evidence_records", ["supplier", "kind"])
    op.create_index("ix_evidence_records_buyer", "evidence_records", ["buyer"])
    op.create_table(
        "evidence_attestations",
        sa.Column("doc_hash", HASH, primary_key=True),
        sa.Column("attester", ADDRESS, primary_key=True),
        sa.Column("attested_block", sa.BigInteger(), nullable=False),
        sa.Column("attested_at", WHEN, nullable=False),
        sa.Column("revoked_block", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", WHEN, nullable=True),
    )
    op.create_index("ix_evidence_attestations_attester", "evidence_attestations", ["attester"])
    op.create_table(
        "receivables",
        sa.Column("note_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("supplier", ADDRESS, nullable=False),
        sa.Column("buyer", ADDRESS, nullable=False),
        sa.Column("invoice_hash", HASH, nullable=False),
        sa.Column("supporting", sa.JSON(), nullable=False),
        sa.Column("attesters_at_origination", sa.Integer(), nullable=False),
        sa.Column("originated_block", sa.BigInteger(), nullable=False),
        sa.Column("originated_at", WHEN, nullable=False),
        sa.Column("converted_block", sa.BigInteger(), nullable=True),
        sa.Column("converted_at", WHEN, nullable=True),
    )
    op.create_index("ix_receivables_supplier", "receivables", ["supplier"])
    op.create_index("ix_receivables_buyer", "receivables", ["buyer"])
    op.create_index("ix_receivables_invoice_hash", "receivables", ["invoice_hash"], unique=True)


def downgrade() -> None:
    op.drop_table("receivables")
    op.drop_table("evidence_attestations")
    op.drop_table("evidence_records")
