"""Settlement at maturity: the obligor pays a note (all that remains, or part of it) in settlement
tokens or claims an off-chain payment the holder then confirms; settles every live note of a tree in
`settleRoot` batches; anyone marks an unpaid note overdue after the grace period; the operator
writes one off.

As for the other writes, every predictable refusal of the ledger is answered as problem+json before
anything is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.context import AppContext
from service.api.deps import Context, CurrentMember, Operator, Payer, Write
from service.api.financing.queries import (
    chain_now,
    grace_period,
    pending_claim,
    remaining,
    require_funds,
    require_token,
)
from service.api.financing.schemas import (
    BatchOut,
    ConfirmPaymentIn,
    PaymentOut,
    RootSettlementWrite,
    SettleIn,
    SettlementJobOut,
    SettlementWrite,
    WriteOffIn,
    reference_text,
    reference_to_bytes,
)
from service.api.financing.settlement_job_routes import job_out
from service.api.financing.settlement_jobs import active_job, create_job, payable_indices, settle_batches
from service.api.notes.queries import notes_out, parse_note_id, visible_note
from service.api.notes.rules import require_not_frozen, require_payable, status_name
from service.api.notes.schemas import NoteOut
from service.api.problems import ProblemError, revert_problem
from service.api.schemas import Empty, to_datetime
from service.api.writes import Answer, Sent, Step, signer, transact
from service.db.gateway_models import ApiMember
from service.db.models import Note
from service.domain import NoteStatus, overdue_at
from service.ledger.types import TxResult

router = APIRouter(tags=["settlement"])


def _load(context: AppContext, member: ApiMember, raw_id: str) -> Note:
    with context.session() as session:
        return visible_note(session, member, parse_note_id(raw_id))


def _payments(result: TxResult) -> list[PaymentOut]:
    out = []
    for event in result.events:
        if event.name == "NotePaid":
            reference = bytes(event.args["paymentReference"])
            out.append(
                PaymentOut(
                    note_id=str(event.args["noteId"]),
                    holder=str(event.args["holder"]),
                    amount=str(event.args["amount"]),
                    remaining=str(event.args["remaining"]),
                    payment_reference=reference_text("0x" + reference.hex()) if any(reference) else None,
                )
            )
    return out


def _notes(context: AppContext, indexed: bool, note_ids: list[int]) -> list[NoteOut]:
    if not indexed or not note_ids:
        return []
    with context.session() as session:
        rows = session.scalars(select(Note).where(Note.id.in_(note_ids)).order_by(Note.id)).all()
        return list(notes_out(context, session, rows))


def _check_payable(context: AppContext, note: Note, member: ApiMember) -> int:
    """The contract's checks on a payment by `member`, in its order; returns what remains."""
    require_payable(note)
    require_not_frozen(note)
    if note.obligor != member.address:
        raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {note.id}")
    if chain_now(context) < note.maturity:
        raise revert_problem(
            "NoteNotMatured", f"note {note.id} matures at {to_datetime(note.maturity).isoformat()}"
        )
    return remaining(note)


def _too_large(note: Note, amount: int, left: int) -> ProblemError:
    return revert_problem(
        "PaymentTooLarge",
        f"{amount} exceeds the {left} that remains of note {note.id}",
        remaining=str(left),
        field="amount",
    )


def _overdue_at(context: AppContext, note: Note) -> int:
    with context.session() as session:
        return overdue_at(note.maturity, grace_period(context, session))


