"""Webhook subscriptions' request and answer models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from service.api.params import LedgerId
from service.api.schemas import Party, StrictModel
from service.events.types import EVENT_TYPES

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
MAX_EVENT_TYPES = len(EVENT_TYPES)


class SubscriptionFilters(StrictModel):
    note_id: LedgerId | None = Field(default=None, description="only events of this note")
    root_id: LedgerId | None = Field(default=None, description="only events of notes of this tree")
    obligor: Party | None = Field(
        default=None, description="only events of this obligor's notes (id or address)"
    )


class SubscriptionIn(StrictModel):
    url: str = Field(min_length=1, max_length=2048, description="https, or http to loopback in dev mode")
    event_types: list[EventType] = Field(
        default_factory=list, max_length=MAX_EVENT_TYPES, description="types delivered; empty: all"
    )
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    description: str | None = Field(default=None, max_length=200)


class SubscriptionPatch(StrictModel):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[EventType] | None = Field(default=None, max_length=MAX_EVENT_TYPES)
    filters: SubscriptionFilters | None = None
    description: str | None = Field(default=None, max_length=200)


class ReplayIn(StrictModel):
    from_seq: int | None = Field(default=None, ge=1, description="re-send events from this sequence number")
    from_time: datetime | None = Field(default=None, description="re-send events recorded at or after this")

    @model_validator(mode="after")
    def _one(self) -> ReplayIn:
        if (self.from_seq is None) == (self.from_time is None):
            raise ValueError("give exactly one of from_seq and from_time")
        if self.from_time is not None and self.from_time.tzinfo is None:
            raise ValueError("from_time needs a time zone (e.g. 2026-05-01T00:00:00Z)")
        return self


class SubscriptionOut(StrictModel):
    id: str
    member_id: str
    url: str
    event_types: list[str]
    filters: SubscriptionFilters
    description: str | None
    status: Literal["active", "paused", "disabled"]
    pause_reason: str | None
    cursor: int = Field(description="the last event sequence number delivered (or passed over)")
    consecutive_failures: int
    total_deliveries: int
    total_failures: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="the signing secret (whsec_...): shown only in this answer")


class SubscriptionList(StrictModel):
    items: list[SubscriptionOut]


class DeliveryOut(StrictModel):
    id: str
    event_seq: int
    webhook_id: str
    attempt: int
    status_code: int | None
    error: str | None
    latency_ms: float
    attempted_at: datetime


class DeliveryPage(StrictModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for older attempts; null: no more")
