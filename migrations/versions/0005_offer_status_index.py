"""Discount offers listed by derived status: the financier's and the holder's indexes carry the
deadline, so the stored status and the side of the deadline (expired, or open/void) are found in the
index instead of reading every offer the member ever made or received.

Revision ID: 0005_offer_status_index
Revises: 0004_credit_relationships
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_offer_status_index"
down_revision: str | Sequence[str] | None = "0004_credit_relationships"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_discount_offers_financier_status", table_name="discount_offers")
    op.drop_index("ix_discount_offers_holder_status", table_name="discount_offers")
    op.create_index(
        "ix_discount_offers_financier_status_deadline", "discount_offers", ["financier", "status", "deadline"]
    )
    op.create_index(
        "ix_discount_offers_holder_status_deadline", "discount_offers", ["holder", "status", "deadline"]
    )


def downgrade() -> None:
    op.drop_index("ix_discount_offers_holder_status_deadline", table_name="discount_offers")
    op.drop_index("ix_discount_offers_financier_status_deadline", table_name="discount_offers")
    op.create_index("ix_discount_offers_financier_status", "discount_offers", ["financier", "status"])
    op.create_index("ix_discount_offers_holder_status", "discount_offers", ["holder", "status"])
