"""Tables the gateway owns (not derived from chain events): API members and their keys, idempotency
records of writes, off-chain references of issued notes, and settlement jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, Base, ExactInteger


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


class IdempotencyTransaction(Base):
    """A transaction the gateway signed for an idempotent write, by hash (recorded with the record's
    journal before broadcasting): how `GET /v1/transactions/{hash}` and the reorganisation journal
    find the write a transaction belongs to. Deleted with its record."""

    __tablename__ = "idempotency_transactions"

    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    record_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("idempotency_records.id", ondelete="CASCADE")
    )

    __table_args__ = (Index("ix_idempotency_transactions_record_id", "record_id"),)


class NoteReference(Base):
    """The free-text reference an obligor gave when issuing a root note (kept off-chain)."""

    __tablename__ = "note_references"

    note_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reference: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RelayGas(Base):
    """Gas the gateway's relayer spent (or reserved) for a member's relayed request: a member's
    relay budget is what its rows of the last 24 hours leave (`service.api.relay.budget`)."""

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


class SettlementJob(Base):
    """A root settlement paid in several `settleRoot` batches, run in the background by the gateway
    (service.api.financing.settlement_jobs): durable, picked up again by any gateway process that starts, run
    by one process at a time. `next_index` is the first tree index not yet covered by a batch that
    was confirmed; a batch sent again after a crash pays nothing twice (settleRoot pays only unpaid
    live notes). `active_root_id` is the root while the job is queued or running (NULL once it is
    done or failed): one unfinished job per tree."""

    __tablename__ = "settlement_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    root_id: Mapped[int] = mapped_column(BigInteger)
    active_root_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    member_id: Mapped[str] = mapped_column(String(32))
    """The obligor's gateway member, whose custodial key signs every batch."""
    obligor: Mapped[str] = mapped_column(ADDRESS)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    """queued, running, done or failed."""
    next_index: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_first: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The batch (first index, count) sent but not yet recorded: set before it is signed, cleared
    with the record of its receipt. A process that resumes the job finds here what a crash may have
    left unrecorded, and records the payments the index shows for it."""
    created_block: Mapped[int] = mapped_column(BigInteger)
    """The chain head when the job was created (no payment of the job is older)."""
    batches_done: Mapped[int] = mapped_column(Integer, default=0)
    batches_total: Mapped[int] = mapped_column(Integer)
    notes_total: Mapped[int] = mapped_column(Integer)
    amount_total: Mapped[int] = mapped_column(ExactInteger)
    """What the tree's payable notes came to when the job was created."""
    notes_paid: Mapped[int] = mapped_column(Integer, default=0)
    amount_paid: Mapped[int] = mapped_column(ExactInteger, default=0)
    tx_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The problem+json body of the refusal that failed the job (or of the last transient error)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Transient failures (node or database away) in a row; reset by every confirmed batch."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("active_root_id", name="uq_settlement_jobs_active_root"),
        Index("ix_settlement_jobs_status", "status", "created_at"),
        Index("ix_settlement_jobs_root_id", "root_id"),
    )


class ConsoleSession(Base):
    """A signed-in web console session (`service.console.sessions`): the browser holds an opaque
    random token in an HttpOnly cookie, the table its SHA-256 only, with the member, the session's
    CSRF token and when it ends. Signing out deletes the row."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_console_sessions_member", "member_id", "created_at"),)
