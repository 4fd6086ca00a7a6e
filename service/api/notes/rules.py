"""The ledger's guards on a note, checked before anything is signed so that a refusal costs no gas
and answers the same problem the contract's revert would (`service.api.problems.revert_problem`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.api.problems import revert_problem
from service.api.schemas import to_datetime
from service.db.models import LedgerConfig, Note, ObligorCredit
from service.domain import DEFAULT_MAX_TENOR, NoteStatus


def status_name(note: Note) -> str:
    return NoteStatus(note.status).name.lower()


def require_not_frozen(note: Note) -> None:
    """409 `note-frozen` (the contract's NoteIsFrozen) if an operator froze the note."""
    if note.frozen:
        raise revert_problem("NoteIsFrozen", f"note {note.id} is frozen")


def require_active(note: Note) -> None:
    """409 `note-not-active` (NoteNotActive) unless the note is active."""
    if note.status != NoteStatus.ACTIVE:
        raise revert_problem("NoteNotActive", f"note {note.id} is {status_name(note)}")


def require_payable(note: Note) -> None:
    """409 `note-not-payable` (NoteNotPayable) unless the note is active or overdue."""
    if not NoteStatus(note.status).is_payable:
        raise revert_problem("NoteNotPayable", f"note {note.id} is {status_name(note)}")


def require_maturity_within_tenor(session: Session, ledger: str, now: int, maturity: int) -> None:
    """422 `invalid-maturity` (InvalidMaturity) unless `maturity` is after `now` (the chain's clock)
    and within the ledger's maximum tenor as indexed: a root note's issuance and a receivable's
    origination check the same rule."""
    config = session.get(LedgerConfig, ledger)
    max_tenor = config.max_tenor if config is not None else DEFAULT_MAX_TENOR
    if not now < maturity <= now + max_tenor:
        raise revert_problem(
            "InvalidMaturity",
            f"maturity must be after {to_datetime(now).isoformat()} and at most "
            f"{max_tenor // 86_400} days later",
            field="maturity",
        )


def require_credit_room(session: Session, obligor: str, amount: int, whose: str) -> None:
    """409 `credit-limit-exceeded` (CreditLimitExceeded) if `amount` more would take `obligor`'s
    outstanding above its credit limit as indexed (`whose`: "the" or "your", for the message)."""
    credit = session.get(ObligorCredit, obligor)
    limit, outstanding = (credit.credit_limit, credit.outstanding) if credit else (0, 0)
    if outstanding + amount > limit:
        raise revert_problem(
            "CreditLimitExceeded",
            f"outstanding {outstanding} + {amount} exceeds {whose} credit limit {limit}",
            credit_limit=str(limit),
            outstanding=str(outstanding),
        )
