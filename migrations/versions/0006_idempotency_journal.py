"""Idempotency records: a lease while in flight, the journal of signed transactions (recorded before
broadcast), what the answer is built from, the full path's fingerprint and an expiry (indexed).
Records written before this revision keep protecting their keys for a day from their creation; the
API keys their onboarding answers held in plain text are scrubbed (replays say how to get a new one).

Revision ID: 0006_idempotency_journal
Revises: 0005_offer_status_index
Create Date: 2026-11-29
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_idempotency_journal"
down_revision: str | Sequence[str] | None = "0005_offer_status_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TTL = timedelta(days=1)  # CREDCHAIN_IDEMPOTENCY_TTL_SECONDS' default
API_KEY_NOTE = (
    "the API key was shown once, in the first answer, and is not kept; issue a new one with "
    "`credchain keys issue <member id>`"
)
records = sa.table(
    "idempotency_records",
    sa.column("id", sa.BigInteger()),
    sa.column("path", sa.String()),
    sa.column("path_sha256", sa.String()),
    sa.column("status_code", sa.Integer()),
    sa.column("response_body", sa.JSON()),
    sa.column("lease_owner", sa.String()),
    sa.column("lease_expires_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("expires_at", sa.DateTime(timezone=True)),
)


def _scrubbed(body: Any) -> Any:
    if isinstance(body, str):  # some drivers hand JSON back as text
        body = json.loads(body)
    if isinstance(body, dict) and body.get("api_key") is not None:
        return {**body, "api_key": None, "api_key_note": API_KEY_NOTE}
    return body


def _backfill() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            records.c.id, records.c.path, records.c.status_code, records.c.response_body, records.c.created_at
        )
    ).all()
    for row in rows:
        created = row.created_at or datetime.now(UTC)
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        values: dict[str, Any] = {
            "path_sha256": hashlib.sha256(row.path.encode()).hexdigest(),
            "response_body": _scrubbed(row.response_body),
            "expires_at": created + TTL,
        }
        if row.status_code is None:
            # in flight before this revision, with no journal of what it sent: the key stays in use
            # until it expires rather than risk acting twice
            values.update(lease_owner="before-0004", lease_expires_at=created + TTL)
        bind.execute(records.update().where(records.c.id == row.id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("path_sha256", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("transactions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("answer_builder", sa.String(200), nullable=True))
        batch.add_column(sa.Column("answer_inputs", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    _backfill()
    with op.batch_alter_table("idempotency_records") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index("ix_idempotency_records_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_index("ix_idempotency_records_expires_at")
        for column in (
            "expires_at",
            "answer_inputs",
            "answer_builder",
            "transactions",
            "lease_expires_at",
            "lease_owner",
            "path_sha256",
        ):
            batch.drop_column(column)
