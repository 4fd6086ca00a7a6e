"""Which domain events a member may see: exactly those about what it may read through the API."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select

from service.api.auth import sees_everything
from service.api.financing.queries import offer_visibility
from service.api.notes.queries import visibility as note_visibility
from service.db.event_models import DomainEvent
from service.db.gateway_models import ApiMember
from service.db.models import DiscountOffer, Note


def event_visibility(member: ApiMember) -> ColumnElement[bool] | None:
    """SQL condition on `domain_events` for the events `member` may see (None: all of them, for the
    auditor and the operator): the events addressed to it or about it, the events of notes it may
    read (`GET /v1/notes/{id}`'s rule) and of offers it may read (`GET /v1/discount-offers/{id}`'s).
    An event about an offer is judged by the offer alone: who bid what to another holder is that
    holder's business, even on a note the member may read."""
    if sees_everything(member):
        return None
    address = member.address
    conditions: list[ColumnElement[bool]] = [
        DomainEvent.recipient == address,
        DomainEvent.subject == address,
    ]
    offers = offer_visibility(member)
    assert offers is not None
    conditions.append(DomainEvent.offer_id.in_(select(DiscountOffer.id).where(offers)))
    notes = note_visibility(member)
    note_ids = select(Note.id) if notes is None else select(Note.id).where(notes)
    conditions.append(DomainEvent.offer_id.is_(None) & DomainEvent.note_id.in_(note_ids))
    return or_(*conditions)
