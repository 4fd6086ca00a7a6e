"""Reads from SQL for the financing endpoints: discount offers and who may see them, what remains
to pay on a note, what is overdue, the risk views, and the pre-checks that need the chain (its
clock, settlement-token balances and allowances).

Amounts are summed in Python: on SQLite `ExactInteger` stores zero-padded strings, so SQL `SUM`
would be wrong there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from service.api.auth import sees_everything
from service.api.cache.callers import Caller
from service.api.cache.members import MemberRef
from service.api.context import AppContext
from service.api.display import display_amount
from service.api.financing.pricing import Basis, days_between, format_rate, is_exact, rate_for_price
from service.api.financing.schemas import OfferOut, OfferStatus, reference_text
from service.api.notes.queries import overdue_clock
from service.api.problems import ProblemError, revert_problem
from service.api.schemas import to_datetime
from service.db.gateway_models import ApiMember
from service.db.models import (
    DiscountOffer,
    Event,
    MinPartAmount,
    Note,
    PaymentClaim,
)
from service.domain import NoteStatus
from service.ledger.client import SettlementTokenClient


# ------------------------------------------------------------------ time and configuration
def chain_now(context: AppContext) -> int:
    """The chain's clock (latest block time): what the contract will compare against."""
    return context.chain.now()


def read_clock(context: AppContext, session: Session) -> tuple[int, int]:
    """(now, grace period) reads derive from: the latest indexed block's time, or the wall clock if
    later (a quiet chain mints no blocks; a test chain's clock may run ahead of the wall clock), and
    the ledger's grace period as indexed."""
    return overdue_clock(session, context.ledger.address)()


def grace_period(context: AppContext, session: Session) -> int:
    return read_clock(context, session)[1]


def remaining(note: Note) -> int:
    """What is left to pay on a live note (0 on any other)."""
    if not NoteStatus(note.status).is_live:
        return 0
    return int(note.amount) - int(note.paid_amount or 0)


# ------------------------------------------------------------------ settlement tokens
def require_token(context: AppContext, currency: str) -> SettlementTokenClient:
    token = context.settlement_token(currency)
    if token is None:
        raise revert_problem("SettlementTokenNotSet", f"no settlement token is registered for {currency}")
    return token


def require_funds(context: AppContext, token: SettlementTokenClient, payer: str, amount: int) -> None:
    """Pre-check that `payer` has `amount` settlement tokens and allows the ledger to take them (the
    order the token checks them in: allowance, then balance)."""
    allowance = token.allowance(payer, context.ledger.address)
    balance = token.balance_of(payer)
    if allowance < amount:
        raise revert_problem(
            "ERC20InsufficientAllowance",
            f"{payer} allows the ledger {allowance} settlement tokens, {amount} are needed",
            allowance=str(allowance),
            needed=str(amount),
        )
    if balance < amount:
        raise revert_problem(
            "ERC20InsufficientBalance",
            f"{payer} holds {balance} settlement tokens, {amount} are needed",
            balance=str(balance),
            needed=str(amount),
        )


# ------------------------------------------------------------------ discount offers
def offer_visibility(member: ApiMember | Caller) -> ColumnElement[bool] | None:
    """SQL condition on `discount_offers` for the offers `member` may see (None: all, for the
    auditor and the operator): the offers it made and the offers made to it (it held the note
    then). Not the offers made to someone else on a note it holds now or held, nor on a note of a
    tree it is the obligor of: who bid what to another holder is that holder's business. The
    offer endpoints and the provenance answer both apply this rule (`visible_offer_ids`)."""
    if sees_everything(member):
        return None
    address = member.address
    return or_(DiscountOffer.financier == address, DiscountOffer.holder == address)


def visible_offer_ids(session: Session, member: ApiMember | Caller, root_id: int) -> frozenset[int] | None:
    """Ids of the offers on notes of the tree of `root_id` that `member` may see (`offer_visibility`;
    None: all of them). One lookup of `ix_discount_offers_root_id`."""
    condition = offer_visibility(member)
    if condition is None:
        return None
    stmt = select(DiscountOffer.id).where(DiscountOffer.root_id == root_id, condition)
    return frozenset(int(offer_id) for offer_id in session.scalars(stmt))


def offer_not_found(raw: str | int) -> ProblemError:
    return ProblemError(404, "offer-not-found", "No such offer", f"no discount offer {raw} that you may see")


def visible_offer(session: Session, member: ApiMember, raw_id: str) -> DiscountOffer:
    if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 18:
        raise offer_not_found(raw_id)
    stmt = select(DiscountOffer).where(DiscountOffer.id == int(raw_id))
    condition = offer_visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    offer = session.scalars(stmt).first()
    if offer is None:
        raise offer_not_found(raw_id)
    return offer


