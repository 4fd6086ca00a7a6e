"""Receivable use cases shared by the API, the CLI and the benchmark: a supplier's credit score, a
financier's evaluation of a receivable against its policy, and auto-approval (one offer per
receivable per financier, through the discount-offer domain function)."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.context import AppContext
from service.api.financing.discounts import offer_discount
from service.api.financing.pricing import DEFAULT_BASIS
from service.api.financing.queries import chain_now
from service.api.financing.schemas import OfferWrite
from service.api.members.queries import require_acting_member_active
from service.api.notes.queries import visibility as note_visibility
from service.api.notes.queries import visible_note
from service.api.notes.rules import (
    require_active,
    require_credit_room,
    require_maturity_within_tenor,
    require_not_frozen,
)
from service.api.problems import ProblemError, revert_problem
from service.api.receivables.policies import auto_approving, read_policy
from service.api.receivables.schemas import (
    AutoOfferOut,
    CreditScoreOut,
    FactorOut,
    FinancingQuoteOut,
    ReceivableIn,
    ReceivableOut,
    ReceivableWrite,
    RuleOut,
)
from service.api.schemas import to_datetime
from service.api.writes import Answer, Sent, transact
from service.db.evidence_models import EvidenceRecord
from service.db.evidence_models import Receivable as ReceivableRow
from service.db.gateway_models import ApiMember
from service.db.models import Note, ObligorCredit
from service.db.receivable_models import AutoOffer, ReceivablePolicy
from service.domain import LIVE, NoteStatus
from service.receivables.inputs import (
    INVOICE,
    ReceivableFacts,
    financier_exposure,
    receivable_facts,
    score_inputs,
)
from service.receivables.policy import Evaluation, FinancingPolicy, Receivable, evaluate
from service.receivables.score import Score, score

log = logging.getLogger(__name__)
AUTO_OFFERS: Table = AutoOffer.__table__  # type: ignore[assignment]
NOTES: Table = Note.__table__  # type: ignore[assignment]
RECEIVABLES: Table = ReceivableRow.__table__  # type: ignore[assignment]

OFFERED = "offered"
DECLINED = "declined"
FAILED = "failed"
PENDING = "pending"


def credit_score(conn: Connection, supplier: str, now: int) -> Score:
    return score(score_inputs(conn, supplier, now))


@dataclass(frozen=True)
class Assessment:
    """A receivable as a financier's policy sees it."""

    facts: ReceivableFacts
    score: Score
    face: int
    maturity: int
    evaluation: Evaluation


def receivable_not_found(note_id: int) -> ProblemError:
    return ProblemError(
        404,
        "receivable-not-found",
        "No such receivable",
        f"note {note_id} is not an evidence-backed receivable",
    )


def assess(conn: Connection, financier: str, policy: FinancingPolicy, note_id: int, now: int) -> Assessment:
    """Evaluate the receivable rooted at `note_id` against `financier`'s `policy` at `now`."""
    facts = receivable_facts(conn, note_id)
    note = conn.execute(select(NOTES).where(NOTES.c.id == note_id)).mappings().first()
    if facts is None or note is None:
        raise receivable_not_found(note_id)
    supplier_score = credit_score(conn, facts.supplier, now)
    face = int(note["amount"]) - int(note["paid_amount"])
    receivable = Receivable(
        face=face,
        maturity=int(note["maturity"]),
        attesters=facts.live_attesters,
        four_way_complete=facts.four_way_complete,
        score=supplier_score.total,
        exposure=financier_exposure(conn, financier, facts.supplier),
    )
    return Assessment(facts, supplier_score, face, receivable.maturity, evaluate(policy, receivable, now))


def policy_of(conn: Connection, financier: str) -> FinancingPolicy:
    found = read_policy(conn, financier)
    if found is None:
        raise ProblemError(
            409,
            "receivable-policy-required",
            "A receivable policy is required",
            "set your policy for evidence-backed receivables first: PUT /v1/receivable-policy",
        )
    return found[0]


