"""Credit relationships: whether the obligor approved the financier of each grant, and when.

Rows written before this revision come from a ledger without approvals: they start unapproved, so
they give no visibility until the obligor approves the financier on a ledger that has approvals.

Revision ID: 0004_credit_relationships
Revises: 0003_financing
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_credit_relationships"
down_revision: str | Sequence[str] | None = "0003_financing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_grants") as grants:
        grants.add_column(sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.false()))
        grants.add_column(sa.Column("approved_block", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_grants") as grants:
        grants.drop_column("approved_block")
        grants.drop_column("approved")
