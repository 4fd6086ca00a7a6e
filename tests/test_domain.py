"""The one domain vocabulary (service/domain.py): role names and bits, statuses, ids, overdue."""

from __future__ import annotations

from typing import get_args

from service.api.members.schemas import RoleName
from service.domain import (
    DEFAULT_GRACE_PERIOD,
    LIVE,
    MAX_ID_DIGITS,
    MAX_LEDGER_ID,
    ONBOARDABLE_ROLES,
    PAYABLE,
    SECONDS_PER_DAY,
    NoteStatus,
    Role,
    days_overdue,
    is_overdue,
    note_index,
    ordered_roles,
    overdue_at,
    parse_ledger_id,
    role_bits,
    root_of,
)


def test_role_names_map_to_the_registry_bits() -> None:
    assert role_bits(["core_enterprise", "auditor"]) == Role.CORE_ENTERPRISE | Role.AUDITOR
    assert (
        role_bits(ONBOARDABLE_ROLES)
        == Role.CORE_ENTERPRISE | Role.SUPPLIER | Role.FINANCIER | Role.AUDITOR | Role.DATA_PROVIDER
    )


def test_roles_are_ordered_once_in_onboarding_order() -> None:
    assert ordered_roles(["auditor", "supplier", "auditor"]) == ["supplier", "auditor"]


def test_api_role_literal_is_the_domain_role_list() -> None:
    assert get_args(RoleName) == ONBOARDABLE_ROLES


def test_live_and_payable_statuses() -> None:
    assert LIVE == (NoteStatus.PENDING, NoteStatus.ACTIVE, NoteStatus.OVERDUE)
    assert PAYABLE == (NoteStatus.ACTIVE, NoteStatus.OVERDUE)


def test_a_note_is_overdue_from_maturity_plus_grace() -> None:
    maturity = 1_000_000
    due = overdue_at(maturity, DEFAULT_GRACE_PERIOD)
    assert due == maturity + DEFAULT_GRACE_PERIOD
    assert not is_overdue(NoteStatus.ACTIVE, maturity, due - 1, DEFAULT_GRACE_PERIOD)
    assert is_overdue(NoteStatus.ACTIVE, maturity, due, DEFAULT_GRACE_PERIOD)
    assert is_overdue(NoteStatus.OVERDUE, maturity, due, DEFAULT_GRACE_PERIOD)


def test_a_settled_or_pending_note_is_never_overdue() -> None:
    for status in (NoteStatus.SETTLED, NoteStatus.PENDING, NoteStatus.WRITTEN_OFF, NoteStatus.SPLIT):
        assert not is_overdue(status, 0, 10**9, 0)


def test_days_overdue_counts_whole_days_after_the_grace_period() -> None:
    assert days_overdue(0, 3 * SECONDS_PER_DAY - 1, SECONDS_PER_DAY) == 1
    assert days_overdue(0, SECONDS_PER_DAY - 1, SECONDS_PER_DAY) == 0


def test_root_and_index_of_a_note_id() -> None:
    note_id = (7 << 32) | 3
    assert root_of(note_id) == 7 << 32
    assert note_index(note_id) == 3


def test_ledger_ids_are_decimal_ascii_up_to_bigint() -> None:
    assert parse_ledger_id("0") == 0
    assert parse_ledger_id(str(MAX_LEDGER_ID)) == MAX_LEDGER_ID
    assert parse_ledger_id(str(MAX_LEDGER_ID + 1)) is None


def test_text_that_is_not_an_id_is_refused() -> None:
    for text in ("", "-1", "+1", "1e3", "0x10", " 1", "١٢", "1" * (MAX_ID_DIGITS + 1)):
        assert parse_ledger_id(text) is None
