"""The catalogue of domain event types: what `GET /v1/events`, the stream and webhook subscriptions
name (a subscription's `event_types` must be drawn from it)."""

from __future__ import annotations

from typing import Final

LEDGER_EVENT_TYPES: Final[tuple[str, ...]] = (
    "note.issued",
    "note.accepted",
    "note.rejected",
    "note.revoked",
    "note.received",
    "note.split",
    "note.frozen",
    "note.unfrozen",
    "offer.received",
    "offer.accepted",
    "offer.cancelled",
    "offer.void",
    "note.discounted",
    "payment.received",
    "payment.claimed",
    "note.settled",
    "note.overdue",
    "note.written_off",
    "member.suspended",
    "member.reinstated",
    "credit_limit.changed",
    "evidence.registered",
    "evidence.attested",
    "evidence.attestation_revoked",
    "receivable.originated",
    "receivable.converted",
)
"""The domain events derived from contract events (`service.events.derive`)."""
EVENT_TYPES: Final[tuple[str, ...]] = (
    *LEDGER_EVENT_TYPES,
    "alert.raised",
    "alert.resolved",
    "event.retracted",
)
"""Every type of the event log (`alert.*` are written by the early-warning rules and the webhook
dispatcher, `event.retracted` by the reorganisation rollback: `service.events.retract`)."""
