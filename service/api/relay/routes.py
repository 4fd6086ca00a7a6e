"""/v1/relay: writes of self-custodied members, signed by the member (EIP-712) and relayed by the
gateway through the ledger's ERC-2771 forwarder, the gateway's relayer (`CREDCHAIN_RELAYER_KEY`, a
key holding only gas, never the operator's) paying the gas, within a per-member gas budget
(`service.api.relay.budget`).

`prepare` simulates the member's ledger call and answers the typed data to sign; `relay` checks
the signed request (sender, target, value, signature, deadline, nonce), simulates the call again
and sends `forwarder.execute`. The forwarder turns any revert of the inner call into
`FailedCall()`, so the inner call is always simulated first (an `eth_call` to the ledger from the
forwarder, the calldata followed by the member's address, as ERC2771Context reads it): a refusal
is answered with the ledger's own custom error as problem+json, and nothing is sent.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from web3 import Web3

from service.api.auth import SUSPENDED_LEDGER_FUNCTIONS, member_suspended
from service.api.context import AppContext
from service.api.deps import Context, CurrentMember, Write
from service.api.notes.schemas import WriteResult
from service.api.problems import ProblemError
from service.api.relay import budget as relay_budget
from service.api.relay.schemas import RelayIn, RelayPrepareIn, RelayPrepareOut
from service.api.writes import Answer, Sent, note_result, transact
from service.db.gateway_models import ApiMember
from service.ledger.abi_codec import signature as abi_signature
from service.ledger.artifacts import load_artifact
from service.ledger.errors import LedgerRevert
from service.ledger.forwarder import ForwarderClient
from service.ledger.relay import ForwardRequest, recover_signer, typed_data
from service.ledger.sender import GAS_HEADROOM_PERCENT
from service.ledger.types import LEDGER_CONTRACT, TxResult

router = APIRouter(prefix="/v1/relay", tags=["relay"])
GAS_MARGIN = 10_000
"""Gas added to the inner call's estimate (besides the percentage headroom): state may change a
little between preparing and relaying."""
NOTE_ARGUMENTS = ("parentId", "noteId")
"""Event arguments naming the notes a relayed call created or touched."""


# ------------------------------------------------------------------ checks shared by both endpoints
def _self_custodied(member: ApiMember) -> None:
    if member.custody == "custodial":
        raise ProblemError(
            409,
            "custodial-member",
            "The gateway signs for this member",
            "the gateway holds this member's key and signs for it through the normal write endpoints "
            "(POST /v1/notes, /v1/notes/{id}/split, ...); /v1/relay is for members that hold their own keys",
        )


def _forwarder(context: AppContext) -> ForwarderClient:
    """The forwarder the ledger trusts, asked of the ledger once and kept (it is immutable)."""
    ledger = context.ledger
    forwarder = context.forwarders.get(ledger.address)
    if forwarder is None:
        forwarder = ForwarderClient.of_ledger(ledger)
        if forwarder is None:
            raise ProblemError(
                409,
                "relay-unavailable",
                "This ledger does not relay signed requests",
                "the ledger was deployed without a trusted forwarder",
            )
        context.forwarders[ledger.address] = forwarder
    return forwarder


@cache
def _ledger_selectors() -> frozenset[bytes]:
    """Selectors of the ledger's state-changing functions (the artifact is immutable at run time)."""
    return frozenset(
        keccak(text=abi_signature(entry))[:4]
        for entry in load_artifact(LEDGER_CONTRACT).abi
        if entry.get("type") == "function" and entry.get("stateMutability") not in ("view", "pure")
    )


@cache
def _suspended_selectors() -> frozenset[bytes]:
    """Selectors of the ledger functions a suspended member may still call."""
    return frozenset(
        keccak(text=abi_signature(entry))[:4]
        for entry in load_artifact(LEDGER_CONTRACT).abi
        if entry.get("type") == "function" and entry.get("name") in SUSPENDED_LEDGER_FUNCTIONS
    )


def _suspension(member: ApiMember, data: bytes) -> None:
    """403 `member-suspended` when a suspended member's call is not one it may still make (the
    ledger would refuse it too; this answers as the other endpoints do, before any simulation)."""
    if member.suspended and data[:4] not in _suspended_selectors():
        raise member_suspended(member.id)


def _ledger_function(data: bytes) -> None:
    """422 unless `data` calls a state-changing function of the ledger (the relayer pays for it)."""
    if data[:4] not in _ledger_selectors():
        raise ProblemError(
            422,
            "unknown-ledger-function",
            "The calldata does not call a state-changing function of the ledger",
            f"no state-changing ledger function has the selector 0x{data[:4].hex()}",
            field="data",
        )


def _simulate(context: AppContext, forwarder: ForwarderClient, sender: str, data: bytes) -> int:
    """The gas estimate of the ledger call relayed for `sender`; a revert raises the ledger's own
    error (answered as its problem+json)."""
    return forwarder.simulate(context.ledger.address, sender, data)


def _chain_now(context: AppContext) -> int:
    return context.chain.now()


def _nonce(context: AppContext, forwarder: ForwarderClient, owner: str) -> int:
    return forwarder.nonce_of(owner)


