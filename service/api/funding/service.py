"""Funding: what pays the gas of the accounts the gateway signs with, and topping them up from the
funder (`CREDCHAIN_FUNDER_KEY`). Used by `GET /v1/funding`, `POST /v1/funding/top-ups`, `credchain
funding` and the start-up announcement of `credchain run` / `init` / `members add`."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from web3 import Web3

from service.api.context import AppContext
from service.api.funding.schemas import MAX_TOP_UP_WEI, FundingStatus, LowAccount, TopUpOut
from service.api.problems import ProblemError
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.ledger.chain import Chain
from service.ledger.sender import PRIORITY_FEE_WEI
from service.ledger.types import TxResult
from service.settings import Settings

log = logging.getLogger("credchain.funding")

WRITE_GAS = 400_000
"""Gas of one ledger write, generously (issuing a note with the sender's 20 % headroom is about
300,000): an account with less than this at the max fee the gateway offers cannot write."""

RELAYER = "relayer"
"""The member id `POST /v1/funding/top-ups` and `credchain funding top-up` take for the relayer."""

WEI_PER_ETHER = 10**18


def parse_ether(text: str) -> int:
    """Wei from a decimal string of ether ("0.5" -> 5 * 10**17), exactly (Decimal, never a float);
    ValueError if it is not a positive amount of whole wei."""
    try:
        ether = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a decimal number of ether") from exc
    if not ether.is_finite() or ether <= 0:
        raise ValueError(f"{text!r}: the amount must be positive")
    wei = ether * WEI_PER_ETHER
    if wei != wei.to_integral_value():
        raise ValueError(f"{text!r}: more than 18 decimal places (less than one wei)")
    if wei > MAX_TOP_UP_WEI:
        raise ValueError(f"{text!r}: more than {MAX_TOP_UP_WEI // WEI_PER_ETHER} ether")
    return int(wei)


def ether_text(wei: int) -> str:
    """Wei as ether for people ("1.5 ETH"), exact."""
    ether = (Decimal(wei) / WEI_PER_ETHER).normalize()
    return f"{ether:f} ETH"


def write_cost(chain: Chain) -> int:
    """What one write may cost at the latest block's base fee (`WRITE_GAS` at the max fee offered)."""
    block = chain.w3.eth.get_block("latest")
    base_fee = int(block.get("baseFeePerGas", 0))
    return WRITE_GAS * (2 * base_fee + PRIORITY_FEE_WEI)


def chain_status(settings: Settings, chain: Chain, relayer: str | None) -> FundingStatus:
    """Funder, per-account funding and relayer of `chain` (no member listing: `init`)."""
    funder = chain.funder.address if chain.funder is not None else None
    return FundingStatus(
        chain=chain.kind,
        funder_address=funder,
        funder_balance_wei=str(chain.balance(funder)) if funder else None,
        funding_wei=str(settings.funding_wei if funder else 0),
        low_balance_threshold_wei=str(write_cost(chain)),
        relayer_address=relayer,
        relayer_balance_wei=str(chain.balance(relayer)) if relayer else None,
        low_accounts=[],
    )


def funding_status(context: AppContext) -> FundingStatus:
    """The funder and its balance, per-account funding, the low-balance threshold, the relayer, and
    every custodial account (and the relayer) whose balance is below what one write costs: one
    balance request per custodial member (an operator's look, never on a write's path)."""
    relayer = context.relayer()
    status = chain_status(context.settings, context.chain, relayer.address if relayer else None)
    threshold = int(status.low_balance_threshold_wei)
    with context.session() as session:
        members = session.execute(
            select(ApiMember.id, ApiMember.name, ApiMember.address)
            .where(ApiMember.custody == "custodial")
            .order_by(ApiMember.id)
        ).all()
    low = []
    for member_id, name, address in members:
        balance = context.chain.balance(address)
        if balance < threshold:
            low.append(LowAccount(member_id=member_id, name=name, address=address, balance_wei=str(balance)))
    if status.relayer_address and int(status.relayer_balance_wei or 0) < threshold:
        low.append(
            LowAccount(
                member_id=RELAYER,
                name="relayer",
                address=status.relayer_address,
                balance_wei=status.relayer_balance_wei or "0",
            )
        )
    return status.model_copy(update={"low_accounts": low})


