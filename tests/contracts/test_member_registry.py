"""MemberRegistry: deployment, the two-step operator handover, onboarding, roles, suspension."""

from __future__ import annotations

import pytest

from service.domain import MemberStatus, Role
from service.ledger import errors
from service.ledger.client import LedgerClient
from tests.consortium import Consortium
from tests.contracts.helpers import ZERO_ADDRESS, only_event

# ---------------------------------------------------------------- deployment


def test_deployment_makes_the_given_address_operator_and_emits_operator_transferred(
    consortium: Consortium,
) -> None:
    c = consortium
    ledger = LedgerClient.deploy(c.chain.w3, c.operator, c.bank.address, nonces=c.ledger.nonces)
    logs = c.chain.w3.eth.get_logs({"address": ledger.address, "fromBlock": c.chain.w3.eth.block_number})
    decoded = [ledger.events.decode(list(log["topics"]), bytes(log["data"])) for log in logs]
    assert [(e.name, e.args) for e in decoded if e is not None] == [
        ("OperatorTransferred", {"previousOperator": ZERO_ADDRESS, "newOperator": c.bank.address})
    ]
    assert ledger.operator() == c.bank.address
    assert ledger.pending_operator() == ZERO_ADDRESS
    assert ledger.member_count() == 0
    assert ledger.root_count() == 0
    assert ledger.max_tenor() == 365 * 86_400


def test_deployment_refuses_the_zero_address_as_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroAddress) as exc:
        LedgerClient.deploy(c.chain.w3, c.operator, ZERO_ADDRESS, nonces=c.ledger.nonces)
    assert exc.value.arguments == {}


# ---------------------------------------------------------------- operator handover


def test_transfer_operator_nominates_a_pending_operator_and_keeps_the_current_one(
    consortium: Consortium,
) -> None:
    c = consortium
    result = c.ledger.transfer_operator(c.operator, c.outsider.address)
    assert only_event(result, "OperatorTransferStarted") == {
        "currentOperator": c.operator.address,
        "pendingOperator": c.outsider.address,
    }
    assert c.ledger.pending_operator() == c.outsider.address
    assert c.ledger.operator() == c.operator.address


def test_transfer_operator_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.transfer_operator(c.core, c.core.address)
    assert exc.value.arguments == {"caller": c.core.address}


def test_accept_operator_hands_the_role_to_the_nominee_and_clears_the_nomination(
    consortium: Consortium,
) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    result = c.ledger.accept_operator(c.outsider)
    assert only_event(result, "OperatorTransferred") == {
        "previousOperator": c.operator.address,
        "newOperator": c.outsider.address,
    }
    assert c.ledger.operator() == c.outsider.address
    assert c.ledger.pending_operator() == ZERO_ADDRESS


def test_new_operator_can_onboard_members_after_the_handover(consortium: Consortium) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    c.ledger.accept_operator(c.outsider)
    c.ledger.onboard_member(c.outsider, c.operator.address, Role.AUDITOR)
    assert c.ledger.get_member(c.operator.address).status == MemberStatus.ACTIVE


def test_old_operator_loses_its_power_after_the_handover(consortium: Consortium) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    c.ledger.accept_operator(c.outsider)
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.suspend_member(c.operator, c.suppliers[0].address)
    assert exc.value.arguments == {"caller": c.operator.address}


def test_old_operator_keeps_its_power_until_the_nominee_accepts(consortium: Consortium) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    c.ledger.suspend_member(c.operator, c.suppliers[0].address)
    assert c.ledger.get_member(c.suppliers[0].address).status == MemberStatus.SUSPENDED


def test_accept_operator_refuses_anyone_but_the_nominee(consortium: Consortium) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    with pytest.raises(errors.NotPendingOperator) as exc:
        c.ledger.accept_operator(c.bank)
    assert exc.value.arguments == {"caller": c.bank.address}


def test_accept_operator_refuses_when_nobody_is_nominated(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotPendingOperator) as exc:
        c.ledger.accept_operator(c.outsider)
    assert exc.value.arguments == {"caller": c.outsider.address}


