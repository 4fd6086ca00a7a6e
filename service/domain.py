"""Domain vocabulary shared by the ledger client, the indexer and the API: roles and statuses.

The integer values are the contracts' enum and bit values; they are stored as-is in SQL.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

MAX_AMOUNT = 2**80 - 1
"""Largest face amount of a note in minor units (the contract's MAX_AMOUNT)."""

MAX_SPLIT_PARTS = 100
"""Most parts one split may create (the contract's MAX_SPLIT_PARTS)."""

MAX_SETTLE_BATCH = 200
"""Most tree indices one settleRoot call may look at (the contract's MAX_SETTLE_BATCH)."""

DEFAULT_GRACE_PERIOD = 5 * 86_400
"""Seconds after maturity from which an unpaid note is overdue, until the operator changes it."""

INDEX_BITS = 32
"""Low bits of a note id that number the note inside its tree; the high bits name the root."""


class Role(IntFlag):
    """Member roles (bit values of MemberRegistry.ROLE_*)."""

    CORE_ENTERPRISE = 1
    SUPPLIER = 2
    FINANCIER = 4
    AUDITOR = 8


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


def root_of(note_id: int) -> int:
    """The id of the root note of the tree `note_id` belongs to."""
    return note_id >> INDEX_BITS << INDEX_BITS