def settlement_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a write on one note's settlement: what the route computed before sending
    (`action`, `amount`, `remaining`, `payment_reference`) and the payments the transaction made."""
    result, indexed = sent[-1].result, sent[-1].indexed
    note_id = int(inputs["note_id"])
    return 200, SettlementWrite(
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        indexed=indexed,
        action=inputs["action"],
        amount=inputs.get("amount"),
        remaining=inputs["remaining"],
        payment_reference=inputs.get("payment_reference"),
        payments=_payments(result),
        note_ids=[str(note_id)],
        notes=_notes(context, indexed, [note_id]),
    )


def root_settled_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a tree's settlement: each `settleRoot` batch sent and what it paid."""
    batches: list[BatchOut] = []
    payments: list[PaymentOut] = []
    indexed = True
    for done in sent:
        if "first" not in done.label:
            continue
        paid = _payments(done.result)
        payments.extend(paid)
        indexed = indexed and done.indexed
        batches.append(
            BatchOut(
                tx_hash=done.result.tx_hash,
                block_number=done.result.block_number,
                first_index=int(done.label["first"]),
                count=int(done.label["count"]),
                notes_paid=len(paid),
                total_paid=str(sum((int(p.amount) for p in paid), 0)),
            )
        )
    return 200, RootSettlementWrite(
        root_id=str(inputs["root_id"]),
        tx_hashes=[b.tx_hash for b in batches],
        batches=batches,
        notes_paid=len(payments),
        total_paid=str(sum((int(p.amount) for p in payments), 0)),
        indexed=indexed,
        payments=payments,
        notes=_notes(context, indexed, [int(p.note_id) for p in payments]),
    )


# ------------------------------------------------------------------ pay or claim
def pay_note(context: AppContext, member: ApiMember, note_id: str, wanted: SettleIn) -> Answer:
    """The obligor pays (or claims an off-chain payment of) a note: `POST /v1/notes/{id}/settle`."""
    note = _load(context, member, note_id)
    left = _check_payable(context, note, member)
    amount = wanted.amount if wanted.amount is not None else left
    if amount > left:
        raise _too_large(note, amount, left)
    if wanted.payment_reference is not None:
        reference = reference_to_bytes(wanted.payment_reference)
        if not any(reference):
            raise revert_problem(
                "ZeroReference", "the payment reference is all zeros", field="payment_reference"
            )
        return transact(
            context,
            member,
            settlement_answer,
            {
                "action": "claimed",
                "amount": str(amount),
                "remaining": str(left),
                "payment_reference": reference_text("0x" + reference.hex()),
                "note_id": note.id,
            },
            lambda account: context.ledger.claim_payment(account, note.id, amount, reference),
        )
    token = require_token(context, note.currency)
    require_funds(context, token, member.address, amount)
    return transact(
        context,
        member,
        settlement_answer,
        {"action": "paid", "amount": str(amount), "remaining": str(left - amount), "note_id": note.id},
        lambda account: context.ledger.pay(account, note.id, amount),
    )


@router.post("/v1/notes/{note_id}/settle", response_model=SettlementWrite)
def settle_note(
    note_id: str,
    write: Write,
    context: Context,
    member: Payer,
    body: SettleIn | None = None,
) -> JSONResponse:
    """The obligor pays `amount` (default: all that remains) of a note on or after maturity, in
    settlement tokens; with `payment_reference`, it claims an off-chain payment instead, which the
    holder confirms (`/confirm-payment`)."""
    wanted = body or SettleIn()
    return write.run(member, body, lambda: pay_note(context, member, note_id, wanted))


