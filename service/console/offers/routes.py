"""Discount offers: a holder's offers received (the quote explained: rate, days, basis, price) and
their acceptance (delivery versus payment); a financier's quote and offer on a note, with the
day-count computation shown, and its offers. Through `service.api.financing` (quotes, offers)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from service.api.context import AppContext
from service.api.financing.discounts import accept_discount_offer, offer_discount
from service.api.financing.pricing import Basis
from service.api.financing.queries import chain_now, find_offers
from service.api.financing.quotes import quote_discount
from service.api.financing.schemas import DiscountOfferIn, OfferOut, QuoteOut
from service.api.notes.queries import notes_out, parse_note_id, visible_note
from service.api.problems import ProblemError
from service.console.i18n import Translator
from service.console.sessions import SessionUser
from service.console.web import (
    IDEMPOTENCY_FIELD,
    ConsoleContext,
    Form,
    User,
    console_router,
    form_values,
    render,
    text,
    translator,
)
from service.console.writes import form_key, perform, problem_errors, validation_errors
from service.domain import FINANCIER

router = console_router()
DAY = 86_400
LIST_LIMIT = 200
DEFAULT_VALIDITY_DAYS = 3


def percent_to_rate(text_value: str) -> str:
    """An annual rate typed in percent (`4.5`, `4.5%`) as the API's decimal fraction (`0.045`),
    exactly (Decimal, never a float). ValueError if it is not a number."""
    cleaned = text_value.strip().removesuffix("%").strip()
    try:
        percent = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(cleaned) from exc
    if not percent.is_finite() or percent < 0:
        raise ValueError(cleaned)
    fraction = percent.scaleb(-2)
    text_rate = format(fraction, "f")
    return text_rate.rstrip("0").rstrip(".") if "." in text_rate else text_rate


def _offers(context: AppContext, user: SessionUser) -> tuple[list[OfferOut], list[OfferOut]]:
    """(offers made to the member as holder, offers it made as financier)."""
    member = user.member
    with context.session() as session:
        received, _n = find_offers(context, session, member, holder=member.address, limit=LIST_LIMIT)
        made: list[OfferOut] = []
        if FINANCIER in member.role_names:
            made, _n = find_offers(context, session, member, financier=member.address, limit=LIST_LIMIT)
    return received, made


@router.get("/offers")
def offers_page(
    request: Request, context: ConsoleContext, user: User, done: Annotated[str | None, Query()] = None
) -> Response:
    message = translator(request)(f"done_offer_{done}") if done in ("accepted", "made") else None
    return _offers_page(request, context, user, message=message)


def _offers_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    received, made = _offers(context, user)
    return render(
        request,
        "offers/offers.html",
        user,
        status=status,
        received=received,
        made=made,
        errors=errors or {},
        message=message,
    )


@router.post("/offers/{offer_id}/accept")
async def accept(
    request: Request, offer_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    t = translator(request)
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/discount-offers/{offer_id}/accept",
        None,
        lambda: accept_discount_offer(context, user.member, offer_id),
    )
    if not outcome.ok:
        errors = {f"offer-{offer_id}": message for message in outcome.errors.values()}
        return _offers_page(request, context, user, status=outcome.status, errors=errors)
    return RedirectResponse("/console/offers?done=accepted", status_code=303)


# ------------------------------------------------------------------ a financier's quote and offer
def _quote(
    context: AppContext, t: Translator, user: SessionUser, note_id: str, rate_text: str, basis: str
) -> tuple[QuoteOut | None, dict[str, str]]:
    if not rate_text:
        return None, {}
    try:
        rate = percent_to_rate(rate_text)
    except ValueError:
        return None, {"rate": t("rate_invalid")}
    try:
        return quote_discount(context, user.member, note_id, rate=rate, price=None, basis=basis), {}
    except ProblemError as problem:
        errors = problem_errors(t, problem.body())
        return None, {("rate" if k in ("", "rate") else k): v for k, v in errors.items()}


def _offer_page(
    request: Request,
    context: AppContext,
    user: SessionUser,
    note_id: str,
    values: dict[str, str],
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    fragment: bool = False,
) -> Response:
    t = translator(request)
    with context.session() as session:
        row = visible_note(session, user.member, parse_note_id(note_id))
        note = notes_out(context, session, [row])[0]
    basis = values.get("basis") or Basis.ACT_360.value
    quote, quote_errors = _quote(context, t, user, note_id, values.get("rate", ""), basis)
    values = {"basis": basis, "validity_days": str(DEFAULT_VALIDITY_DAYS), **values}
    return render(
        request,
        "offers/_quote.html" if fragment else "offers/offer.html",
        user,
        status=status,
        note=note,
        quote=quote,
        bases=[b.value for b in Basis],
        values=values,
        errors={**quote_errors, **(errors or {})},
    )


@router.get("/notes/{note_id}/offer")
def offer_page(
    request: Request,
    note_id: str,
    context: ConsoleContext,
    user: User,
    rate: Annotated[str | None, Query()] = None,
    basis: Annotated[str | None, Query()] = None,
) -> Response:
    """The offer form; with `rate` (a link, or a page reloaded), its quote computed."""
    values = {k: v for k, v in {"rate": rate, "basis": basis}.items() if v}
    return _offer_page(request, context, user, note_id, values)


@router.get("/notes/{note_id}/quote")
def quote_fragment(
    request: Request,
    note_id: str,
    context: ConsoleContext,
    user: User,
    rate: Annotated[str | None, Query()] = None,
    basis: Annotated[str | None, Query()] = None,
) -> Response:
    """The quote's computation alone (htmx swaps it in as the rate is typed; only the rate and the
    basis are sent, never the form's tokens)."""
    values = {k: v for k, v in {"rate": rate, "basis": basis}.items() if v}
    return _offer_page(request, context, user, note_id, values, fragment=True)


@router.post("/notes/{note_id}/offer")
async def make_offer(
    request: Request, note_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    t = translator(request)
    values = form_values(form)
    try:
        rate = percent_to_rate(text(form, "rate"))
    except ValueError:
        return _offer_page(
            request, context, user, note_id, values, status=422, errors={"rate": t("rate_invalid")}
        )
    try:
        days = int(text(form, "validity_days"))
        if days < 1:
            raise ValueError(days)
    except ValueError:
        return _offer_page(
            request, context, user, note_id, values, status=422, errors={"validity_days": t("days_invalid")}
        )
    deadline = datetime.fromtimestamp(chain_now(context) + days * DAY, UTC)
    try:
        body = DiscountOfferIn.model_validate(
            {"rate": rate, "basis": text(form, "basis") or Basis.ACT_360.value, "deadline": deadline}
        )
    except ValidationError as exc:
        return _offer_page(
            request, context, user, note_id, values, status=422, errors=validation_errors(t, exc)
        )
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/notes/{note_id}/discount-offers",
        body,
        lambda: offer_discount(
            context,
            user.member,
            parse_note_id(note_id),
            rate=body.rate,
            price=body.price,
            basis=Basis(body.basis),
            deadline=body.deadline_unix(),
            off_chain=body.off_chain,
        ),
    )
    if not outcome.ok:
        errors = {("validity_days" if k == "deadline" else k): v for k, v in outcome.errors.items()}
        return _offer_page(request, context, user, note_id, values, status=outcome.status, errors=errors)
    return RedirectResponse("/console/offers?done=made", status_code=303)
