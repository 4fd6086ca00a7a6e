"""Settlement at maturity: the obligor pays a note (all that remains, or part of it) in settlement
tokens or claims an off-chain payment the holder then confirms; settles every live note of a tree in
`settleRoot` batches; anyone marks an unpaid note overdue after the grace period; the operator
writes one off.

As for the other writes, every predictable refusal of the ledger is answered as problem+json before
anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.auth import CORE_ENTERPRISE, OPERATOR, Context, CurrentMember, role_dependency
from service.api.context import AppContext
from service.api.financing_queries import (
    PAYABLE,
    chain_now,
    grace_period,
    note_index,
    pending_claim,
    remaining,
    require_funds,
    require_token,
)
from service.api.financing_schemas import (
    BatchOut,
    ConfirmPaymentIn,
    PaymentOut,
    RootSettlementWrite,
    SettleIn,
    SettlementWrite,
    WriteOffIn,
    reference_text,
    reference_to_bytes,
)
from service.api.idempotency import run_idempotent
from service.api.problems import ProblemError, revert_problem
from service.api.queries import notes_out, parse_note_id, to_datetime, visible_note
from service.api.schemas import Empty, NoteOut
from service.api.writes import send
from service.db.gateway_models import ApiMember
from service.db.models import Note
from service.domain import MAX_SETTLE_BATCH, NoteStatus
from service.ledger.client import TxResult

router = APIRouter(tags=["settlement"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
Obligor = Annotated[ApiMember, Depends(role_dependency(CORE_ENTERPRISE))]
Operator = Annotated[ApiMember, Depends(role_dependency(OPERATOR))]


def _load(context: AppContext, member: ApiMember, raw_id: str) -> Note:
    with context.session() as session:
        return visible_note(session, member, parse_note_id(raw_id))


def _status_name(note: Note) -> str:
    return NoteStatus(note.status).name.lower()


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
    if NoteStatus(note.status) not in PAYABLE:
        raise revert_problem("NoteNotPayable", f"note {note.id} is {_status_name(note)}")
    if note.frozen:
        raise revert_problem("NoteIsFrozen", f"note {note.id} is frozen")
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
        return note.maturity + grace_period(context, session)


# ------------------------------------------------------------------ pay or claim
@router.post("/v1/notes/{note_id}/settle", response_model=SettlementWrite)
def settle_note(
    note_id: str,
    request: Request,
    context: Context,
    member: Obligor,
    body: SettleIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The obligor pays `amount` (default: all that remains) of a note on or after maturity, in
    settlement tokens; with `payment_reference`, it claims an off-chain payment instead, which the
    holder confirms (`/confirm-payment`)."""
    wanted = body or SettleIn()

    def action() -> tuple[int, SettlementWrite]:
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
            result, indexed = send(
                context,
                member,
                lambda account: context.ledger.claim_payment(account, note.id, amount, reference),
            )
            verb: Literal["paid", "claimed"] = "claimed"
            after = left
            ref_text = reference_text("0x" + reference.hex())
        else:
            token = require_token(context, note.currency)
            require_funds(context, token, member.address, amount)
            result, indexed = send(
                context, member, lambda account: context.ledger.pay(account, note.id, amount)
            )
            verb = "paid"
            after = left - amount
            ref_text = None
        return 200, SettlementWrite(
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            indexed=indexed,
            action=verb,
            amount=str(amount),
            remaining=str(after),
            payment_reference=ref_text,
            payments=_payments(result),
            note_ids=[str(note.id)],
            notes=_notes(context, indexed, [note.id]),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


@router.post("/v1/notes/{note_id}/confirm-payment", response_model=SettlementWrite)
def confirm_payment(
    note_id: str,
    request: Request,
    context: Context,
    member: CurrentMember,
    body: ConfirmPaymentIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The holder confirms the obligor's pending claim of an off-chain payment; it is then applied
    like a payment in tokens (the note settled, or paid in part)."""
    wanted = body or ConfirmPaymentIn()

    def action() -> tuple[int, SettlementWrite]:
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
        if NoteStatus(note.status) not in PAYABLE:
            raise revert_problem("NoteNotPayable", f"note {note.id} is {_status_name(note)}")
        if note.frozen:
            raise revert_problem("NoteIsFrozen", f"note {note.id} is frozen")
        left = remaining(note)
        amount = int(claim.amount)
        if amount > left:
            raise _too_large(note, amount, left)
        result, indexed = send(
            context, member, lambda account: context.ledger.confirm_payment(account, note.id, amount, claimed)
        )
        return 200, SettlementWrite(
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            indexed=indexed,
            action="confirmed",
            amount=str(amount),
            remaining=str(left - amount),
            payment_reference=reference_text(claim.payment_reference),
            payments=_payments(result),
            note_ids=[str(note.id)],
            notes=_notes(context, indexed, [note.id]),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


@router.post("/v1/notes/{note_id}/payment-claim/withdraw", response_model=SettlementWrite)
def withdraw_payment_claim(
    note_id: str,
    request: Request,
    context: Context,
    member: Obligor,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The obligor withdraws its unconfirmed claim of an off-chain payment (made by mistake, or the
    payment bounced). A claim also ends by itself with the note's next payment or its write-off."""

    def action() -> tuple[int, SettlementWrite]:
        note = _load(context, member, note_id)
        if note.obligor != member.address:
            raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {note.id}")
        with context.session() as session:
            claim = pending_claim(session, note.id)
        if claim is None:
            raise revert_problem(
                "NoPaymentClaim", f"note {note.id} has no pending claim of an off-chain payment"
            )
        result, indexed = send(
            context, member, lambda account: context.ledger.withdraw_payment_claim(account, note.id)
        )
        return 200, SettlementWrite(
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            indexed=indexed,
            action="claim_withdrawn",
            amount=str(claim.amount),
            remaining=str(remaining(note)),
            payment_reference=reference_text(claim.payment_reference),
            payments=[],
            note_ids=[str(note.id)],
            notes=_notes(context, indexed, [note.id]),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, None, action)


# ------------------------------------------------------------------ a whole tree
def settle_batches(indices: list[int], batch: int = MAX_SETTLE_BATCH) -> list[tuple[int, int]]:
    """(first index, count) windows of at most `batch` indices covering every index in `indices`
    (sorted), each starting at an index to pay and ending at the last one it covers."""
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(indices):
        first = indices[i]
        j = i
        while j + 1 < len(indices) and indices[j + 1] < first + batch:
            j += 1
        windows.append((first, indices[j] - first + 1))
        i = j + 1
    return windows


def _settle_call(
    context: AppContext, root_id: int, first: int, count: int
) -> Callable[[LocalAccount], TxResult]:
    return lambda account: context.ledger.settle_root(account, root_id, first, count)


@router.post("/v1/roots/{root_id}/settle", response_model=RootSettlementWrite)
def settle_root(
    root_id: str,
    request: Request,
    context: Context,
    member: Obligor,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The obligor pays, on or after maturity, every live unfrozen note of a tree what remains of it,
    in settlement tokens: in as many `settleRoot` transactions of up to 200 tree indices as needed,
    each named in the answer. Frozen notes are left for later."""

    def action() -> tuple[int, RootSettlementWrite]:
        with context.session() as session:
            root = visible_note(session, member, parse_note_id(root_id))
            if root.id != root.root_id:
                raise ProblemError(404, "note-not-found", "No such root", f"note {root.id} is not a root")
            tree = list(session.scalars(select(Note).where(Note.root_id == root.id).order_by(Note.id)))
        if root.obligor != member.address:
            raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {root.id}")
        if chain_now(context) < root.maturity:
            raise revert_problem(
                "NoteNotMatured", f"note {root.id} matures at {to_datetime(root.maturity).isoformat()}"
            )
        payable = [n for n in tree if NoteStatus(n.status) in PAYABLE and not n.frozen]
        if not payable:
            raise ProblemError(
                409,
                "nothing-to-settle",
                "Nothing to settle",
                f"no note of tree {root.id} is active or overdue and unfrozen",
            )
        total = sum((remaining(n) for n in payable), 0)
        token = require_token(context, root.currency)
        require_funds(context, token, member.address, total)
        batches: list[BatchOut] = []
        payments: list[PaymentOut] = []
        indexed = True
        for first, count in settle_batches([note_index(n.id) for n in payable]):
            result, done = send(context, member, _settle_call(context, root.id, first, count))
            paid = _payments(result)
            payments.extend(paid)
            indexed = indexed and done
            batches.append(
                BatchOut(
                    tx_hash=result.tx_hash,
                    block_number=result.block_number,
                    first_index=first,
                    count=count,
                    notes_paid=len(paid),
                    total_paid=str(sum((int(p.amount) for p in paid), 0)),
                )
            )
        return 200, RootSettlementWrite(
            root_id=str(root.id),
            tx_hashes=[b.tx_hash for b in batches],
            batches=batches,
            notes_paid=len(payments),
            total_paid=str(sum((int(p.amount) for p in payments), 0)),
            indexed=indexed,
            payments=payments,
            notes=_notes(context, indexed, [int(p.note_id) for p in payments]),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, None, action)


# ------------------------------------------------------------------ overdue and write-off
@router.post("/v1/notes/{note_id}/mark-overdue", response_model=SettlementWrite)
def mark_overdue(
    note_id: str,
    request: Request,
    context: Context,
    member: CurrentMember,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """Mark an active note overdue: unpaid at maturity plus the grace period (any member who may
    see the note)."""

    def action() -> tuple[int, SettlementWrite]:
        note = _load(context, member, note_id)
        if note.status != NoteStatus.ACTIVE:
            raise revert_problem("NoteNotActive", f"note {note.id} is {_status_name(note)}")
        overdue_at = _overdue_at(context, note)
        if chain_now(context) < overdue_at:
            raise revert_problem(
                "NotOverdueYet", f"note {note.id} is overdue from {to_datetime(overdue_at).isoformat()}"
            )
        result, indexed = send(context, member, lambda account: context.ledger.mark_overdue(account, note.id))
        return 200, SettlementWrite(
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            indexed=indexed,
            action="marked_overdue",
            amount=None,
            remaining=str(remaining(note)),
            payment_reference=None,
            payments=[],
            note_ids=[str(note.id)],
            notes=_notes(context, indexed, [note.id]),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, None, action)


@router.post("/v1/notes/{note_id}/write-off", response_model=SettlementWrite)
def write_off(
    note_id: str,
    body: WriteOffIn,
    request: Request,
    context: Context,
    member: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The operator records a default: what remains of a note unpaid past maturity plus the grace
    period is written off and stops counting against the obligor's credit limit."""

    def action() -> tuple[int, SettlementWrite]:
        note = _load(context, member, note_id)
        if NoteStatus(note.status) not in PAYABLE:
            raise revert_problem("NoteNotPayable", f"note {note.id} is {_status_name(note)}")
        overdue_at = _overdue_at(context, note)
        if chain_now(context) < overdue_at:
            raise revert_problem(
                "NotOverdueYet", f"note {note.id} is overdue from {to_datetime(overdue_at).isoformat()}"
            )
        reference = reference_to_bytes(body.reference)
        left = remaining(note)
        result, indexed = send(
            context, member, lambda account: context.ledger.write_off(account, note.id, reference)
        )
        return 200, SettlementWrite(
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            indexed=indexed,
            action="written_off",
            amount=str(left),
            remaining="0",
            payment_reference=reference_text("0x" + reference.hex()),
            payments=[],
            note_ids=[str(note.id)],
            notes=_notes(context, indexed, [note.id]),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)
