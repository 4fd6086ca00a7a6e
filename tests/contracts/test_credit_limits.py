"""setCreditLimit: financiers' grants to core enterprises, summed into the obligor's limit; a grant
needs the obligor's approval of the financier (markFinancierApproved)."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from service.domain import Role
from service.ledger import errors
from tests.consortium import DEFAULT_LIMIT, Consortium
from tests.contracts.helpers import new_member, only_event

UINT128_MAX = 2**128 - 1


def _approved_financier(c: Consortium) -> LocalAccount:
    """A new financier the core enterprise has approved."""
    financier = new_member(c, Role.FINANCIER)
    c.ledger.approve_financier(c.core, financier.address)
    return financier


def test_set_credit_limit_records_the_grant_and_emits_the_new_limit(consortium: Consortium) -> None:
    c = consortium
    obligor = new_member(c, Role.CORE_ENTERPRISE)
    c.ledger.approve_financier(obligor, c.bank.address)
    result = c.ledger.set_credit_limit(c.bank, obligor.address, 500)
    assert only_event(result, "CreditLimitSet") == {
        "financier": c.bank.address,
        "obligor": obligor.address,
        "grant": 500,
        "limit": 500,
    }
    assert c.ledger.credit_grant(c.bank.address, obligor.address) == 500
    assert c.ledger.credit_of(obligor.address) == (500, 0)


def test_limit_is_the_sum_of_the_grants_of_two_financiers(consortium: Consortium) -> None:
    c = consortium
    second_bank = _approved_financier(c)
    result = c.ledger.set_credit_limit(second_bank, c.core.address, 300)
    assert only_event(result, "CreditLimitSet") == {
        "financier": second_bank.address,
        "obligor": c.core.address,
        "grant": 300,
        "limit": DEFAULT_LIMIT + 300,
    }
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT + 300, 0)
    assert c.ledger.credit_grant(c.bank.address, c.core.address) == DEFAULT_LIMIT
    assert c.ledger.credit_grant(second_bank.address, c.core.address) == 300


def test_lowering_a_grant_lowers_the_limit_by_the_difference_only(consortium: Consortium) -> None:
    c = consortium
    second_bank = _approved_financier(c)
    c.ledger.set_credit_limit(second_bank, c.core.address, 300)
    result = c.ledger.set_credit_limit(c.bank, c.core.address, 100)
    assert only_event(result, "CreditLimitSet")["limit"] == 400
    assert c.ledger.credit_of(c.core.address) == (400, 0)
    assert c.ledger.credit_grant(c.bank.address, c.core.address) == 100


def test_a_zero_grant_withdraws_the_financiers_credit(consortium: Consortium) -> None:
    c = consortium
    result = c.ledger.set_credit_limit(c.bank, c.core.address, 0)
    assert only_event(result, "CreditLimitSet") == {
        "financier": c.bank.address,
        "obligor": c.core.address,
        "grant": 0,
        "limit": 0,
    }
    assert c.ledger.credit_of(c.core.address) == (0, 0)


def test_lowering_the_limit_below_outstanding_is_allowed_and_blocks_further_issuance(
    consortium: Consortium,
) -> None:
    c = consortium
    c.issue(amount=1_000)
    c.ledger.set_credit_limit(c.bank, c.core.address, 500)
    assert c.ledger.credit_of(c.core.address) == (500, 1_000)
    with pytest.raises(errors.CreditLimitExceeded) as exc:
        c.issue(amount=1)
    assert exc.value.arguments == {"obligor": c.core.address, "outstanding": 1_000, "amount": 1, "limit": 500}


def test_set_credit_limit_refuses_a_caller_who_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.set_credit_limit(c.outsider, c.core.address, 1)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_set_credit_limit_refuses_a_suspended_financier(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.set_credit_limit(c.bank, c.core.address, 1)
    assert exc.value.arguments == {"account": c.bank.address}


def test_set_credit_limit_refuses_a_caller_without_the_financier_role(consortium: Consortium) -> None:
    c = consortium
    supplier = c.suppliers[0]
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.set_credit_limit(supplier, c.core.address, 1)
    assert exc.value.arguments == {"account": supplier.address, "role": int(Role.FINANCIER)}


def test_set_credit_limit_refuses_a_financier_granting_credit_to_itself(consortium: Consortium) -> None:
    c = consortium
    captive = new_member(c, Role.CORE_ENTERPRISE | Role.FINANCIER)
    with pytest.raises(errors.SelfDealing) as exc:
        c.ledger.set_credit_limit(captive, captive.address, 1)
    assert exc.value.arguments == {"account": captive.address}


def test_set_credit_limit_refuses_an_obligor_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.set_credit_limit(c.bank, c.outsider.address, 1)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_set_credit_limit_refuses_an_obligor_that_is_neither_core_enterprise_nor_supplier(
    consortium: Consortium,
) -> None:
    c = consortium
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.set_credit_limit(c.bank, c.auditor.address, 1)
    assert exc.value.arguments == {
        "account": c.auditor.address,
        "role": int(Role.CORE_ENTERPRISE | Role.SUPPLIER),
    }


def test_set_credit_limit_grants_a_supplier_that_approved_the_financier(consortium: Consortium) -> None:
    c = consortium
    supplier = c.suppliers[0]
    c.ledger.approve_financier(supplier, c.bank.address)
    c.ledger.set_credit_limit(c.bank, supplier.address, 5_000)
    assert c.ledger.credit_of(supplier.address) == (5_000, 0)


def test_grants_summing_past_uint128_are_refused_with_a_typed_error(consortium: Consortium) -> None:
    c = consortium
    second_bank = _approved_financier(c)
    with pytest.raises(errors.CreditLimitTooLarge) as exc:
        c.ledger.set_credit_limit(second_bank, c.core.address, UINT128_MAX)
    assert exc.value.arguments == {"limit": DEFAULT_LIMIT + UINT128_MAX, "maxLimit": UINT128_MAX}