def test_nominating_the_zero_address_cancels_a_pending_nomination(consortium: Consortium) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    result = c.ledger.transfer_operator(c.operator, ZERO_ADDRESS)
    assert only_event(result, "OperatorTransferStarted") == {
        "currentOperator": c.operator.address,
        "pendingOperator": ZERO_ADDRESS,
    }
    assert c.ledger.pending_operator() == ZERO_ADDRESS
    with pytest.raises(errors.NotPendingOperator) as exc:
        c.ledger.accept_operator(c.outsider)
    assert exc.value.arguments == {"caller": c.outsider.address}
    assert c.ledger.operator() == c.operator.address


def test_a_new_nomination_replaces_the_previous_nominee(consortium: Consortium) -> None:
    c = consortium
    c.ledger.transfer_operator(c.operator, c.outsider.address)
    c.ledger.transfer_operator(c.operator, c.auditor.address)
    with pytest.raises(errors.NotPendingOperator) as exc:
        c.ledger.accept_operator(c.outsider)
    assert exc.value.arguments == {"caller": c.outsider.address}
    c.ledger.accept_operator(c.auditor)
    assert c.ledger.operator() == c.auditor.address


# ---------------------------------------------------------------- onboarding


def test_onboard_member_records_roles_active_status_and_time_and_emits_member_onboarded(
    consortium: Consortium,
) -> None:
    c = consortium
    count = c.ledger.member_count()
    result = c.ledger.onboard_member(c.operator, c.outsider.address, Role.SUPPLIER | Role.FINANCIER)
    assert only_event(result, "MemberOnboarded") == {"account": c.outsider.address, "roles": 6}
    member = c.ledger.get_member(c.outsider.address)
    assert member.roles == Role.SUPPLIER | Role.FINANCIER
    assert member.status == MemberStatus.ACTIVE
    assert member.onboarded_at == c.chain.w3.eth.get_block(result.block_number)["timestamp"]
    assert c.ledger.member_count() == count + 1


def test_onboard_member_accepts_all_four_roles_at_once(consortium: Consortium) -> None:
    c = consortium
    all_roles = Role.CORE_ENTERPRISE | Role.SUPPLIER | Role.FINANCIER | Role.AUDITOR
    c.ledger.onboard_member(c.operator, c.outsider.address, all_roles)
    assert c.ledger.get_member(c.outsider.address).roles == all_roles


def test_onboard_member_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.onboard_member(c.core, c.outsider.address, Role.SUPPLIER)
    assert exc.value.arguments == {"caller": c.core.address}


def test_onboard_member_refuses_the_zero_address(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroAddress) as exc:
        c.ledger.onboard_member(c.operator, ZERO_ADDRESS, Role.SUPPLIER)
    assert exc.value.arguments == {}


def test_onboard_member_refuses_empty_roles(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidRoles) as exc:
        c.ledger.onboard_member(c.operator, c.outsider.address, 0)
    assert exc.value.arguments == {"roles": 0}


def test_onboard_member_refuses_unknown_role_bits(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidRoles) as exc:
        c.ledger.onboard_member(c.operator, c.outsider.address, 32 | Role.SUPPLIER)
    assert exc.value.arguments == {"roles": 34}


def test_onboard_member_refuses_an_existing_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.MemberAlreadyOnboarded) as exc:
        c.ledger.onboard_member(c.operator, c.bank.address, Role.SUPPLIER)
    assert exc.value.arguments == {"account": c.bank.address}


def test_onboard_member_refuses_a_suspended_member(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.MemberAlreadyOnboarded) as exc:
        c.ledger.onboard_member(c.operator, c.bank.address, Role.FINANCIER)
    assert exc.value.arguments == {"account": c.bank.address}


# ---------------------------------------------------------------- roles


