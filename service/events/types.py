"""The catalogue of domain event types: what `GET /v1/events`, the stream and webhook subscriptions
name (a subscription's `event_types` must be drawn from it)."""

from __future__ import annotations

from typing import Final

EVENT_TYPES: Final[tuple[str, ...]] = (
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
    "alert.raised",
    "alert.resolved",
    "event.retracted",
)
"""Every domain event type, in the order the issue lists them."""