def offer_status(offer: DiscountOffer, note: Note | None, now: int, *, moved: bool = False) -> OfferStatus:
    """open | accepted | cancelled as the ledger recorded it; an open offer is `expired` past its
    deadline, and `void` once its note has moved (even if it came back: `moved`), split, been
    frozen (even if unfrozen since) or is no longer active."""
    if offer.status in ("accepted", "cancelled"):
        return "accepted" if offer.status == "accepted" else "cancelled"
    if now > offer.deadline:
        return "expired"
    if (
        moved
        or note is None
        or note.holder != offer.holder
        or NoteStatus(note.status) is not NoteStatus.ACTIVE
        or note.frozen
    ):
        return "void"
    return "open"


VOIDING_EVENTS = ("NoteTransferred", "NoteDiscounted", "NoteFrozen", "NoteSplit")
"""Events on a note that void every offer made on it before (the ledger bumps the note's offer
epoch on transfers, discounts and freezes; a split consumes the note)."""


def voided_offers(session: Session, offers: Sequence[DiscountOffer]) -> set[int]:
    """Ids of the open `offers` whose note changed hands or was frozen after the offer was made
    (by event position, block then log index), whatever its state now."""
    open_offers = [o for o in offers if o.status == "open"]
    if not open_offers:
        return set()
    note_ids = {o.note_id for o in open_offers}
    made = {
        str(tx): (int(block), int(index))
        for tx, block, index in session.execute(
            select(Event.tx_hash, Event.block_number, Event.log_index).where(
                Event.name == "DiscountOffered",
                Event.tx_hash.in_({o.created_tx for o in open_offers}),
            )
        )
    }
    latest: dict[int, tuple[int, int]] = {}
    for note_id, block, index in session.execute(
        select(Event.note_id, Event.block_number, Event.log_index).where(
            Event.note_id.in_(note_ids), Event.name.in_(VOIDING_EVENTS)
        )
    ):
        position = (int(block), int(index))
        if note_id is not None and position > latest.get(int(note_id), (-1, -1)):
            latest[int(note_id)] = position
    return {
        o.id
        for o in open_offers
        if o.note_id in latest and latest[o.note_id] > made.get(o.created_tx, (o.created_block, -1))
    }


def offer_status_sql(now: int) -> ColumnElement[str]:
    """`offer_status` (with `moved` as `voided_offers` finds it) as one SQL CASE expression over a
    row of `discount_offers` outer-joined with its note (`Note.id == DiscountOffer.note_id`) at the
    chain time `now`: accepted | cancelled as recorded; an open offer is expired past its deadline,
    void if its note is missing, held by another, not active or frozen, or had a transfer, discount,
    freeze or split (`VOIDING_EVENTS`) after the offer's own DiscountOffered event (by block, then
    log index within the offer's block), else open. The voiding test is an EXISTS on
    `ix_events_note_id`, evaluated only for open offers within their deadline."""
    voiding = aliased(Event)
    offered = aliased(Event)
    made_index = (
        select(func.max(offered.log_index))
        .where(
            offered.note_id == DiscountOffer.note_id,
            offered.block_number == DiscountOffer.created_block,
            offered.tx_hash == DiscountOffer.created_tx,
            offered.name == "DiscountOffered",
        )
        .scalar_subquery()
    )
    moved = exists().where(
        voiding.note_id == DiscountOffer.note_id,
        voiding.name.in_(VOIDING_EVENTS),
        or_(
            voiding.block_number > DiscountOffer.created_block,
            and_(
                voiding.block_number == DiscountOffer.created_block,
                voiding.log_index > func.coalesce(made_index, -1),
            ),
        ),
    )
    void = or_(
        Note.id.is_(None),
        Note.holder != DiscountOffer.holder,
        Note.status != int(NoteStatus.ACTIVE),
        Note.frozen.is_(true()),
        moved,
    )
    return case(
        (DiscountOffer.status == "accepted", "accepted"),
        (DiscountOffer.status == "cancelled", "cancelled"),
        (DiscountOffer.deadline < now, "expired"),
        (void, "void"),
        else_="open",
    )


def offers_with_status(now: int) -> Select[DiscountOffer, str]:
    """`SELECT discount_offers.*, <offer_status_sql(now)> FROM discount_offers LEFT JOIN notes`: rows
    of (DiscountOffer, status), to filter further (`offer_status_condition`)."""
    return select(DiscountOffer, offer_status_sql(now).label("derived_status")).outerjoin(
        Note, Note.id == DiscountOffer.note_id
    )


def offer_status_condition(status: OfferStatus, now: int) -> list[ColumnElement[bool]]:
    """WHERE conditions for offers whose derived status is `status` at `now`: the stored status and
    the deadline side first (what the indexes `(financier | holder, status, deadline)` serve), then
    the derived status itself for open and void."""
    if status in ("accepted", "cancelled"):
        return [DiscountOffer.status == status]
    if status == "expired":
        return [DiscountOffer.status == "open", DiscountOffer.deadline < now]
    return [DiscountOffer.status == "open", DiscountOffer.deadline >= now, offer_status_sql(now) == status]


def block_times(session: Session, blocks: Iterable[int]) -> dict[int, int]:
    """Time of each block (from its indexed events)."""
    wanted = sorted(set(blocks))
    if not wanted:
        return {}
    rows = session.execute(
        select(Event.block_number, func.min(Event.block_time))
        .where(Event.block_number.in_(wanted))
        .group_by(Event.block_number)
    )
    return {int(b): int(t) for b, t in rows}


