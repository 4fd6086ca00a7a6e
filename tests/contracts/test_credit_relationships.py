"""markFinancierApproved: an obligor approves a financier before the financier may grant it credit,
and may withdraw the approval (the grant then leaves the obligor's limit at once)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.domain import NoteStatus, Role
from service.ledger import errors
from service.ledger.relay import ForwardRequest, sign_request
from tests.consortium import DEFAULT_LIMIT, Consortium
from tests.contracts.helpers import new_member, only_event, part


def _new_financier(c: Consortium) -> LocalAccount:
    return new_member(c, Role.FINANCIER)


# ------------------------------------------------------------------ approve (markFinancierApproved true)
def test_approve_financier_records_the_approval_and_emits_it(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    result = c.ledger.approve_financier(c.core, financier.address)
    event = only_event(result, "FinancierApproved")
    assert event == {"obligor": c.core.address, "financier": financier.address}
    assert c.ledger.financier_approved(c.core.address, financier.address) is True
    assert c.ledger.financier_approved(financier.address, c.core.address) is False


def test_an_approved_financier_may_grant_credit(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    c.ledger.approve_financier(c.core, financier.address)
    c.ledger.set_credit_limit(financier, c.core.address, 250)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT + 250, 0)


def test_approve_financier_works_through_the_trusted_forwarder(consortium: Consortium) -> None:
    c = consortium
    obligor: LocalAccount = Account.create()  # holds its own key and no ether: it only signs
    c.ledger.onboard_member(c.operator, obligor.address, Role.CORE_ENTERPRISE)
    calldata = c.ledger.contract.encode_abi("markFinancierApproved", args=[c.bank.address, True])
    data = bytes.fromhex(calldata[2:])
    request = ForwardRequest(
        sender=obligor.address,
        to=c.ledger.address,
        value=0,
        gas=300_000,
        nonce=c.forwarder.nonce_of(obligor.address),
        deadline=c.chain.now() + 600,
        data=data,
    )
    signature = sign_request(obligor, request, c.chain.w3.eth.chain_id, c.forwarder.address)
    result = c.forwarder.execute(c.operator, request, signature)
    approvals = [e.args for e in result.events if e.name == "FinancierApproved"]
    assert approvals == [{"obligor": obligor.address, "financier": c.bank.address}]
    assert c.ledger.financier_approved(obligor.address, c.bank.address) is True
    assert c.ledger.financier_approved(c.operator.address, c.bank.address) is False


def test_approve_financier_refuses_twice(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.FinancierAlreadyApproved) as exc:
        c.ledger.approve_financier(c.core, c.bank.address)
    assert exc.value.arguments == {"obligor": c.core.address, "financier": c.bank.address}


def test_approve_financier_refuses_a_caller_who_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.approve_financier(c.outsider, c.bank.address)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_approve_financier_refuses_the_operator_acting_for_an_obligor(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.approve_financier(c.operator, c.bank.address)
    assert exc.value.arguments == {"account": c.operator.address}


def test_approve_financier_refuses_a_caller_that_may_not_be_an_obligor(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.approve_financier(c.auditor, c.bank.address)
    assert exc.value.arguments == {
        "account": c.auditor.address,
        "role": int(Role.CORE_ENTERPRISE | Role.SUPPLIER),
    }


def test_approve_financier_refuses_a_suspended_obligor(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    c.ledger.suspend_member(c.operator, c.core.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.approve_financier(c.core, financier.address)
    assert exc.value.arguments == {"account": c.core.address}


def test_approve_financier_refuses_the_obligor_itself(consortium: Consortium) -> None:
    c = consortium
    captive = new_member(c, Role.CORE_ENTERPRISE | Role.FINANCIER)
    with pytest.raises(errors.SelfDealing) as exc:
        c.ledger.approve_financier(captive, captive.address)
    assert exc.value.arguments == {"account": captive.address}


def test_approve_financier_refuses_a_financier_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.approve_financier(c.core, c.outsider.address)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_approve_financier_refuses_a_member_without_the_financier_role(consortium: Consortium) -> None:
    c = consortium
    supplier = c.suppliers[0]
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.approve_financier(c.core, supplier.address)
    assert exc.value.arguments == {"account": supplier.address, "role": int(Role.FINANCIER)}


def test_approve_financier_refuses_a_suspended_financier(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    c.ledger.suspend_member(c.operator, financier.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.approve_financier(c.core, financier.address)
    assert exc.value.arguments == {"account": financier.address}


# ------------------------------------------------------------------ grants need the approval
def test_set_credit_limit_refuses_a_financier_the_obligor_never_approved(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    with pytest.raises(errors.FinancierNotApproved) as exc:
        c.ledger.set_credit_limit(financier, c.core.address, 1)
    assert exc.value.arguments == {"obligor": c.core.address, "financier": financier.address}


def test_a_zero_grant_is_refused_without_the_approval_too(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    with pytest.raises(errors.FinancierNotApproved):
        c.ledger.set_credit_limit(financier, c.core.address, 0)
    assert c.ledger.credit_grant(financier.address, c.core.address) == 0


def test_an_approval_by_one_obligor_does_not_let_the_financier_grant_another(consortium: Consortium) -> None:
    c = consortium
    other = new_member(c, Role.CORE_ENTERPRISE)
    with pytest.raises(errors.FinancierNotApproved) as exc:
        c.ledger.set_credit_limit(c.bank, other.address, 1)
    assert exc.value.arguments == {"obligor": other.address, "financier": c.bank.address}


# ------------------------------------------------------------------ withdraw (markFinancierApproved false)
def test_withdraw_financier_removes_its_grant_from_the_limit_and_emits_it(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    c.ledger.approve_financier(c.core, financier.address)
    c.ledger.set_credit_limit(financier, c.core.address, 300)
    result = c.ledger.withdraw_financier(c.core, financier.address)
    assert only_event(result, "FinancierWithdrawn") == {
        "obligor": c.core.address,
        "financier": financier.address,
        "grant": 300,
        "limit": DEFAULT_LIMIT,
    }
    assert c.ledger.financier_approved(c.core.address, financier.address) is False
    assert c.ledger.credit_grant(financier.address, c.core.address) == 0
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 0)


def test_withdrawing_a_financier_without_a_grant_leaves_the_limit(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    c.ledger.approve_financier(c.core, financier.address)
    result = c.ledger.withdraw_financier(c.core, financier.address)
    assert only_event(result, "FinancierWithdrawn") == {
        "obligor": c.core.address,
        "financier": financier.address,
        "grant": 0,
        "limit": DEFAULT_LIMIT,
    }


def test_withdraw_financier_refuses_a_financier_that_was_never_approved(consortium: Consortium) -> None:
    c = consortium
    financier = _new_financier(c)
    with pytest.raises(errors.FinancierNotApproved) as exc:
        c.ledger.withdraw_financier(c.core, financier.address)
    assert exc.value.arguments == {"obligor": c.core.address, "financier": financier.address}


def test_another_obligor_cannot_withdraw_someone_elses_relationship(consortium: Consortium) -> None:
    c = consortium
    other = new_member(c, Role.CORE_ENTERPRISE)
    with pytest.raises(errors.FinancierNotApproved) as exc:
        c.ledger.withdraw_financier(other, c.bank.address)
    assert exc.value.arguments == {"obligor": other.address, "financier": c.bank.address}
    assert c.ledger.financier_approved(c.core.address, c.bank.address) is True
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 0)


def test_withdraw_financier_refuses_a_second_withdrawal(consortium: Consortium) -> None:
    c = consortium
    c.ledger.withdraw_financier(c.core, c.bank.address)
    with pytest.raises(errors.FinancierNotApproved):
        c.ledger.withdraw_financier(c.core, c.bank.address)


def test_a_withdrawn_financier_can_no_longer_grant(consortium: Consortium) -> None:
    c = consortium
    c.ledger.withdraw_financier(c.core, c.bank.address)
    with pytest.raises(errors.FinancierNotApproved) as exc:
        c.ledger.set_credit_limit(c.bank, c.core.address, 1)
    assert exc.value.arguments == {"obligor": c.core.address, "financier": c.bank.address}


def test_a_new_approval_after_a_withdrawal_starts_from_no_grant(consortium: Consortium) -> None:
    c = consortium
    c.ledger.withdraw_financier(c.core, c.bank.address)
    c.ledger.approve_financier(c.core, c.bank.address)
    assert c.ledger.credit_grant(c.bank.address, c.core.address) == 0
    assert c.ledger.credit_of(c.core.address) == (0, 0)
    result = c.ledger.set_credit_limit(c.bank, c.core.address, 500)
    assert only_event(result, "CreditLimitSet")["limit"] == 500


def test_a_suspended_obligor_cannot_withdraw_a_financier(consortium: Consortium) -> None:
    """Suspension freezes the relationship too: a suspended obligor cannot hide its book from the
    financiers that fund it."""
    c = consortium
    c.ledger.suspend_member(c.operator, c.core.address)
    with pytest.raises(errors.MemberNotActive):
        c.ledger.withdraw_financier(c.core, c.bank.address)
    assert c.ledger.financier_approved(c.core.address, c.bank.address) is True


def test_after_a_withdrawal_issuance_beyond_the_remaining_limit_is_refused_but_notes_stay_valid(
    consortium: Consortium,
) -> None:
    c = consortium
    financier = _new_financier(c)
    c.ledger.approve_financier(c.core, financier.address)
    c.ledger.set_credit_limit(financier, c.core.address, 1_000)
    c.ledger.set_credit_limit(c.bank, c.core.address, 500)
    note_id = c.active_note(amount=1_200)
    c.ledger.withdraw_financier(c.core, financier.address)
    assert c.ledger.credit_of(c.core.address) == (500, 1_200)
    with pytest.raises(errors.CreditLimitExceeded) as exc:
        c.issue(amount=1)
    assert exc.value.arguments == {"obligor": c.core.address, "outstanding": 1_200, "amount": 1, "limit": 500}
    holder, other = c.suppliers[0], c.suppliers[1]
    children = c.ledger.split(holder, note_id, [part(holder, 700), part(other, 500)]).created_note_ids()
    assert c.ledger.get_note(children[1]).status == NoteStatus.ACTIVE
