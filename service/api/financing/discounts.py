"""/v1/notes/{id}/discount-offers and /v1/discount-offers: a financier offers to buy a note before
maturity (at a price, or at an annual discount rate converted by `service.api.financing.pricing`); the holder
accepts, and the note and the price in settlement tokens change hands in one transaction (delivery
versus payment), or, for an off-chain offer, against the payment reference the financier recorded.

Every predictable refusal of the ledger is checked first against SQL (and the chain's clock and
token balances), so it is answered as problem+json without sending anything."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.api.alerts.service import require_no_blocking_alert
from service.api.context import AppContext
from service.api.deps import Context, CurrentMember, Financier, Write
from service.api.financing.params import invalid_rate, parse_basis_param
from service.api.financing.pricing import Basis, PricingError, days_between, parse_rate, price_for_rate
from service.api.financing.queries import (
    block_times,
    chain_now,
    find_offers,
    offer_out,
    offers_out,
    read_clock,
    require_funds,
    require_token,
    visible_offer,
    voided_offers,
)
from service.api.financing.schemas import (
    DiscountOfferIn,
    OfferOut,
    OfferPage,
    OfferPaymentIn,
    OfferStatus,
    OfferWrite,
    reference_to_bytes,
)
from service.api.members.queries import member_status, require_acting_member_active, resolve_party
from service.api.notes.queries import notes_out, parse_note_id, visible_note
from service.api.notes.rules import require_active, require_not_frozen
from service.api.params import LedgerId
from service.api.problems import ProblemError, revert_problem
from service.api.schemas import Empty, to_datetime
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import DiscountOffer, Note
from service.domain import MemberStatus
from service.ledger.types import TxResult

router = APIRouter(tags=["discount"])
MAX_PAGE = 200
OFFER_STATUSES: tuple[OfferStatus, ...] = ("open", "accepted", "cancelled", "void", "expired")


def _offered(result: TxResult, note: Note) -> DiscountOffer:
    """The offer row the transaction made (for the answer, before the index has it)."""
    args = next(e.args for e in result.events if e.name == "DiscountOffered")
    return DiscountOffer(
        id=int(args["offerId"]),
        note_id=note.id,
        root_id=note.root_id,
        financier=args["financier"],
        holder=args["holder"],
        price=int(args["price"]),
        deadline=int(args["deadline"]),
        off_chain=bool(args["offChain"]),
        status="open",
        payment_reference=None,
        created_block=result.block_number,
        created_tx=result.tx_hash,
        closed_block=None,
        closed_tx=None,
    )


def _copy(offer: DiscountOffer, **changes: object) -> DiscountOffer:
    """A detached copy of an offer row with `changes` (what the transaction did to it)."""
    values = {column.key: getattr(offer, column.key) for column in DiscountOffer.__table__.columns}
    values.update(changes)
    return DiscountOffer(**values)


def _offer_answer(
    context: AppContext,
    result: TxResult,
    indexed: bool,
    offer_id: int,
    fallback: DiscountOffer,
    note: Note,
    basis: Basis,
    status: OfferStatus,
) -> OfferWrite:
    """The answer of an offer write: the transaction, the offer (from SQL once indexed, else as the
    transaction left it) and its note."""
    with context.session() as session:
        now = chain_now(context)
        row = session.get(DiscountOffer, offer_id) if indexed else None
        if row is not None:
            offer = offers_out(context, session, [row], basis=basis, now=now)[0]
        else:
            members = context.members.find(session, {fallback.financier, fallback.holder})
            times = block_times(session, [fallback.created_block])
            offer = offer_out(
                fallback,
                note,
                members,
                basis=basis,
                value_time=times.get(fallback.created_block, now),
                status=status,
            )
        current = session.get(Note, note.id) if indexed else None
        notes = notes_out(context, session, [current]) if current is not None else []
    return OfferWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, offer=offer, notes=notes
    )


def offer_written(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of an offer write (`inputs`: the offer, or None for the one the transaction made;
    its note; the status the write leaves it in and other `changes`; the basis of quotes)."""
    result, indexed = sent[-1].result, sent[-1].indexed
    status: OfferStatus = inputs["status"]
    with context.session() as session:
        note = session.get(Note, int(inputs["note_id"]))
        offer = session.get(DiscountOffer, int(inputs["offer_id"])) if inputs.get("offer_id") else None
    assert note is not None
    if offer is None:
        written = _offered(result, note)
    else:
        changes: dict[str, Any] = dict(inputs.get("changes") or {})
        if status != "open":
            changes.update(status=status, closed_block=result.block_number, closed_tx=result.tx_hash)
        written = _copy(offer, **changes)
    basis = Basis(inputs.get("basis", Basis.ACT_360.value))
    answer = _offer_answer(context, result, indexed, written.id, written, note, basis, status)
    return int(inputs.get("http_status", 200)), answer


