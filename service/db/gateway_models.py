"""Tables the gateway owns (not derived from chain events): API members and their keys, idempotency
records of writes, and off-chain references of issued notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models import ADDRESS, Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class ApiMember(Base):
    """A member as the gateway knows it: name, roles, API key hash and (custodial) encrypted key."""

    __tablename__ = "api_members"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(ADDRESS)
    roles: Mapped[str] = mapped_column(String(200))
    """Comma-separated role names (core_enterprise, supplier, financier, auditor, operator)."""
    api_key_hash: Mapped[str] = mapped_column(String(64))
    custody: Mapped[str] = mapped_column(String(16))
    encrypted_key: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("address", name="uq_api_members_address"),
        UniqueConstraint("api_key_hash", name="uq_api_members_api_key_hash"),
    )

    suspended = False
    """Whether the registry (the indexed `members` table) has this member suspended, as read with
    the member by `service.api.auth.current_member`; not a column of this table."""

    @property
    def role_names(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class IdempotencyRecord(Base):
    """A write sent with an Idempotency-Key: the request's fingerprint, while it runs a lease (owner
    and expiry, refreshed while working), every transaction it signed (hash and raw signed bytes,
    recorded before broadcasting), what its answer is built from, and once final its answer (secrets
    left out), replayed for retries until `expires_at`."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    """The request path, cut to 500 characters (the full path is fingerprinted in `path_sha256`)."""
    path_sha256: Mapped[str] = mapped_column(String(64), server_default="")
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """None while the first request is still being processed."""
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    transactions: Mapped[Any] = mapped_column(JSON, nullable=True)
    """[{"hash", "raw", "step"}] in the order they were signed; recorded before each broadcast."""
    answer_builder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answer_inputs: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """After this the record is deleted (`service.api.idempotency.purge_expired`) and the key is free."""

    __table_args__ = (
        UniqueConstraint("member_id", "key", name="uq_idempotency_member_key"),
        Index("ix_idempotency_records_expires_at", "expires_at"),
    )


class NoteReference(Base):
    """The free-text reference an obligor gave when issuing a root note (kept off-chain)."""

    __tablename__ = "note_references"

    note_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reference: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RelayGas(Base):
    """Gas the gateway's relayer spent (or reserved) for a member's relayed request: a member's
    relay budget is what its rows of the last 24 hours leave (`service.api.relay_budget`)."""

    __tablename__ = "relay_gas"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    relayed_at: Mapped[int] = mapped_column(BigInteger)
    """Unix seconds (the gateway's clock) when the gas was reserved."""
    gas: Mapped[int] = mapped_column(BigInteger)
    """The reservation (the request's gas bound plus the forwarder's overhead) until the receipt is
    in, then the transaction's gasUsed."""
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)

    __table_args__ = (Index("ix_relay_gas_member_time", "member_id", "relayed_at"),)
