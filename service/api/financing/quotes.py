"""/v1/quotes/discount: the price of a note for an annual discount rate, or the rate a price implies,
under the conventions of `service.api.financing.pricing` (ACT/360 unless `basis=ACT/365`; days
from today's UTC date to the maturity date; discount rounded up; rates with at most 12 decimal
places)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from service.api.context import AppContext
from service.api.deps import Context, CurrentMember
from service.api.financing.params import invalid_rate, parse_basis_param
from service.api.financing.pricing import (
    PricingError,
    Quote,
    days_between,
    parse_rate,
    quote_for_price,
    quote_for_rate,
)
from service.api.financing.queries import chain_now
from service.api.financing.schemas import QuoteOut
from service.api.notes.queries import parse_note_id, visible_note
from service.api.problems import ProblemError
from service.api.schemas import to_datetime
from service.db.gateway_models import ApiMember

router = APIRouter(prefix="/v1/quotes", tags=["discount"])


def _invalid(detail: str, field: str) -> ProblemError:
    return ProblemError(422, "invalid-request", "The request is not valid", detail, field=field)


@router.get("/discount", response_model=QuoteOut)
def discount_quote(
    context: Context,
    member: CurrentMember,
    note: str = Query(description="the note's id"),
    rate: str | None = Query(default=None, description='annual discount rate, decimal fraction: "0.045"'),
    price: str | None = Query(default=None, description="price in minor units"),
    basis: str | None = Query(default=None, description="ACT/360 (default) or ACT/365"),
) -> QuoteOut:
    """The price for `rate`, or the rate for `price` (exactly one), of a note the caller may see,
    valued today (the chain's UTC date)."""
    return quote_discount(context, member, note, rate=rate, price=price, basis=basis)


def quote_discount(
    context: AppContext,
    member: ApiMember,
    note: str,
    *,
    rate: str | None,
    price: str | None,
    basis: str | None,
) -> QuoteOut:
    """The quote of `GET /v1/quotes/discount` (the route's whole use case; the console's too)."""
    wanted_basis = parse_basis_param(basis)
    if (rate is None) == (price is None):
        raise _invalid("give exactly one of rate and price", "rate")
    with context.session() as session:
        found = visible_note(session, member, parse_note_id(note))
    face = int(found.amount)
    now = chain_now(context)
    days = days_between(now, found.maturity)
    if days < 0 or now >= found.maturity:
        raise ProblemError(
            409,
            "note-matured",
            "The note has matured",
            f"note {found.id} matured at {to_datetime(found.maturity).isoformat()}: no discount applies",
        )
    quote: Quote
    if rate is not None:
        try:
            quote = quote_for_rate(face, parse_rate(rate), days, wanted_basis)
        except PricingError as exc:
            raise invalid_rate(str(exc)) from exc
    else:
        assert price is not None
        if not price.isascii() or not price.isdigit() or len(price) > 30:
            raise _invalid("the price must be a string of decimal digits (minor units)", "price")
        amount = int(price)
        if amount > face:
            raise _invalid(f"the price must not exceed the face amount {face}", "price")
        try:
            quote = quote_for_price(face, amount, days, wanted_basis)
        except PricingError as exc:
            raise _invalid(str(exc), "price") from exc
    return QuoteOut(
        note_id=str(found.id),
        currency=found.currency,
        face=str(face),
        maturity=to_datetime(found.maturity),
        value_date=to_datetime(now).date(),
        days=days,
        basis=wanted_basis.value,
        given="rate" if rate is not None else "price",
        price=str(quote.price),
        discount=str(quote.discount),
        rate=quote.rate_text,
        rate_exact=quote.rate_exact,
    )