def offer_discount(
    context: AppContext,
    member: ApiMember,
    note_id: int,
    *,
    rate: str | None,
    price: int | None,
    basis: Basis,
    deadline: int,
    off_chain: bool,
) -> Answer:
    """`member` (a financier) offers to buy note `note_id` from its holder at `price`, or at the
    annual discount `rate` under `basis`, until `deadline` (unix seconds): every predictable refusal
    is answered before anything is sent. The route and evidence-backed auto-approval call it."""
    with context.session() as session:
        require_acting_member_active(session, member)
        note = visible_note(session, member, note_id)
    require_active(note)
    require_not_frozen(note)
    if note.holder == member.address:
        raise revert_problem("SelfDealing", f"{member.id} holds note {note.id}")
    with context.engine.connect() as conn:
        require_no_blocking_alert(conn, member.address, note.obligor)  # the early-warning closed loop
    now = chain_now(context)
    if now >= note.maturity:
        raise revert_problem(
            "NoteMatured", f"note {note.id} matured at {to_datetime(note.maturity).isoformat()}"
        )
    days = days_between(now, note.maturity)
    if rate is not None:
        try:
            price = price_for_rate(int(note.amount), parse_rate(rate), days, basis)
        except PricingError as exc:
            raise invalid_rate(str(exc)) from exc
    assert price is not None
    if not 0 < price <= note.amount:
        raise revert_problem(
            "InvalidPrice",
            f"the price {price} must be between 1 and the note's amount {note.amount}",
            price=str(price),
            face=str(note.amount),
        )
    if not now < deadline < note.maturity:
        raise revert_problem(
            "InvalidDeadline",
            f"the deadline must be after {to_datetime(now).isoformat()} and before the maturity "
            f"{to_datetime(note.maturity).isoformat()}",
            field="deadline",
        )
    if not off_chain:
        require_token(context, note.currency)
    offered_price = price
    return transact(
        context,
        member,
        offer_written,
        {"offer_id": None, "note_id": note.id, "basis": basis.value, "status": "open", "http_status": 201},
        lambda account: context.ledger.offer_discount(
            account, note.id, offered_price, deadline, off_chain=off_chain
        ),
    )


# ------------------------------------------------------------------ offer
@router.post("/v1/notes/{note_id}/discount-offers", status_code=201, response_model=OfferWrite)
def make_offer(
    note_id: str,
    body: DiscountOfferIn,
    write: Write,
    context: Context,
    member: Financier,
) -> JSONResponse:
    """Offer to buy an active note from its holder, at `price` or at an annual discount `rate`
    (ACT/360 unless `basis` says ACT/365), valid until `deadline`."""

    def action() -> Answer:
        return offer_discount(
            context,
            member,
            parse_note_id(note_id),
            rate=body.rate,
            price=body.price,
            basis=Basis(body.basis),
            deadline=body.deadline_unix(),
            off_chain=body.off_chain,
        )

    return write.run(member, body, action)


# ------------------------------------------------------------------ accept, cancel, record payment
def _note_of(context: AppContext, offer: DiscountOffer) -> Note:
    with context.session() as session:
        note = session.get(Note, offer.note_id)
    if note is None:
        raise revert_problem("NoteNotFound", f"note {offer.note_id} is not indexed yet")
    return note


def accept_discount_offer(context: AppContext, member: ApiMember, offer_id: str) -> Answer:
    """The holder accepts an offer (DvP): `POST /v1/discount-offers/{id}/accept`."""
    with context.session() as session:
        offer = visible_offer(session, member, offer_id)
    note = _note_of(context, offer)
    if offer.status != "open":
        raise revert_problem("OfferNotOpen", f"offer {offer.id} is {offer.status}")
    now = chain_now(context)
    if now > offer.deadline:
        raise revert_problem(
            "OfferExpired", f"offer {offer.id} expired at {to_datetime(offer.deadline).isoformat()}"
        )
    require_active(note)
    require_not_frozen(note)
    if note.holder != member.address:
        raise revert_problem("NotHolder", f"{member.id} does not hold note {note.id}")
    with context.session() as session:
        require_acting_member_active(session, member)
        financier_status = member_status(session, offer.financier)
        moved = offer.id in voided_offers(session, [offer])
    if offer.holder != member.address:
        raise revert_problem("OfferVoid", f"offer {offer.id} was made to an earlier holder of note {note.id}")
    if moved:
        raise revert_problem(
            "OfferVoid", f"note {note.id} changed hands or was frozen since offer {offer.id} was made"
        )
    if financier_status is not MemberStatus.ACTIVE:
        raise revert_problem("MemberNotActive", f"the financier {offer.financier} is suspended")
    if offer.off_chain:
        if offer.payment_reference is None:
            raise revert_problem(
                "DiscountPaymentNotRecorded", f"the financier has not recorded paying offer {offer.id}"
            )
    else:
        token = require_token(context, note.currency)
        require_funds(context, token, offer.financier, int(offer.price))
    return transact(
        context,
        member,
        offer_written,
        {"offer_id": offer.id, "note_id": note.id, "status": "accepted"},
        lambda account: context.ledger.accept_discount_offer(account, offer.id),
    )