def offer_out(
    offer: DiscountOffer,
    note: Note | None,
    members: dict[str, MemberRef],
    *,
    basis: Basis,
    value_time: int | None,
    status: OfferStatus,
) -> OfferOut:
    face = int(note.amount) if note is not None else None
    days = days_between(value_time, note.maturity) if note is not None and value_time is not None else None
    rate = None
    if face is not None and days is not None and days >= 1 and 0 < offer.price <= face:
        rate = rate_for_price(face, int(offer.price), days, basis)
    currency = note.currency if note is not None else None
    financier, holder = members.get(offer.financier), members.get(offer.holder)

    def shown(amount: int | None) -> str | None:
        return display_amount(amount, currency) if amount is not None and currency is not None else None

    return OfferOut(
        id=str(offer.id),
        note_id=str(offer.note_id),
        root_id=str(offer.root_id),
        financier=offer.financier,
        financier_member=financier.id if financier else None,
        financier_name=financier.name if financier else None,
        holder=offer.holder,
        holder_member=holder.id if holder else None,
        holder_name=holder.name if holder else None,
        currency=currency,
        face=str(face) if face is not None else None,
        face_display=shown(face),
        price=str(offer.price),
        price_display=shown(int(offer.price)),
        discount=str(face - int(offer.price)) if face is not None else None,
        discount_display=shown(face - int(offer.price)) if face is not None else None,
        basis=basis.value,
        value_date=to_datetime(value_time).date() if value_time is not None else None,
        days=days,
        rate=format_rate(rate) if rate is not None else None,
        rate_exact=is_exact(rate) if rate is not None else None,
        deadline=to_datetime(offer.deadline),
        off_chain=bool(offer.off_chain),
        status=status,
        payment_reference=reference_text(offer.payment_reference),
        payment_reference_hex=offer.payment_reference,
        created_tx=offer.created_tx,
        created_block=offer.created_block,
        closed_tx=offer.closed_tx,
        closed_block=offer.closed_block,
    )


def offers_out(
    context: AppContext,
    session: Session,
    offers: Sequence[DiscountOffer],
    *,
    basis: Basis,
    now: int,
    statuses: dict[int, OfferStatus] | None = None,
) -> list[OfferOut]:
    """The offers as answered, with their notes, derived statuses (as given in `statuses`, by offer
    id, from `offer_status_sql`; else derived here) and implied rates (the day count from the UTC
    date of the block each offer was made in)."""
    notes = {n.id: n for n in session.scalars(select(Note).where(Note.id.in_({o.note_id for o in offers})))}
    members = context.members.find(session, {o.financier for o in offers} | {o.holder for o in offers})
    times = block_times(session, (o.created_block for o in offers))
    if statuses is None:
        voided = voided_offers(session, offers)
        statuses = {o.id: offer_status(o, notes.get(o.note_id), now, moved=o.id in voided) for o in offers}
    return [
        offer_out(
            o,
            notes.get(o.note_id),
            members,
            basis=basis,
            value_time=times.get(o.created_block),
            status=statuses[o.id],
        )
        for o in offers
    ]


def min_part_amount(session: Session, currency: str) -> int:
    """The indexed minimum part amount of `currency`: no note or split part below it (0: none)."""
    row = session.get(MinPartAmount, currency)
    return 0 if row is None else int(row.amount)


def pending_claim(session: Session, note_id: int) -> PaymentClaim | None:
    return session.get(PaymentClaim, note_id)


# ------------------------------------------------------------------ risk views


def find_offers(
    context: AppContext,
    session: Session,
    member: ApiMember | Caller,
    *,
    note: int | None = None,
    status: OfferStatus | None = None,
    financier: str | None = None,
    holder: str | None = None,
    basis: Basis = Basis.ACT_360,
    cursor: int | None = None,
    limit: int = 50,
) -> tuple[list[OfferOut], str | None]:
    """The offers `member` may see (`offer_visibility`), optionally on one note, in one status, of
    one financier or made to one holder (addresses), by id after `cursor`, `limit` at a time, and
    the next page's cursor: the listing of `GET /v1/discount-offers` and of the console."""
    now, _ = read_clock(context, session)
    stmt = offers_with_status(now).order_by(DiscountOffer.id).limit(limit + 1)
    if note is not None:
        stmt = stmt.where(DiscountOffer.note_id == note)
    if financier is not None:
        stmt = stmt.where(DiscountOffer.financier == financier)
    if holder is not None:
        stmt = stmt.where(DiscountOffer.holder == holder)
    if status is not None:
        stmt = stmt.where(*offer_status_condition(status, now))
    condition = offer_visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    if cursor is not None:
        stmt = stmt.where(DiscountOffer.id > cursor)
    rows = session.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    offers = [row[0] for row in rows]
    statuses = {row[0].id: cast(OfferStatus, row[1]) for row in rows}
    items = offers_out(context, session, offers, basis=basis, now=now, statuses=statuses)
    return items, (items[-1].id if more else None)
