"""The one domain vocabulary shared by the ledger client, the indexer, the gateway and the CLI:
roles (names <-> bits), statuses (`is_live` / `is_payable`), ids (`root_of`, `parse_ledger_id`),
the overdue rule (`overdue_at`, `is_overdue`) and the ledger's constants.

The integer values are the contracts' enum and bit values; they are stored as-is in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, IntFlag
from typing import Final

MAX_AMOUNT = 2**80 - 1
"""Largest face amount of a note in minor units (the contract's MAX_AMOUNT)."""

MAX_SPLIT_PARTS = 100
"""Most parts one split may create (the contract's MAX_SPLIT_PARTS)."""

MAX_SETTLE_BATCH = 200
"""Most tree indices one settleRoot call may look at (the contract's MAX_SETTLE_BATCH)."""

DEFAULT_GRACE_PERIOD = 5 * 86_400
"""Seconds after maturity from which an unpaid note is overdue, until the operator changes it."""

DEFAULT_MAX_TENOR = 365 * 86_400
"""Longest tenor (seconds from issue to maturity) the ledger accepts until the operator changes it."""

SECONDS_PER_DAY: Final = 86_400

MIN_TENOR_BOUND: Final = 1 * 86_400
"""Shortest maximum tenor the operator may set (the contract's MIN_TENOR_BOUND)."""

MAX_TENOR_BOUND: Final = 3650 * 86_400
"""Longest maximum tenor the operator may set (the contract's MAX_TENOR_BOUND)."""

MAX_GRACE_PERIOD: Final = 90 * 86_400
"""Longest grace period the operator may set (the contract's MAX_GRACE_PERIOD)."""

INDEX_BITS = 32
"""Low bits of a note id that number the note inside its tree; the high bits name the root."""

INDEX_MASK: Final = (1 << INDEX_BITS) - 1
"""The bits of a note id that number the note inside its tree."""

MAX_LEDGER_ID: Final = 2**63 - 1
"""The largest note or offer id the index holds (SQL BIGINT): a larger one names nothing (the
ledger's uint256 ids are smaller in practice: a root's sequence shifted left by 32 bits)."""

MAX_ID_DIGITS: Final = 78
"""Most decimal digits of an id the gateway reads (a uint256 has 78): longer text is not an id."""


class Role(IntFlag):
    """Member roles (bit values of MemberRegistry.ROLE_*)."""

    CORE_ENTERPRISE = 1
    SUPPLIER = 2
    FINANCIER = 4
    AUDITOR = 8
    DATA_PROVIDER = 16


OPERATOR: Final = "operator"
"""The gateway's operator: a role of the gateway (it runs the registry), not a ledger role bit."""
OPERATOR_ID: Final = "operator"
"""The gateway member id of the operator (registered by `credchain init`)."""
CORE_ENTERPRISE: Final = "core_enterprise"
SUPPLIER: Final = "supplier"
FINANCIER: Final = "financier"
AUDITOR: Final = "auditor"
DATA_PROVIDER: Final = "data_provider"

ROLE_BITS: Final[dict[str, Role]] = {
    CORE_ENTERPRISE: Role.CORE_ENTERPRISE,
    SUPPLIER: Role.SUPPLIER,
    FINANCIER: Role.FINANCIER,
    AUDITOR: Role.AUDITOR,
    DATA_PROVIDER: Role.DATA_PROVIDER,
}
"""Role name (as the API and the CLI spell it) -> the registry's role bit, in onboarding order."""

ONBOARDABLE_ROLES: Final = tuple(ROLE_BITS)
"""The roles a member may be onboarded with (every ledger role; the operator is not one)."""


def role_bits(names: Iterable[str]) -> Role:
    """The registry's role bits for role names (each one of `ONBOARDABLE_ROLES`)."""
    bits = Role(0)
    for name in names:
        bits |= ROLE_BITS[name]
    return bits


def ordered_roles(names: Iterable[str]) -> list[str]:
    """Role names without repeats, in the order of `ONBOARDABLE_ROLES`."""
    return sorted(set(names), key=ONBOARDABLE_ROLES.index)


class MemberStatus(IntEnum):
    """MemberRegistry.MemberStatus."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class NoteStatus(IntEnum):
    """CreditNoteLedger.NoteStatus."""

    NONE = 0
    PENDING = 1
    ACTIVE = 2
    SPLIT = 3
    REJECTED = 4
    REVOKED = 5
    OVERDUE = 6
    SETTLED = 7
    WRITTEN_OFF = 8

    @property
    def is_live(self) -> bool:
        """Pending, active or overdue: its unpaid remainder counts toward the obligor's outstanding
        amount."""
        return self in (NoteStatus.PENDING, NoteStatus.ACTIVE, NoteStatus.OVERDUE)

    @property
    def is_payable(self) -> bool:
        """Active or overdue: the obligor may pay it (on or after maturity)."""
        return self in (NoteStatus.ACTIVE, NoteStatus.OVERDUE)


LIVE: Final = tuple(s for s in NoteStatus if s.is_live)
"""Statuses whose unpaid remainder counts toward the obligor's outstanding amount."""
PAYABLE: Final = tuple(s for s in NoteStatus if s.is_payable)
"""Statuses in which the obligor may pay a note."""


def overdue_at(maturity: int, grace: int) -> int:
    """The first second (unix time) at which an unpaid note maturing at `maturity` is overdue:
    maturity plus the ledger's grace period."""
    return maturity + grace


def is_overdue(status: int, maturity: int, now: int, grace: int) -> bool:
    """Unpaid (active or marked overdue) at or past maturity plus the grace period."""
    return NoteStatus(status).is_payable and now >= overdue_at(maturity, grace)


def days_overdue(maturity: int, now: int, grace: int) -> int:
    """Whole days since the note became overdue (0 before)."""
    return max(0, (now - overdue_at(maturity, grace)) // SECONDS_PER_DAY)


def root_of(note_id: int) -> int:
    """The id of the root note of the tree `note_id` belongs to."""
    return note_id >> INDEX_BITS << INDEX_BITS


def note_index(note_id: int) -> int:
    """The position of a note inside its tree (0 for the root)."""
    return note_id & INDEX_MASK


def parse_ledger_id(text: str) -> int | None:
    """A note or offer id written in decimal ASCII digits (at most `MAX_ID_DIGITS` of them, at most
    `MAX_LEDGER_ID`), or None if `text` is not one. The one rule for ids in paths, queries and
    bodies; each caller decides what a non-id means (404 in a path, 422 in a body)."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        return None
    number = int(text)
    return number if number <= MAX_LEDGER_ID else None