@router.post("/v1/notes/{note_id}/confirm-payment", response_model=SettlementWrite)
def confirm_payment(
    note_id: str,
    write: Write,
    context: Context,
    member: CurrentMember,
    body: ConfirmPaymentIn | None = None,
) -> JSONResponse:
    """The holder confirms the obligor's pending claim of an off-chain payment; it is then applied
    like a payment in tokens (the note settled, or paid in part)."""
    wanted = body or ConfirmPaymentIn()

    def action() -> Answer:
        note = _load(context, member, note_id)
        if note.holder != member.address:
            raise revert_problem("NotHolder", f"{member.id} does not hold note {note.id}")
        with context.session() as session:
            claim = pending_claim(session, note.id)
        if claim is None:
            raise revert_problem(
                "PaymentClaimMismatch", f"the obligor has no pending claim on note {note.id}"
            )
        claimed = bytes.fromhex(claim.payment_reference[2:])
        if wanted.amount is not None and wanted.amount != claim.amount:
            raise revert_problem(
                "PaymentClaimMismatch",
                f"the pending claim is of {claim.amount}, not {wanted.amount}",
                claimed_amount=str(claim.amount),
            )
        if wanted.payment_reference is not None and reference_to_bytes(wanted.payment_reference) != claimed:
            raise revert_problem(
                "PaymentClaimMismatch",
                "the pending claim has another payment reference",
                claimed_reference=reference_text(claim.payment_reference),
            )
        require_payable(note)
        require_not_frozen(note)
        left = remaining(note)
        amount = int(claim.amount)
        if amount > left:
            raise _too_large(note, amount, left)
        return transact(
            context,
            member,
            settlement_answer,
            {
                "action": "confirmed",
                "amount": str(amount),
                "remaining": str(left - amount),
                "payment_reference": reference_text(claim.payment_reference),
                "note_id": note.id,
            },
            lambda account: context.ledger.confirm_payment(account, note.id, amount, claimed),
        )

    return write.run(member, body, action)


@router.post("/v1/notes/{note_id}/payment-claim/withdraw", response_model=SettlementWrite)
def withdraw_payment_claim(
    note_id: str,
    write: Write,
    context: Context,
    member: Payer,
    body: Empty | None = None,
) -> JSONResponse:
    """The obligor withdraws its unconfirmed claim of an off-chain payment (made by mistake, or the
    payment bounced). A claim also ends by itself with the note's next payment or its write-off."""

    def action() -> Answer:
        note = _load(context, member, note_id)
        if note.obligor != member.address:
            raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {note.id}")
        with context.session() as session:
            claim = pending_claim(session, note.id)
        if claim is None:
            raise revert_problem(
                "NoPaymentClaim", f"note {note.id} has no pending claim of an off-chain payment"
            )
        return transact(
            context,
            member,
            settlement_answer,
            {
                "action": "claim_withdrawn",
                "amount": str(claim.amount),
                "remaining": str(remaining(note)),
                "payment_reference": reference_text(claim.payment_reference),
                "note_id": note.id,
            },
            lambda account: context.ledger.withdraw_payment_claim(account, note.id),
        )

    return write.run(member, None, action)


# ------------------------------------------------------------------ a whole tree
def _settle_call(
    context: AppContext, root_id: int, first: int, count: int
) -> Callable[[LocalAccount], TxResult]:
    return lambda account: context.ledger.settle_root(account, root_id, first, count)


def _job_answer(response: JSONResponse) -> JSONResponse:
    """A job answer (first or replayed) names the job's resource in `Location`."""
    if response.status_code == 202:
        job_id = json.loads(bytes(response.body))["id"]
        response.headers["Location"] = f"/v1/settlement-jobs/{job_id}"
    return response


def settle_tree(
    context: AppContext, member: ApiMember, root_id: str, *, respond_async: bool = False
) -> Answer:
    """The obligor settles every payable note of a tree: `POST /v1/roots/{id}/settle` (202: a job)."""
    with context.session() as session:
        root = visible_note(session, member, parse_note_id(root_id))
        if root.id != root.root_id:
            raise ProblemError(404, "note-not-found", "No such root", f"note {root.id} is not a root")
        running = active_job(session, root.id) if root.obligor == member.address else None
        if running is not None:
            return 202, job_out(running)
        payable = payable_indices(session, root.id)
    if root.obligor != member.address:
        raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {root.id}")
    if chain_now(context) < root.maturity:
        raise revert_problem(
            "NoteNotMatured", f"note {root.id} matures at {to_datetime(root.maturity).isoformat()}"
        )
    if not payable:
        raise ProblemError(
            409,
            "nothing-to-settle",
            "Nothing to settle",
            f"no note of tree {root.id} is active or overdue and unfrozen",
        )
    total = sum((left for _, left in payable), 0)
    token = require_token(context, root.currency)
    require_funds(context, token, member.address, total)
    windows = settle_batches([index for index, _ in payable])
    if len(windows) > 1 or respond_async:
        signer(context, member)  # a self-custodied obligor is refused now, not by the job
        job, _new = create_job(context, member, root, windows, total, len(payable))
        return 202, job_out(job)
    steps = [
        Step(_settle_call(context, root.id, first, count), {"first": first, "count": count})
        for first, count in windows
    ]
    return transact(context, member, root_settled_answer, {"root_id": root.id}, *steps)