@router.post("/v1/discount-offers/{offer_id}/accept", response_model=OfferWrite)
def accept_offer(
    offer_id: str,
    write: Write,
    context: Context,
    member: CurrentMember,
    body: Empty | None = None,
) -> JSONResponse:
    """The holder accepts: the note goes to the financier and the price in settlement tokens comes
    to the holder in one transaction (for an off-chain offer: against the recorded payment)."""
    return write.run(member, None, lambda: accept_discount_offer(context, member, offer_id))


@router.post("/v1/discount-offers/{offer_id}/cancel", response_model=OfferWrite)
def cancel_offer(
    offer_id: str,
    write: Write,
    context: Context,
    member: Financier,
    body: Empty | None = None,
) -> JSONResponse:
    """The financier withdraws an offer it made (open, expired or void)."""

    def action() -> Answer:
        with context.session() as session:
            offer = visible_offer(session, member, offer_id)
        if offer.financier != member.address:
            raise revert_problem("NotOfferer", f"offer {offer.id} is not {member.id}'s")
        if offer.status != "open":
            raise revert_problem("OfferNotOpen", f"offer {offer.id} is {offer.status}")
        note = _note_of(context, offer)
        return transact(
            context,
            member,
            offer_written,
            {"offer_id": offer.id, "note_id": note.id, "status": "cancelled"},
            lambda account: context.ledger.cancel_discount_offer(account, offer.id),
        )

    return write.run(member, None, action)


@router.post("/v1/discount-offers/{offer_id}/payment", response_model=OfferWrite)
def record_payment(
    offer_id: str,
    body: OfferPaymentIn,
    write: Write,
    context: Context,
    member: Financier,
) -> JSONResponse:
    """The financier records the reference of the off-chain payment of an off-chain offer's price;
    the holder's acceptance then confirms receipt and delivers the note."""

    def action() -> Answer:
        with context.session() as session:
            offer = visible_offer(session, member, offer_id)
        if offer.financier != member.address:
            raise revert_problem("NotOfferer", f"offer {offer.id} is not {member.id}'s")
        if offer.status != "open":
            raise revert_problem("OfferNotOpen", f"offer {offer.id} is {offer.status}")
        if not offer.off_chain:
            raise revert_problem("NotAnOffChainOffer", f"offer {offer.id} is paid in settlement tokens")
        reference = reference_to_bytes(body.reference)
        if not any(reference):
            raise revert_problem("ZeroReference", "the payment reference is all zeros", field="reference")
        if chain_now(context) > offer.deadline:
            raise revert_problem(
                "OfferExpired", f"offer {offer.id} expired at {to_datetime(offer.deadline).isoformat()}"
            )
        note = _note_of(context, offer)
        return transact(
            context,
            member,
            offer_written,
            {
                "offer_id": offer.id,
                "note_id": note.id,
                "status": "open",
                "changes": {"payment_reference": "0x" + reference.hex()},
            },
            lambda account: context.ledger.record_discount_payment(account, offer.id, reference),
        )

    return write.run(member, body, action)


# ------------------------------------------------------------------ reads
@router.get("/v1/discount-offers", response_model=OfferPage)
def list_offers(
    context: Context,
    member: CurrentMember,
    note: Annotated[LedgerId | None, Query(description="offers on this note")] = None,
    status: str | None = Query(default=None, description="open, accepted, cancelled, void or expired"),
    financier: str | None = Query(default=None, description="member id or address of the financier"),
    basis: str | None = Query(default=None, description="day count of the implied rates: ACT/360 or ACT/365"),
    cursor: Annotated[LedgerId | None, Query(description="next_cursor of the previous page")] = None,
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
) -> OfferPage:
    """The offers the caller may see: a financier its own, a holder those made to it or on notes
    it holds, the auditor and the operator all; by id, `limit` at a time."""
    wanted_basis = parse_basis_param(basis)
    if status is not None and status not in OFFER_STATUSES:
        raise ProblemError(
            422,
            "invalid-request",
            "The request is not valid",
            f"status must be one of {list(OFFER_STATUSES)}",
        )
    with context.session() as session:
        wanted_financier = resolve_party(session, financier, "financier") if financier is not None else None
        items, next_cursor = find_offers(
            context,
            session,
            member,
            note=note,
            status=status,
            financier=wanted_financier,
            basis=wanted_basis,
            cursor=cursor,
            limit=limit,
        )
        return OfferPage(items=items, next_cursor=next_cursor)


@router.get("/v1/discount-offers/{offer_id}", response_model=OfferOut)
def get_offer(
    offer_id: str,
    context: Context,
    member: CurrentMember,
    basis: str | None = Query(default=None, description="day count of the implied rate: ACT/360 or ACT/365"),
) -> OfferOut:
    wanted_basis = parse_basis_param(basis)
    with context.session() as session:
        offer = visible_offer(session, member, offer_id)
        return offers_out(context, session, [offer], basis=wanted_basis, now=read_clock(context, session)[0])[
            0
        ]
