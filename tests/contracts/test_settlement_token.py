"""SettlementToken: a permissioned ERC-20 of tokenized deposits. The ledger's operator mints and burns
with a reference; only active members hold and move it; the ledger's own transferFrom skips the
member check (it has checked both parties)."""

from __future__ import annotations

import pytest

from service.ledger import errors
from service.ledger.client import SettlementTokenClient
from service.ledger.types import reference_bytes
from tests.consortium import Consortium
from tests.contracts.helpers import (
    ZERO_ADDRESS,
    ZERO_HASH,
    at_maturity,
    token_events,
    token_transfer_from,
)

# ---------------------------------------------------------------- deployment


def test_the_token_names_its_ledger_currency_and_two_decimals(consortium: Consortium) -> None:
    c = consortium
    token = c.token
    assert token.currency() == "USD"
    assert token.contract.functions.ledger().call() == c.ledger.address
    assert token.contract.functions.decimals().call() == 2
    assert token.contract.functions.symbol().call() == "ccUSD"
    assert token.total_supply() == 0


def test_decimals_follow_the_currency_given_at_deployment(consortium: Consortium) -> None:
    c = consortium
    yen = SettlementTokenClient.deploy(c.ledger, c.operator, "JPY", decimals=0)
    assert (yen.currency(), yen.contract.functions.decimals().call()) == ("JPY", 0)


# ---------------------------------------------------------------- mint


