"""Financing configuration (operator only): the grace period after maturity, and the one settlement
token registered per currency."""

from __future__ import annotations

import pytest

from service.domain import DEFAULT_GRACE_PERIOD
from service.ledger import errors
from service.ledger.client import LedgerClient, SettlementTokenClient
from tests.consortium import DAY, Consortium, new_account
from tests.contracts.helpers import ZERO_ADDRESS, only_event

MAX_GRACE_PERIOD = 90 * DAY

# ---------------------------------------------------------------- grace period


def test_grace_period_defaults_to_five_days(consortium: Consortium) -> None:
    assert consortium.ledger.grace_period() == DEFAULT_GRACE_PERIOD == 5 * DAY


def test_set_grace_period_changes_it_and_emits_grace_period_changed(consortium: Consortium) -> None:
    c = consortium
    result = c.ledger.set_grace_period(c.operator, 10 * DAY)
    assert only_event(result, "GracePeriodChanged") == {"gracePeriod": 10 * DAY}
    assert c.ledger.grace_period() == 10 * DAY


def test_set_grace_period_accepts_zero_and_the_maximum(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_grace_period(c.operator, 0)
    assert c.ledger.grace_period() == 0
    c.ledger.set_grace_period(c.operator, MAX_GRACE_PERIOD)
    assert c.ledger.grace_period() == MAX_GRACE_PERIOD


def test_set_grace_period_refuses_more_than_ninety_days(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidGracePeriod) as exc:
        c.ledger.set_grace_period(c.operator, MAX_GRACE_PERIOD + 1)
    assert exc.value.arguments == {"gracePeriod": MAX_GRACE_PERIOD + 1}


def test_set_grace_period_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.set_grace_period(c.core, DAY)
    assert exc.value.arguments == {"caller": c.core.address}


# ---------------------------------------------------------------- settlement token


def test_the_consortiums_usd_token_is_registered_and_other_currencies_have_none(
    consortium: Consortium,
) -> None:
    c = consortium
    assert c.ledger.settlement_token("USD") == c.token.address
    assert c.ledger.settlement_token("EUR") == ZERO_ADDRESS


def test_set_settlement_token_registers_a_currency_and_emits_settlement_token_registered(
    consortium: Consortium,
) -> None:
    c = consortium
    euro = SettlementTokenClient.deploy(c.ledger, c.operator, "EUR")
    result = c.ledger.set_settlement_token(c.operator, "EUR", euro.address)
    assert only_event(result, "SettlementTokenRegistered") == {"currency": b"EUR", "token": euro.address}
    assert c.ledger.settlement_token("EUR") == euro.address


def test_set_settlement_token_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    euro = SettlementTokenClient.deploy(c.ledger, c.operator, "EUR")
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.set_settlement_token(c.bank, "EUR", euro.address)
    assert exc.value.arguments == {"caller": c.bank.address}


def test_set_settlement_token_refuses_an_invalid_currency_code(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidCurrency) as exc:
        c.ledger.set_settlement_token(c.operator, "eur", c.token.address)
    assert exc.value.arguments == {"currency": b"eur"}


def test_set_settlement_token_refuses_the_zero_address(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroAddress) as exc:
        c.ledger.set_settlement_token(c.operator, "EUR", ZERO_ADDRESS)
    assert exc.value.arguments == {}


def test_set_settlement_token_refuses_a_currency_already_registered(consortium: Consortium) -> None:
    c = consortium
    second = SettlementTokenClient.deploy(c.ledger, c.operator, "USD")
    with pytest.raises(errors.SettlementTokenAlreadySet) as exc:
        c.ledger.set_settlement_token(c.operator, "USD", second.address)
    assert exc.value.arguments == {"currency": b"USD", "token": c.token.address}
    assert c.ledger.settlement_token("USD") == c.token.address


def test_set_settlement_token_refuses_a_token_of_another_currency(consortium: Consortium) -> None:
    c = consortium
    euro = SettlementTokenClient.deploy(c.ledger, c.operator, "EUR")
    with pytest.raises(errors.SettlementTokenMismatch) as exc:
        c.ledger.set_settlement_token(c.operator, "GBP", euro.address)
    assert exc.value.arguments == {"token": euro.address}


def test_set_settlement_token_refuses_a_token_of_another_ledger(consortium: Consortium) -> None:
    c = consortium
    deployer = new_account(c.chain)
    other = LedgerClient.deploy(c.chain.w3, deployer, deployer.address)
    foreign = SettlementTokenClient.deploy(other, deployer, "EUR")
    with pytest.raises(errors.SettlementTokenMismatch) as exc:
        c.ledger.set_settlement_token(c.operator, "EUR", foreign.address)
    assert exc.value.arguments == {"token": foreign.address}


def test_set_settlement_token_refuses_an_address_without_a_token_contract(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.UnknownRevert):
        c.ledger.set_settlement_token(c.operator, "EUR", c.bank.address)
    assert c.ledger.settlement_token("EUR") == ZERO_ADDRESS