# ------------------------------------------------------------------ prepare
@router.post("/prepare", response_model=RelayPrepareOut)
def prepare(body: RelayPrepareIn, context: Context, member: CurrentMember) -> RelayPrepareOut:
    """A self-custodied member's ledger call (calldata built from the ledger's ABI) simulated as the
    member, and the EIP-712 typed data of the forward request to sign: gas estimated with headroom,
    the member's current forwarder nonce, a deadline `deadline_seconds` from the chain's time."""
    _self_custodied(member)
    data = bytes.fromhex(body.data[2:])
    _ledger_function(data)
    _suspension(member, data)
    forwarder = _forwarder(context)
    now = _chain_now(context)
    _deadline_cap(context, now + body.deadline_seconds, now, "deadline_seconds")
    estimate = _simulate(context, forwarder, member.address, data)
    gas = estimate + estimate * GAS_HEADROOM_PERCENT // 100 + GAS_MARGIN
    relay_budget.check(context, member, gas)
    request = ForwardRequest(
        sender=member.address,
        to=context.ledger.address,
        value=0,
        gas=gas,
        nonce=_nonce(context, forwarder, member.address),
        deadline=now + body.deadline_seconds,
        data=data,
    )
    return RelayPrepareOut.model_validate(typed_data(request, forwarder.sender.chain_id, forwarder.address))


# ------------------------------------------------------------------ relay
def _check_request(
    context: AppContext,
    forwarder: ForwarderClient,
    member: ApiMember,
    request: ForwardRequest,
    signature: bytes,
) -> None:
    """Every refusal the forwarder or the ledger would make, answered before anything is sent."""
    if Web3.to_checksum_address(request.sender) != member.address:
        raise ProblemError(
            403,
            "relay-sender-mismatch",
            "The request is not from the caller",
            f"`from` must be the caller's registered address {member.address}",
            field="request.from",
        )
    if Web3.to_checksum_address(request.to) != context.ledger.address:
        raise ProblemError(
            422,
            "relay-target-not-ledger",
            "The request's target is not the ledger",
            f"`to` must be the ledger {context.ledger.address}",
            field="request.to",
        )
    if request.value != 0:
        raise ProblemError(
            422,
            "relay-value-not-allowed",
            "The request must not carry ether",
            "`value` must be 0: the ledger takes no ether",
            field="request.value",
        )
    _ledger_function(request.data)
    _suspension(member, request.data)
    signer = recover_signer(request, signature, forwarder.sender.chain_id, forwarder.address)
    if signer != member.address:
        raise ProblemError(
            422,
            "invalid-signature",
            "The signature is not the caller's signature of this request",
            "sign the typed data from /v1/relay/prepare with the key of `from`"
            + (f" (it recovers to {signer})" if signer else " (not a valid signature)"),
            field="signature",
        )
    now = _chain_now(context)
    if request.deadline <= now:
        raise ProblemError(
            422,
            "relay-request-expired",
            "The request's deadline has passed",
            f"the deadline {request.deadline} is not after the chain's time {now}; prepare it again",
            field="request.deadline",
        )
    _deadline_cap(context, request.deadline, now, "request.deadline")
    current = _nonce(context, forwarder, member.address)
    if request.nonce != current:
        raise ProblemError(
            409,
            "stale-nonce",
            "The request's nonce is not the member's current nonce",
            f"the forwarder expects nonce {current} from {member.address}; prepare the request again",
            field="request.nonce",
            expected_nonce=str(current),
        )
    _simulate(context, forwarder, member.address, request.data)


def _relayer(context: AppContext) -> LocalAccount:
    """The relayer's key (`CREDCHAIN_RELAYER_KEY`), which pays the gas: never the operator's."""
    relayer = context.relayer()
    if relayer is None:
        raise ProblemError(
            409,
            "relay-unavailable",
            "This gateway does not relay signed requests",
            "the gateway has no relayer key to pay for relayed requests: set CREDCHAIN_RELAYER_KEY "
            "(`credchain init` creates one)",
        )
    return relayer


def _deadline_cap(context: AppContext, deadline: int, now: int, field: str) -> None:
    """422 `relay-deadline-too-far` beyond `relay_max_deadline_seconds` from the chain's time `now`:
    a signed request must not stay relayable for long (a leaked one could be sent much later)."""
    longest = context.settings.relay_max_deadline_seconds
    if deadline > now + longest:
        raise ProblemError(
            422,
            "relay-deadline-too-far",
            "The request's deadline is too far ahead",
            f"the deadline may be at most {longest} s after the chain's time {now} (until {now + longest})",
            field=field,
            max_deadline=str(now + longest),
        )


def touched_notes(result: TxResult) -> list[int]:
    """Ids of the notes the ledger events of `result` created or touched, in order, once each."""
    ids: dict[int, None] = {}
    for event in result.events:
        for name in NOTE_ARGUMENTS:
            if name in event.args:
                ids[int(event.args[name])] = None
    return list(ids)


def relayed_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a relayed request: the notes its ledger events created or touched."""
    result, indexed = sent[-1].result, sent[-1].indexed
    if "reservation" in inputs:  # the relayer's gas, counted against the member's budget
        relay_budget.settle(context, int(inputs["reservation"]), result.gas_used, result.tx_hash)
    return 200, note_result(context, result, indexed, touched_notes(result))


@router.post("", response_model=WriteResult)
def relay(
    body: RelayIn,
    write: Write,
    context: Context,
    member: CurrentMember,
) -> JSONResponse:
    """Relay a forward request the self-custodied caller signed (from /v1/relay/prepare): checked,
    simulated, then sent by the gateway's relayer through the ledger's forwarder. Answers like the
    other writes, with the notes the call created or touched."""
    _self_custodied(member)

    def action() -> Answer:
        forwarder = _forwarder(context)
        forward = body.request.request()
        signature = bytes.fromhex(body.signature[2:])
        _check_request(context, forwarder, member, forward, signature)
        relayer = _relayer(context)
        reserved = relay_budget.reserve(context, member, forward.gas)
        try:
            return transact(
                context,
                relayer,
                relayed_answer,
                {"reservation": reserved},
                lambda account: forwarder.execute(account, forward, signature),
            )
        except LedgerRevert:
            relay_budget.release(context, reserved)  # refused by its estimate: nothing was sent
            raise

    return write.run(member, body, action)