def offer_of(conn: Connection, note_id: int, financier: str) -> int | None:
    """The offer auto-approval made on the receivable for `financier`, if any."""
    return conn.scalar(
        select(AUTO_OFFERS.c.offer_id).where(
            AUTO_OFFERS.c.note_id == note_id, AUTO_OFFERS.c.financier == financier
        )
    )


@dataclass(frozen=True)
class AutoDecision:
    financier: str
    status: str
    offer_id: int | None
    price: int | None
    reason: str | None


def _claim(context: AppContext, note_id: int, financier: str) -> bool:
    """Record that `financier`'s auto-approval handles the receivable; False if it already did."""
    try:
        with context.engine.begin() as conn:
            conn.execute(
                AUTO_OFFERS.insert().values(
                    note_id=note_id, financier=financier, status=PENDING, created_at=datetime.now(UTC)
                )
            )
    except IntegrityError:
        return False
    return True


def _settle(context: AppContext, note_id: int, decision: AutoDecision) -> None:
    with context.engine.begin() as conn:
        conn.execute(
            update(AUTO_OFFERS)
            .where(AUTO_OFFERS.c.note_id == note_id, AUTO_OFFERS.c.financier == decision.financier)
            .values(
                status=decision.status,
                offer_id=decision.offer_id,
                price=decision.price,
                reason=None if decision.reason is None else decision.reason[:300],
            )
        )


def auto_approve(context: AppContext, note_id: int) -> list[AutoDecision]:
    """Every financier with auto-approval on evaluates the receivable `note_id` once: an offer at
    its policy's price when every rule passes, a recorded refusal otherwise. Idempotent: a financier
    that already decided on this receivable is skipped. Offers are signed with the financier's
    custodial key (a self-custodied financier's auto-approval cannot sign: recorded as failed)."""
    with context.engine.connect() as conn:
        policies = auto_approving(conn)
        if not policies:
            return []
        status = conn.scalar(select(NOTES.c.status).where(NOTES.c.id == note_id))
    if status != NoteStatus.ACTIVE:
        return []
    decisions = []
    for financier, policy in sorted(policies.items()):
        if not _claim(context, note_id, financier):
            continue
        decision = _decide(context, financier, policy, note_id)
        _settle(context, note_id, decision)
        log.info(
            "receivable auto-approval",
            extra={"note_id": note_id, "financier": financier, "decision": decision.status},
        )
        decisions.append(decision)
    return decisions


def _decide(context: AppContext, financier: str, policy: FinancingPolicy, note_id: int) -> AutoDecision:
    now = chain_now(context)
    with context.engine.connect() as conn:
        try:
            assessment = assess(conn, financier, policy, note_id, now)
        except ProblemError as exc:
            return AutoDecision(financier, FAILED, None, None, exc.detail)
    evaluation = assessment.evaluation
    if not evaluation.approved or evaluation.price is None:
        return AutoDecision(financier, DECLINED, None, None, "failed: " + ", ".join(evaluation.failed))
    with context.session() as session:
        member = session.scalars(select(ApiMember).where(ApiMember.address == financier)).first()
    if member is None or member.custody != "custodial":
        return AutoDecision(financier, FAILED, None, None, "the gateway holds no key of this financier")
    deadline = min(now + policy.offer_validity_seconds, assessment.maturity - 1)
    price = evaluation.price
    try:
        # a fresh context: the offer is the financier's own write, never part of the journal of
        # the request that triggered it
        status, answer = contextvars.Context().run(
            offer_discount,
            context,
            member,
            note_id,
            rate=None,
            price=price,
            basis=DEFAULT_BASIS,
            deadline=deadline,
            off_chain=False,
        )
    except ProblemError as exc:
        return AutoDecision(financier, FAILED, None, price, exc.detail)
    assert isinstance(answer, OfferWrite) and status == 201
    return AutoDecision(financier, OFFERED, int(answer.offer.id), price, None)


