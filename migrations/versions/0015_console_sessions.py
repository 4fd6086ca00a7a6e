"""Web console sessions: an opaque token's hash, the member, its CSRF token and its end.

Revision ID: 0015_console_sessions
Revises: 0014_receivables
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_console_sessions"
down_revision: str | Sequence[str] | None = "0014_receivables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
    )
    op.create_index("ix_console_sessions_member", "console_sessions", ["member_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_member", table_name="console_sessions")
    op.drop_table("console_sessions")