def test_operator_mints_to_an_active_member(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    assert c.token.balance_of(member.address) == 5_000
    assert c.token.total_supply() == 5_000


def test_mint_emits_transfer_from_zero_and_deposited_with_the_reference(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    result = c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    assert [(e.name, e.args) for e in result.events] == [
        ("Transfer", {"from": ZERO_ADDRESS, "to": member.address, "value": 5_000}),
        (
            "Deposited",
            {"account": member.address, "amount": 5_000, "paymentReference": reference_bytes(b"deposit-1")},
        ),
    ]


def test_mint_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.token.mint(c.bank, c.bank.address, 5_000, b"deposit-1")
    assert exc.value.arguments == {"caller": c.bank.address}


def test_mint_follows_the_ledgers_operator_after_a_hand_over(consortium: Consortium) -> None:
    c = consortium
    successor = c.suppliers[2]
    c.ledger.transfer_operator(c.operator, successor.address)
    c.ledger.accept_operator(successor)
    c.token.mint(successor, c.bank.address, 7, b"deposit-1")
    assert c.token.balance_of(c.bank.address) == 7
    with pytest.raises(errors.NotOperator) as exc:
        c.token.mint(c.operator, c.bank.address, 7, b"deposit-2")
    assert exc.value.arguments == {"caller": c.operator.address}


def test_mint_refuses_a_zero_reference(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroReference) as exc:
        c.token.mint(c.operator, c.bank.address, 5_000, ZERO_HASH)
    assert exc.value.arguments == {}


def test_mint_refuses_a_non_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAnActiveMember) as exc:
        c.token.mint(c.operator, c.outsider.address, 5_000, b"deposit-1")
    assert exc.value.arguments == {"account": c.outsider.address}


def test_mint_refuses_a_suspended_member(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.NotAnActiveMember) as exc:
        c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    assert exc.value.arguments == {"account": c.bank.address}


def test_mint_refuses_the_zero_address(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ERC20InvalidReceiver) as exc:
        c.token.mint(c.operator, ZERO_ADDRESS, 5_000, b"deposit-1")
    assert exc.value.arguments == {"receiver": ZERO_ADDRESS}


# ---------------------------------------------------------------- burn


def test_operator_burns_a_members_tokens_and_emits_withdrawn_with_the_reference(
    consortium: Consortium,
) -> None:
    c = consortium
    member = c.suppliers[0]
    c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    result = c.token.burn(c.operator, member.address, 2_000, b"payout-1")
    assert [(e.name, e.args) for e in result.events] == [
        ("Transfer", {"from": member.address, "to": ZERO_ADDRESS, "value": 2_000}),
        (
            "Withdrawn",
            {"account": member.address, "amount": 2_000, "paymentReference": reference_bytes("payout-1")},
        ),
    ]
    assert c.token.balance_of(member.address) == 3_000
    assert c.token.total_supply() == 3_000


def test_burn_from_a_suspended_member_is_allowed(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    c.ledger.suspend_member(c.operator, member.address)
    c.token.burn(c.operator, member.address, 5_000, b"payout-1")
    assert c.token.balance_of(member.address) == 0


def test_burn_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    with pytest.raises(errors.NotOperator) as exc:
        c.token.burn(member, member.address, 5_000, b"payout-1")
    assert exc.value.arguments == {"caller": member.address}


def test_burn_refuses_a_zero_reference(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    with pytest.raises(errors.ZeroReference):
        c.token.burn(c.operator, member.address, 5_000, ZERO_HASH)


def test_burn_refuses_more_than_the_balance(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    c.token.mint(c.operator, member.address, 5_000, b"deposit-1")
    with pytest.raises(errors.ERC20InsufficientBalance) as exc:
        c.token.burn(c.operator, member.address, 5_001, b"payout-1")
    assert exc.value.arguments == {"sender": member.address, "balance": 5_000, "needed": 5_001}


# ---------------------------------------------------------------- transfer


def test_transfer_between_active_members_moves_the_balance_and_emits_transfer(consortium: Consortium) -> None:
    c = consortium
    payer, payee = c.suppliers[0], c.bank
    c.token.mint(c.operator, payer.address, 5_000, b"deposit-1")
    result = c.token.transfer(payer, payee.address, 1_200)
    assert [(e.name, e.args) for e in result.events] == [
        ("Transfer", {"from": payer.address, "to": payee.address, "value": 1_200})
    ]
    assert (c.token.balance_of(payer.address), c.token.balance_of(payee.address)) == (3_800, 1_200)


def test_transfer_refuses_a_recipient_who_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    payer = c.suppliers[0]
    c.token.mint(c.operator, payer.address, 5_000, b"deposit-1")
    with pytest.raises(errors.NotAnActiveMember) as exc:
        c.token.transfer(payer, c.outsider.address, 1)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_transfer_refuses_a_suspended_recipient(consortium: Consortium) -> None:
    c = consortium
    payer, payee = c.suppliers[0], c.suppliers[1]
    c.token.mint(c.operator, payer.address, 5_000, b"deposit-1")
    c.ledger.suspend_member(c.operator, payee.address)
    with pytest.raises(errors.NotAnActiveMember) as exc:
        c.token.transfer(payer, payee.address, 1)
    assert exc.value.arguments == {"account": payee.address}


def test_transfer_refuses_a_suspended_sender(consortium: Consortium) -> None:
    c = consortium
    payer, payee = c.suppliers[0], c.suppliers[1]
    c.token.mint(c.operator, payer.address, 5_000, b"deposit-1")
    c.ledger.suspend_member(c.operator, payer.address)
    with pytest.raises(errors.NotAnActiveMember) as exc:
        c.token.transfer(payer, payee.address, 1)
    assert exc.value.arguments == {"account": payer.address}


def test_transfer_refuses_more_than_the_balance(consortium: Consortium) -> None:
    c = consortium
    payer, payee = c.suppliers[0], c.suppliers[1]
    c.token.mint(c.operator, payer.address, 5_000, b"deposit-1")
    with pytest.raises(errors.ERC20InsufficientBalance) as exc:
        c.token.transfer(payer, payee.address, 5_001)
    assert exc.value.arguments == {"sender": payer.address, "balance": 5_000, "needed": 5_001}


def test_transfer_refuses_the_zero_address(consortium: Consortium) -> None:
    c = consortium
    payer = c.suppliers[0]
    c.token.mint(c.operator, payer.address, 5_000, b"deposit-1")
    with pytest.raises(errors.ERC20InvalidReceiver) as exc:
        c.token.transfer(payer, ZERO_ADDRESS, 1)
    assert exc.value.arguments == {"receiver": ZERO_ADDRESS}


# ---------------------------------------------------------------- transferFrom


def test_transfer_from_by_a_member_spender_spends_the_allowance(consortium: Consortium) -> None:
    c = consortium
    owner, spender, payee = c.suppliers
    c.token.mint(c.operator, owner.address, 5_000, b"deposit-1")
    c.token.approve(owner, spender.address, 3_000)
    token_transfer_from(c, spender, owner.address, payee.address, 1_000)
    assert c.token.balance_of(payee.address) == 1_000
    assert c.token.allowance(owner.address, spender.address) == 2_000


def test_transfer_from_by_anyone_but_the_ledger_refuses_a_suspended_owner(consortium: Consortium) -> None:
    c = consortium
    owner, spender, payee = c.suppliers
    c.token.mint(c.operator, owner.address, 5_000, b"deposit-1")
    c.token.approve(owner, spender.address, 3_000)
    c.ledger.suspend_member(c.operator, owner.address)
    with pytest.raises(errors.NotAnActiveMember) as exc:
        token_transfer_from(c, spender, owner.address, payee.address, 1_000)
    assert exc.value.arguments == {"account": owner.address}


def test_transfer_from_by_anyone_but_the_ledger_refuses_a_non_member_recipient(
    consortium: Consortium,
) -> None:
    c = consortium
    owner, spender, _ = c.suppliers
    c.token.mint(c.operator, owner.address, 5_000, b"deposit-1")
    c.token.approve(owner, spender.address, 3_000)
    with pytest.raises(errors.NotAnActiveMember) as exc:
        token_transfer_from(c, spender, owner.address, c.outsider.address, 1_000)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_transfer_from_refuses_more_than_the_allowance(consortium: Consortium) -> None:
    c = consortium
    owner, spender, payee = c.suppliers
    c.token.mint(c.operator, owner.address, 5_000, b"deposit-1")
    c.token.approve(owner, spender.address, 999)
    with pytest.raises(errors.ERC20InsufficientAllowance) as exc:
        token_transfer_from(c, spender, owner.address, payee.address, 1_000)
    assert exc.value.arguments == {"spender": spender.address, "allowance": 999, "needed": 1_000}


def test_the_ledgers_transfer_from_pays_a_suspended_holder(consortium: Consortium) -> None:
    """The ledger checks the parties itself, so its transferFrom skips the token's member check: an
    obligor's payment reaches a holder suspended since it took the note."""
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(amount=1_000, to=holder, days=1)
    c.fund_tokens(c.core, 1_000)
    c.ledger.suspend_member(c.operator, holder.address)
    at_maturity(c, note)
    result = c.ledger.pay(c.core, note, 1_000)
    assert token_events(c, result) == [
        ("Transfer", {"from": c.core.address, "to": holder.address, "value": 1_000})
    ]
    assert c.token.balance_of(holder.address) == 1_000
    assert c.token.allowance(c.core.address, c.ledger.address) == 0


# ---------------------------------------------------------------- single-use references


def test_mint_refuses_a_reference_already_used_by_a_deposit(consortium: Consortium) -> None:
    c = consortium
    c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    with pytest.raises(errors.ReferenceAlreadyUsed) as exc:
        c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    assert exc.value.arguments == {"paymentReference": reference_bytes(b"deposit-1")}
    assert c.token.balance_of(c.bank.address) == 5_000


def test_burn_refuses_a_reference_already_used_by_a_withdrawal(consortium: Consortium) -> None:
    c = consortium
    c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    c.token.burn(c.operator, c.bank.address, 1_000, b"payout-1")
    with pytest.raises(errors.ReferenceAlreadyUsed):
        c.token.burn(c.operator, c.bank.address, 1_000, b"payout-1")
    assert c.token.balance_of(c.bank.address) == 4_000


def test_deposits_and_withdrawals_share_one_reference_namespace(consortium: Consortium) -> None:
    c = consortium
    c.token.mint(c.operator, c.bank.address, 5_000, b"bank-ref-1")
    with pytest.raises(errors.ReferenceAlreadyUsed):
        c.token.burn(c.operator, c.bank.address, 1_000, b"bank-ref-1")


def test_reference_used_turns_true_once_a_reference_is_used(consortium: Consortium) -> None:
    c = consortium
    assert c.token.reference_used(b"deposit-1") is False
    c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    assert c.token.reference_used(b"deposit-1") is True


def test_a_refused_mint_leaves_its_reference_unused(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAnActiveMember):
        c.token.mint(c.operator, c.outsider.address, 5_000, b"deposit-1")
    assert c.token.reference_used(b"deposit-1") is False
    c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")


def test_references_are_per_token(consortium: Consortium) -> None:
    c = consortium
    euro = SettlementTokenClient.deploy(c.ledger, c.operator, "EUR")
    c.token.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    euro.mint(c.operator, c.bank.address, 5_000, b"deposit-1")
    assert euro.balance_of(c.bank.address) == 5_000