# ------------------------------------------------------------------ receivables: read, originate, convert
def visible_receivable(session: Session, member: ApiMember, note_id: int) -> ReceivableRow:
    """The receivable rooted at `note_id` if `member` may see it (its buyer, or whoever may see the
    note: supplier, holders, financiers the supplier approved with a grant, auditor, operator)."""
    row = session.get(ReceivableRow, note_id)
    if row is None:
        raise receivable_not_found(note_id)
    if member.address != row.buyer:
        try:
            visible_note(session, member, note_id)
        except ProblemError as exc:
            raise receivable_not_found(note_id) from exc
    return row


def receivables_out(
    context: AppContext, session: Session, member: ApiMember, rows: list[ReceivableRow]
) -> list[ReceivableOut]:
    ids = [r.note_id for r in rows]
    notes = {n.id: n for n in session.scalars(select(Note).where(Note.id.in_(ids)))} if ids else {}
    offers: dict[int, list[AutoOfferOut]] = {i: [] for i in ids}
    if ids:
        stmt = select(AutoOffer).where(AutoOffer.note_id.in_(ids)).order_by(AutoOffer.financier)
        for offer in session.scalars(stmt):
            row = next(r for r in rows if r.note_id == offer.note_id)
            if sees_everything(member) or member.address in (row.supplier, offer.financier):
                offers[offer.note_id].append(
                    AutoOfferOut(
                        financier=offer.financier,
                        status=offer.status,
                        offer_id=None if offer.offer_id is None else str(offer.offer_id),
                        price=None if offer.price is None else str(offer.price),
                        reason=offer.reason,
                    )
                )
    parties = {r.supplier for r in rows} | {r.buyer for r in rows}
    members = context.members.ids(session, parties)
    out = []
    with context.engine.connect() as conn:
        for r in rows:
            note = notes[r.note_id]
            facts = receivable_facts(conn, r.note_id)
            out.append(
                ReceivableOut(
                    note_id=str(r.note_id),
                    supplier=r.supplier,
                    supplier_member=members.get(r.supplier),
                    buyer=r.buyer,
                    buyer_member=members.get(r.buyer),
                    invoice_hash=r.invoice_hash,
                    supporting=list(r.supporting or []),
                    attesters_at_origination=r.attesters_at_origination,
                    live_attesters=0 if facts is None else facts.live_attesters,
                    four_way_match=facts is not None and facts.four_way_complete,
                    amount=str(note.amount),
                    currency=note.currency,
                    maturity=to_datetime(note.maturity),
                    status=NoteStatus(note.status).name.lower(),
                    holder=note.holder,
                    obligor=note.obligor,
                    originated_at=r.originated_at,
                    converted_at=r.converted_at,
                    auto_offers=offers[r.note_id],
                )
            )
    return out


