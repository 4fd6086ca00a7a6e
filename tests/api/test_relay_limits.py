"""Limits of /v1/relay (issue 12, finding 13): deadlines capped (`relay_max_deadline_seconds`), a
gas budget per member per 24 hours counted in SQL (`relay_gas_per_day`, 429 with Retry-After when
spent), and a dedicated relayer key that pays the gas (never the operator's)."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr
from sqlalchemy import select, update

from service.api.context import build_context
from service.api.problems import ProblemError
from service.api.relay import budget as relay_budget
from service.api.relay.budget import FORWARDER_OVERHEAD_GAS, WINDOW_SECONDS
from service.db.gateway_models import ApiMember, RelayGas
from service.db.session import make_engine
from tests.api.conftest import Gateway
from tests.api.test_flow import problem
from tests.api.test_relay_api import SelfCustodied, member

__all__ = ["member"]


def _limit(gw: Gateway, **values: Any) -> None:
    gw.context.settings = gw.context.settings.model_copy(update=values)


def _rows(gw: Gateway, member_id: str) -> list[RelayGas]:
    with gw.context.session() as session:
        return list(
            session.scalars(select(RelayGas).where(RelayGas.member_id == member_id).order_by(RelayGas.id))
        )


def _receipt(gw: Gateway, tx_hash: str) -> Any:
    return gw.chain.w3.eth.get_transaction_receipt(tx_hash)


# ------------------------------------------------------------------ deadlines
def test_prepare_refuses_a_deadline_beyond_the_cap(member: SelfCustodied) -> None:
    body = problem(
        member.prepare("accept", int(member.note), deadline_seconds=3601), 422, "relay-deadline-too-far"
    )
    assert body["field"] == "deadline_seconds"


def test_prepare_accepts_a_deadline_at_the_cap(member: SelfCustodied) -> None:
    now = member.gw.chain.now()
    answer = member.prepare("accept", int(member.note), deadline_seconds=3600)
    assert answer.status_code == 200, answer.text
    assert now + 3600 <= answer.json()["message"]["deadline"] <= now + 3600 + 5


def test_the_cap_is_a_setting(member: SelfCustodied) -> None:
    _limit(member.gw, relay_max_deadline_seconds=120)
    problem(member.prepare("accept", int(member.note), deadline_seconds=600), 422, "relay-deadline-too-far")


def test_relay_refuses_a_signed_deadline_beyond_the_cap_and_sends_nothing(member: SelfCustodied) -> None:
    gw = member.gw
    typed = member.prepared("accept", int(member.note))
    block = gw.chain.w3.eth.block_number
    for deadline in (gw.chain.now() + 3600 + 60, 2**48 - 1):
        body = problem(
            member.relay(member.relay_body(typed, deadline=deadline)), 422, "relay-deadline-too-far"
        )
        assert body["field"] == "request.deadline"
    assert gw.chain.w3.eth.block_number == block and member.forwarder_nonce() == 0
    assert _rows(gw, member.member_id) == []


# ------------------------------------------------------------------ the relayer
def test_the_relayer_pays_and_the_operator_key_is_never_used(member: SelfCustodied) -> None:
    gw = member.gw
    operator = gw.addresses["operator"]
    operator_nonce = gw.chain.w3.eth.get_transaction_count(operator)
    answer = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert answer.status_code == 200, answer.text
    relayer = gw.context.relayer()
    assert relayer is not None and relayer.address != operator
    sender = gw.chain.w3.eth.get_transaction(answer.json()["tx_hash"])["from"]
    assert sender == relayer.address
    assert gw.chain.w3.eth.get_transaction_count(operator) == operator_nonce


def test_the_relayer_key_setting_is_the_key_that_relays(member: SelfCustodied) -> None:
    gw = member.gw
    own: LocalAccount = Account.create()
    gw.context.fund(own.address)
    _limit(gw, relayer_key=SecretStr("0x" + bytes(own.key).hex()))
    gw.context._relayer = None  # as a gateway started with CREDCHAIN_RELAYER_KEY
    answer = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert answer.status_code == 200, answer.text
    assert gw.chain.w3.eth.get_transaction(answer.json()["tx_hash"])["from"] == own.address


# ------------------------------------------------------------------ the gas budget
def test_relayed_gas_is_recorded_in_sql_from_the_receipt(member: SelfCustodied) -> None:
    gw = member.gw
    answer = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert answer.status_code == 200, answer.text
    tx_hash = answer.json()["tx_hash"]
    [row] = _rows(gw, member.member_id)
    assert (row.tx_hash, row.gas) == (tx_hash, _receipt(gw, tx_hash)["gasUsed"])


def test_a_spent_budget_answers_429_with_retry_after_and_sends_nothing(member: SelfCustodied) -> None:
    gw = member.gw
    first = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert first.status_code == 200, first.text
    used = _receipt(gw, first.json()["tx_hash"])["gasUsed"]
    parts = [(member.account.address, 600_000), (gw.addresses["s2"], 400_000)]
    typed = member.prepared("split", int(member.note), parts)
    needed = int(typed["message"]["gas"]) + FORWARDER_OVERHEAD_GAS
    _limit(gw, relay_gas_per_day=used + needed - 1)
    block = gw.chain.w3.eth.block_number
    answer = member.relay(member.relay_body(typed))
    body = problem(answer, 429, "relay-budget-exhausted")
    retry = int(answer.headers["retry-after"])
    assert WINDOW_SECONDS - 120 <= retry <= WINDOW_SECONDS
    assert (body["spent"], body["needed"]) == (str(used), str(needed))
    assert gw.chain.w3.eth.block_number == block and member.forwarder_nonce() == 1
    assert len(_rows(gw, member.member_id)) == 1


def test_the_budget_frees_up_as_spending_leaves_the_24_hour_window(member: SelfCustodied) -> None:
    gw = member.gw
    first = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert first.status_code == 200, first.text
    parts = [(member.account.address, 600_000), (gw.addresses["s2"], 400_000)]
    typed = member.prepared("split", int(member.note), parts)
    _limit(gw, relay_gas_per_day=int(typed["message"]["gas"]) + FORWARDER_OVERHEAD_GAS)
    problem(member.relay(member.relay_body(typed)), 429, "relay-budget-exhausted")
    with gw.context.session() as session:  # a day passes
        session.execute(update(RelayGas).values(relayed_at=RelayGas.relayed_at - WINDOW_SECONDS))
        session.commit()
    answer = member.relay(member.relay_body(typed))
    assert answer.status_code == 200, answer.text


def test_another_members_spending_does_not_count(member: SelfCustodied) -> None:
    gw = member.gw
    with gw.context.session() as session:
        session.add(RelayGas(member_id="m_other", relayed_at=2**40, gas=10**12, tx_hash=None))
        session.commit()
    answer = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert answer.status_code == 200, answer.text


def test_a_request_larger_than_a_days_budget_is_refused_as_such(member: SelfCustodied) -> None:
    typed = member.prepared("accept", int(member.note))
    _limit(member.gw, relay_gas_per_day=int(typed["message"]["gas"]))
    body = problem(member.relay(member.relay_body(typed)), 422, "relay-gas-over-budget")
    assert body["field"] == "request.gas"


def test_the_budget_holds_across_gateway_processes(member: SelfCustodied) -> None:
    """Another gateway process (its own context, the same database) sees this one's spending."""
    gw = member.gw
    first = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert first.status_code == 200, first.text
    used = _receipt(gw, first.json()["tx_hash"])["gasUsed"]
    settings = gw.context.settings.model_copy(update={"relay_gas_per_day": used + 150_000})
    other = build_context(settings, chain=gw.chain, engine=make_engine(settings.database_url))
    try:
        with other.session() as session:
            api_member = session.get(ApiMember, member.member_id)
        assert api_member is not None
        try:
            relay_budget.reserve(other, api_member, 60_000)
        except ProblemError as exc:
            assert (exc.status, exc.slug) == (429, "relay-budget-exhausted")
        else:
            raise AssertionError("the other process did not see the spending")
        reserved = relay_budget.reserve(other, api_member, 40_000)  # what is left still fits
        relay_budget.release(other, reserved)
    finally:
        other.close()


def test_prepare_already_refuses_a_request_the_budget_has_no_room_for(member: SelfCustodied) -> None:
    gw = member.gw
    first = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert first.status_code == 200, first.text
    parts = [(member.account.address, 600_000), (gw.addresses["s2"], 400_000)]
    needed = int(member.prepared("split", int(member.note), parts)["message"]["gas"]) + FORWARDER_OVERHEAD_GAS
    _limit(gw, relay_gas_per_day=_rows(gw, member.member_id)[0].gas + needed - 1)
    answer = member.prepare("split", int(member.note), parts)
    problem(answer, 429, "relay-budget-exhausted")
    assert int(answer.headers["retry-after"]) > 0


def test_spending_that_left_the_window_is_deleted_when_the_member_relays_again(member: SelfCustodied) -> None:
    gw = member.gw
    with gw.context.session() as session:
        session.add(RelayGas(member_id=member.member_id, relayed_at=1, gas=10**12, tx_hash="0x" + "00" * 32))
        session.commit()
    answer = member.relay(member.relay_body(member.prepared("accept", int(member.note))))
    assert answer.status_code == 200, answer.text
    assert [row.tx_hash for row in _rows(gw, member.member_id)] == [answer.json()["tx_hash"]]
