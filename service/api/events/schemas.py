"""The domain event as the API, the stream and webhooks tell it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class LedgerPosition(BaseModel):
    """Where on the chain the contract event that caused a domain event is."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


class EventParty(BaseModel):
    """A member an event is about or addressed to: its address and, if the gateway onboarded it,
    its gateway id and name."""

    address: str
    member_id: str | None = None
    name: str | None = None


class EventOut(BaseModel):
    seq: int = Field(description="position in the event log: gap-free, in commit order")
    type: str = Field(description="e.g. note.issued, offer.accepted, event.retracted")
    occurred_at: datetime = Field(description="the block's time (ledger events), else when it happened")
    position: LedgerPosition | None = Field(description="the contract event's position; null if not on chain")
    note_id: str | None = None
    root_id: str | None = None
    offer_id: str | None = None
    alert_id: str | None = None
    subject: EventParty | None = Field(default=None, description="the member the event is about")
    recipient: EventParty | None = Field(default=None, description="the member the event is addressed to")
    data: dict[str, Any] = Field(description="what a receiver needs (amounts: strings of minor units)")
    retracts: int | None = Field(default=None, description="event.retracted: the seq of the removed event")
    retracted_by: int | None = Field(default=None, description="the seq of this event's event.retracted")


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: int = Field(description="pass as `after` for the next page (the last seq returned)")