def receivable_written(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of an origination (201) or a conversion (200): the receivable as indexed."""
    result, indexed = sent[-1].result, sent[-1].indexed
    note_id = inputs.get("note_id")
    if note_id is None:
        created = result.created_note_ids()
        note_id = created[0] if created else None
    receivable = None
    if indexed and note_id is not None:
        with context.session() as session:
            row = session.get(ReceivableRow, int(note_id))
            member = session.get(ApiMember, inputs["member_id"])
            if row is not None and member is not None:
                receivable = receivables_out(context, session, member, [row])[0]
    return int(inputs["status"]), ReceivableWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, receivable=receivable
    )


def originate(context: AppContext, supplier: ApiMember, body: ReceivableIn) -> Answer:
    """`supplier` originates a receivable on its attested invoice (pre-checked against SQL: the
    ledger's refusals are answered without sending anything)."""
    invoice = body.invoice_hash.lower()
    supporting = [h.lower() for h in body.supporting]
    maturity = body.maturity_unix()
    with context.session() as session:
        require_acting_member_active(session, supplier)
        record = session.get(EvidenceRecord, invoice)
        if record is None:
            raise revert_problem("EvidenceNotFound", f"no trade record {invoice}", field="invoice_hash")
        if record.supplier != supplier.address:
            raise revert_problem(
                "NotEvidenceSupplier", f"you did not register {invoice}", field="invoice_hash"
            )
        if record.kind != INVOICE:
            raise revert_problem("NotAnInvoice", f"{invoice} is a {record.kind} record", field="invoice_hash")
        if record.attester_count < 1:
            raise revert_problem("EvidenceNotAttested", f"no data provider attests invoice {invoice}")
        if record.financed_note_id is not None:
            raise revert_problem(
                "DocumentAlreadyUsed", f"invoice {invoice} already backs receivable {record.financed_note_id}"
            )
        if body.amount > record.amount:
            raise revert_problem(
                "AmountExceedsInvoice", f"{body.amount} exceeds the invoice's {record.amount}", field="amount"
            )
        for i, doc in enumerate(supporting):
            other = session.get(EvidenceRecord, doc)
            if other is None:
                raise revert_problem("EvidenceNotFound", f"no trade record {doc}", field="supporting")
            repeated = doc == invoice or doc in supporting[:i]
            if repeated or other.supplier != supplier.address or other.buyer != record.buyer:
                raise revert_problem(
                    "UnrelatedEvidence",
                    f"{doc} is not another record of yours on the same buyer",
                    field="supporting",
                )
        require_maturity_within_tenor(session, context.ledger.address, chain_now(context), maturity)
        require_credit_room(session, supplier.address, body.amount, "your")
    return transact(
        context,
        supplier,
        receivable_written,
        {"status": 201, "member_id": supplier.id},
        lambda account: context.ledger.originate_receivable(
            account,
            bytes.fromhex(invoice[2:]),
            [bytes.fromhex(h[2:]) for h in supporting],
            body.amount,
            maturity,
        ),
    )


def convert(context: AppContext, buyer: ApiMember, note_id: int) -> Answer:
    """The buyer confirms the underlying payable: the receivable becomes its confirmed note."""
    with context.session() as session:
        require_acting_member_active(session, buyer)
        row = session.get(ReceivableRow, note_id)
        if row is None:
            raise receivable_not_found(note_id)
        if row.buyer != buyer.address:
            raise revert_problem("NotReceivableBuyer", f"you are not the buyer of receivable {note_id}")
        if row.converted_block is not None:
            raise revert_problem("ReceivableAlreadyConverted", f"receivable {note_id} is converted already")
        note = session.get(Note, note_id)
        assert note is not None
        require_active(note)  # an unsplit root: a split consumes it
        require_not_frozen(note)
        if chain_now(context) >= note.maturity:
            raise revert_problem("NoteMatured", f"receivable {note_id} matured")
        credit = session.get(ObligorCredit, buyer.address)
        limit, outstanding = (credit.credit_limit, credit.outstanding) if credit else (0, 0)
        live = _live_remainder(session, note_id)
        if outstanding + live > limit:
            raise revert_problem(
                "CreditLimitExceeded",
                f"outstanding {outstanding} + {live} exceeds your credit limit {limit}",
                credit_limit=str(limit),
                outstanding=str(outstanding),
            )
    return transact(
        context,
        buyer,
        receivable_written,
        {"status": 200, "member_id": buyer.id, "note_id": note_id},
        lambda account: context.ledger.convert_receivable(account, note_id),
    )


def _live_remainder(session: Session, root_id: int) -> int:
    rows = session.scalars(
        select(Note).where(Note.root_id == root_id, Note.status.in_([int(s) for s in LIVE]))
    ).all()
    return sum(int(n.amount) - int(n.paid_amount) for n in rows)


def _invalid(detail: str, field: str) -> ProblemError:
    return ProblemError(422, "invalid-request", "The request is not valid", detail, field=field)


def auto_approve_pending(context: AppContext, limit: int = 100) -> int:
    """Auto-approval of receivables that no origination answer handled (originated through the
    relay, or not indexed before the answer): live roots still held by their supplier, not yet
    decided by every auto-approving financier. Run by the gateway's scheduler; returns the offers
    made."""
    with context.engine.connect() as conn:
        financiers = sorted(auto_approving(conn))
        if not financiers:
            return 0
        decided = select(func.count()).where(AUTO_OFFERS.c.note_id == NOTES.c.id).scalar_subquery()
        roots = conn.scalars(
            select(RECEIVABLES.c.note_id)
            .join(NOTES, NOTES.c.id == RECEIVABLES.c.note_id)
            .where(
                RECEIVABLES.c.converted_block.is_(None),
                NOTES.c.status == int(NoteStatus.ACTIVE),
                NOTES.c.holder == RECEIVABLES.c.supplier,
                decided < len(financiers),
            )
            .order_by(RECEIVABLES.c.note_id)
            .limit(limit)
        ).all()
    return sum(
        1
        for note_id in roots
        for decision in auto_approve(context, int(note_id))
        if decision.status == OFFERED
    )


def find_receivables(
    context: AppContext,
    session: Session,
    member: ApiMember,
    *,
    supplier: str | None = None,
    buyer: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> tuple[list[ReceivableOut], bool]:
    """The receivables `member` may see (as buyer, or through their notes), optionally of one
    supplier or buyer (addresses), by note id after `cursor`; and whether more follow."""
    stmt = select(ReceivableRow).order_by(ReceivableRow.note_id).limit(limit + 1)
    if supplier is not None:
        stmt = stmt.where(ReceivableRow.supplier == supplier)
    if buyer is not None:
        stmt = stmt.where(ReceivableRow.buyer == buyer)
    if cursor is not None:
        stmt = stmt.where(ReceivableRow.note_id > cursor)
    condition = note_visibility(member)
    if condition is not None:
        seen = select(Note.id).where(Note.parent_id.is_(None), condition)
        stmt = stmt.where(or_(ReceivableRow.buyer == member.address, ReceivableRow.note_id.in_(seen)))
    rows = list(session.scalars(stmt))
    return receivables_out(context, session, member, rows[:limit]), len(rows) > limit


def financing_quote_of(context: AppContext, financier: str, note_id: int) -> FinancingQuoteOut:
    """Which rules of `financier`'s policy receivable `note_id` passes and fails, with the figures,
    and the price the policy gives it (`POST /v1/receivables/{id}/financing-quote`)."""
    now = chain_now(context)
    with context.engine.connect() as conn:
        policy = policy_of(conn, financier)
        assessment = assess(conn, financier, policy, note_id, now)
        offer_id = offer_of(conn, note_id, financier)
    evaluation = assessment.evaluation
    return FinancingQuoteOut(
        note_id=str(note_id),
        financier=financier,
        approved=evaluation.approved,
        rules=[
            RuleOut(rule=r.rule, passed=r.passed, required=r.required, actual=r.actual)
            for r in evaluation.rules
        ],
        score=assessment.score.total,
        face=str(assessment.face),
        advance=str(evaluation.advance),
        annual_rate_bps=None if evaluation.band is None else evaluation.band.annual_rate_bps,
        days=evaluation.days,
        basis="ACT/360",
        price=None if evaluation.price is None else str(evaluation.price),
        offer_id=None if offer_id is None else str(offer_id),
    )


def credit_score_of(context: AppContext, address: str, member_id: str) -> CreditScoreOut:
    """A member's explainable score with its factors (`GET /v1/members/{id}/credit-score`)."""
    now = chain_now(context)
    with context.engine.connect() as conn:
        result = credit_score(conn, address, now)
    return CreditScoreOut(
        member_id=member_id,
        address=address,
        score=result.total,
        factors=[
            FactorOut(
                name=f.name,
                value=f.value,
                weight=f.weight,
                fraction_bps=f.fraction_bps,
                contribution=f.contribution,
            )
            for f in result.factors
        ],
        computed_at=to_datetime(now),
    )


def financiers_with_policy(session: Session) -> list[str]:
    """The financiers that set a receivable policy (whose financing quote a receivable can have)."""
    return list(session.scalars(select(ReceivablePolicy.financier).order_by(ReceivablePolicy.financier)))