def test_set_member_roles_replaces_the_roles_and_emits_member_roles_changed(consortium: Consortium) -> None:
    c = consortium
    supplier = c.suppliers[0]
    result = c.ledger.set_member_roles(c.operator, supplier.address, Role.FINANCIER | Role.AUDITOR)
    assert only_event(result, "MemberRolesChanged") == {"account": supplier.address, "roles": 12}
    member = c.ledger.get_member(supplier.address)
    assert member.roles == Role.FINANCIER | Role.AUDITOR
    assert member.status == MemberStatus.ACTIVE


def test_set_member_roles_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.set_member_roles(c.bank, c.bank.address, Role.CORE_ENTERPRISE)
    assert exc.value.arguments == {"caller": c.bank.address}


def test_set_member_roles_refuses_empty_roles(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidRoles) as exc:
        c.ledger.set_member_roles(c.operator, c.bank.address, 0)
    assert exc.value.arguments == {"roles": 0}


def test_set_member_roles_refuses_unknown_role_bits(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidRoles) as exc:
        c.ledger.set_member_roles(c.operator, c.bank.address, 255)
    assert exc.value.arguments == {"roles": 255}


def test_set_member_roles_refuses_a_non_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.set_member_roles(c.operator, c.outsider.address, Role.SUPPLIER)
    assert exc.value.arguments == {"account": c.outsider.address}


# ---------------------------------------------------------------- suspension


def test_suspend_member_marks_the_member_suspended_and_emits_member_suspended(
    consortium: Consortium,
) -> None:
    c = consortium
    supplier = c.suppliers[0]
    result = c.ledger.suspend_member(c.operator, supplier.address)
    assert only_event(result, "MemberSuspended") == {"account": supplier.address}
    member = c.ledger.get_member(supplier.address)
    assert member.status == MemberStatus.SUSPENDED
    assert member.roles == Role.SUPPLIER


def test_suspend_member_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.suspend_member(c.auditor, c.suppliers[0].address)
    assert exc.value.arguments == {"caller": c.auditor.address}


def test_suspend_member_refuses_a_non_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.suspend_member(c.operator, c.outsider.address)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_suspend_member_refuses_an_already_suspended_member(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.suspend_member(c.operator, c.bank.address)
    assert exc.value.arguments == {"account": c.bank.address}


def test_reinstate_member_makes_a_suspended_member_active_and_emits_member_reinstated(
    consortium: Consortium,
) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    result = c.ledger.reinstate_member(c.operator, c.bank.address)
    assert only_event(result, "MemberReinstated") == {"account": c.bank.address}
    assert c.ledger.get_member(c.bank.address).status == MemberStatus.ACTIVE


def test_reinstate_member_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.reinstate_member(c.bank, c.bank.address)
    assert exc.value.arguments == {"caller": c.bank.address}


def test_reinstate_member_refuses_a_non_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.reinstate_member(c.operator, c.outsider.address)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_reinstate_member_refuses_an_active_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.MemberNotSuspended) as exc:
        c.ledger.reinstate_member(c.operator, c.bank.address)
    assert exc.value.arguments == {"account": c.bank.address}


# ---------------------------------------------------------------- views


def test_get_member_of_a_non_member_is_all_zero(consortium: Consortium) -> None:
    member = consortium.ledger.get_member(consortium.outsider.address)
    assert (member.roles, member.status, member.onboarded_at) == (Role(0), MemberStatus.NONE, 0)


def test_has_active_role_requires_every_bit_of_the_role(consortium: Consortium) -> None:
    c = consortium
    has = c.ledger.contract.functions.hasActiveRole
    assert has(c.suppliers[0].address, int(Role.SUPPLIER)).call() is True
    assert has(c.suppliers[0].address, int(Role.SUPPLIER | Role.FINANCIER)).call() is False
    assert has(c.suppliers[0].address, int(Role.FINANCIER)).call() is False
    assert has(c.outsider.address, int(Role.SUPPLIER)).call() is False


def test_has_active_role_is_false_for_a_suspended_member(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    assert c.ledger.contract.functions.hasActiveRole(c.bank.address, int(Role.FINANCIER)).call() is False
