"""The consortium fixture: every test starts from the same freshly deployed consortium."""

from __future__ import annotations

from service.domain import MemberStatus, Role
from tests.consortium import DEFAULT_LIMIT, Consortium


def test_each_test_starts_with_no_notes_issued(consortium: Consortium) -> None:
    c = consortium
    assert c.ledger.root_count() == 0
    c.issue()
    assert c.ledger.root_count() == 1


def test_each_test_starts_with_no_notes_issued_again(consortium: Consortium) -> None:
    assert consortium.ledger.root_count() == 0


def test_the_consortium_has_its_members_and_the_banks_credit_limit(consortium: Consortium) -> None:
    c = consortium
    assert c.ledger.operator() == c.operator.address
    assert c.ledger.member_count() == 3 + len(c.suppliers)
    expected = {c.core: Role.CORE_ENTERPRISE, c.bank: Role.FINANCIER, c.auditor: Role.AUDITOR}
    expected.update({s: Role.SUPPLIER for s in c.suppliers})
    for account, roles in expected.items():
        member = c.ledger.get_member(account.address)
        assert (member.roles, member.status) == (roles, MemberStatus.ACTIVE)
    assert c.ledger.get_member(c.outsider.address).status == MemberStatus.NONE
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 0)