@router.post(
    "/v1/roots/{root_id}/settle",
    response_model=RootSettlementWrite,
    responses={202: {"model": SettlementJobOut, "description": "settled in the background by a job"}},
)
def settle_root(
    root_id: str,
    write: Write,
    context: Context,
    member: Payer,
    prefer: Annotated[str | None, Header(alias="Prefer")] = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The obligor pays, on or after maturity, every live unfrozen note of a tree what remains of it,
    in settlement tokens, in `settleRoot` transactions of up to 200 tree indices. A tree paid in one
    transaction is answered at once (200). One that needs more, or a request with
    `Prefer: respond-async`, is answered 202 with a settlement job (`Location:
    /v1/settlement-jobs/{id}`) that the gateway runs in the background; while it is unfinished, a
    new request for the same tree answers 202 with that job. Frozen notes are left for later."""
    respond_async = prefer is not None and "respond-async" in prefer.lower()
    return write.run(
        member,
        None,
        lambda: settle_tree(context, member, root_id, respond_async=respond_async),
        finish=_job_answer,
    )


# ------------------------------------------------------------------ overdue and write-off
@router.post("/v1/notes/{note_id}/mark-overdue", response_model=SettlementWrite)
def mark_overdue(
    note_id: str,
    write: Write,
    context: Context,
    member: CurrentMember,
    body: Empty | None = None,
) -> JSONResponse:
    """Mark an active note overdue: unpaid at maturity plus the grace period (any member who may
    see the note)."""

    def action() -> Answer:
        note = _load(context, member, note_id)
        if note.status != NoteStatus.ACTIVE:
            raise revert_problem("NoteNotActive", f"note {note.id} is {status_name(note)}")
        overdue_at = _overdue_at(context, note)
        if chain_now(context) < overdue_at:
            raise revert_problem(
                "NotOverdueYet", f"note {note.id} is overdue from {to_datetime(overdue_at).isoformat()}"
            )
        return transact(
            context,
            member,
            settlement_answer,
            {
                "action": "marked_overdue",
                "amount": None,
                "remaining": str(remaining(note)),
                "note_id": note.id,
            },
            lambda account: context.ledger.mark_overdue(account, note.id),
        )

    return write.run(member, None, action)


@router.post("/v1/notes/{note_id}/write-off", response_model=SettlementWrite)
def write_off(
    note_id: str,
    body: WriteOffIn,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """The operator records a default: what remains of a note unpaid past maturity plus the grace
    period is written off and stops counting against the obligor's credit limit."""

    def action() -> Answer:
        note = _load(context, member, note_id)
        require_payable(note)
        overdue_at = _overdue_at(context, note)
        if chain_now(context) < overdue_at:
            raise revert_problem(
                "NotOverdueYet", f"note {note.id} is overdue from {to_datetime(overdue_at).isoformat()}"
            )
        reference = reference_to_bytes(body.reference)
        left = remaining(note)
        return transact(
            context,
            member,
            settlement_answer,
            {
                "action": "written_off",
                "amount": str(left),
                "remaining": "0",
                "payment_reference": reference_text("0x" + reference.hex()),
                "note_id": note.id,
            },
            lambda account: context.ledger.write_off(account, note.id, reference),
        )

    return write.run(member, body, action)