def status_lines(status: FundingStatus) -> list[str]:
    """`status` for people, one line each."""
    lines = []
    if status.funder_address is None:
        lines.append(
            "no funder: new custodial accounts get no gas; fund them yourself "
            "(`credchain funding top-up` needs a funder too) or set CREDCHAIN_FUNDER_KEY"
        )
    else:
        balance = int(status.funder_balance_wei or 0)
        lines.append(f"funder {status.funder_address}: {ether_text(balance)} ({balance} wei)")
        funding = int(status.funding_wei)
        lines.append(
            f"each new custodial account gets {ether_text(funding)} ({funding} wei)"
            if funding
            else "new custodial accounts get no gas (CREDCHAIN_FUNDING_WEI=0)"
        )
    threshold = int(status.low_balance_threshold_wei)
    lines.append(f"one write may cost up to {ether_text(threshold)} ({threshold} wei) at today's gas price")
    if status.relayer_address is None:
        lines.append("no relayer (CREDCHAIN_RELAYER_KEY unset): self-custodied members' requests wait")
    else:
        balance = int(status.relayer_balance_wei or 0)
        lines.append(f"relayer {status.relayer_address}: {ether_text(balance)} ({balance} wei)")
    for account in status.low_accounts:
        lines.append(
            f"low: {account.member_id} ({account.name}) at {account.address} has {account.balance_wei} wei"
        )
    return lines


def announce(status: FundingStatus) -> None:
    """Log the funding of a gateway against a node at start: one structured line."""
    log.info(
        "funding: funder %s, %s wei per new custodial account, relayer %s",
        status.funder_address or "none (new custodial accounts get no gas; set CREDCHAIN_FUNDER_KEY)",
        status.funding_wei,
        status.relayer_address or "none",
        extra={
            "funder_address": status.funder_address,
            "funder_balance_wei": status.funder_balance_wei,
            "funding_wei": status.funding_wei,
            "low_balance_threshold_wei": status.low_balance_threshold_wei,
            "relayer_address": status.relayer_address,
            "relayer_balance_wei": status.relayer_balance_wei,
            "low_accounts": [a.member_id for a in status.low_accounts],
        },
    )


def account_of(context: AppContext, member_id: str) -> str:
    """The address a top-up for `member_id` goes to (404 `member-not-found` if there is none)."""
    if member_id == RELAYER:
        relayer = context.relayer()
        if relayer is not None:
            return str(relayer.address)
    with context.session() as session:
        address = session.scalars(select(ApiMember.address).where(ApiMember.id == member_id)).first()
    if address is None:
        raise ProblemError(404, "member-not-found", "No such member", f"no member {member_id!r}")
    return Web3.to_checksum_address(address)


def top_up(context: AppContext, member_id: str, wei: int) -> TopUpOut:
    """Send `wei` from the funder to the account of `member_id` (a member or `relayer`); under an
    Idempotency-Key (the route) the transfer is journaled like any write and done once. 404 for an
    unknown member, 409 `no-funder` without CREDCHAIN_FUNDER_KEY, 503 `insufficient-gas` naming the
    funder if it cannot pay."""
    address = account_of(context, member_id)
    funder = context.chain.funder
    if funder is None:
        raise ProblemError(
            409,
            "no-funder",
            "No funder is configured",
            "the gateway has no funder to send ether from: set CREDCHAIN_FUNDER_KEY (from a secret "
            f"store) and restart it, or send ether to {address} yourself",
        )

    def transfer(_account: Any) -> TxResult:
        receipt: Any = context.send_ether(address, wei)
        return TxResult(
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=(),
            contract_address=None,
            block_hash=receipt["blockHash"].to_0x_hex(),
        )

    inputs = {"member_id": member_id, "address": address, "amount_wei": str(wei)}
    _status, answer = transact(context, funder, top_up_answer, inputs, transfer)
    assert isinstance(answer, TopUpOut)
    log.info(
        "topped up %s (%s) with %s wei",
        member_id,
        address,
        wei,
        extra={"member_id": member_id, "address": address, "amount_wei": str(wei), "tx_hash": answer.tx_hash},
    )
    return answer


def top_up_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a top-up: the transfer and the account's balance now."""
    result = sent[-1].result
    address = str(inputs["address"])
    return 201, TopUpOut(
        member_id=str(inputs["member_id"]),
        address=address,
        amount_wei=str(inputs["amount_wei"]),
        balance_wei=str(context.chain.balance(address)),
        tx_hash=result.tx_hash,
        block_number=result.block_number,
    )
