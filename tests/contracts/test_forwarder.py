"""ERC-2771 relay: requests signed by a member (EIP-712) and relayed through the ledger's trusted
CreditChainForwarder act as the signer; every refusal of the forwarder, and of the ledger behind it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.domain import NoteStatus, Role
from service.ledger import errors
from service.ledger.client import LedgerClient
from service.ledger.relay import ForwardRequest, recover_signer, sign_request
from service.ledger.types import TxResult
from tests.consortium import Consortium
from tests.contracts.helpers import ZERO_ADDRESS, module_state

INNER_GAS = 300_000


@dataclass(frozen=True)
class Signer:
    """A supplier holding its own key and no ether: it only signs."""

    account: LocalAccount

    @property
    def address(self) -> str:
        return self.account.address


@pytest.fixture(scope="module")
def _signer(_deployed: Consortium) -> Iterator[Signer]:
    with module_state(_deployed):
        account: LocalAccount = Account.create()
        _deployed.ledger.onboard_member(_deployed.operator, account.address, Role.SUPPLIER)
        yield Signer(account)


@pytest.fixture
def signer(consortium: Consortium, _signer: Signer) -> Signer:
    return _signer


def request_for(
    c: Consortium, signer: Signer, fn_name: str, *args: object, ledger: LedgerClient | None = None
) -> ForwardRequest:
    target = ledger or c.ledger
    data = bytes.fromhex(target.contract.encode_abi(fn_name, args=list(args))[2:])
    return ForwardRequest(
        sender=signer.address,
        to=target.address,
        value=0,
        gas=INNER_GAS,
        nonce=c.forwarder.nonce_of(signer.address),
        deadline=c.chain.now() + 600,
        data=data,
    )


def signed(c: Consortium, request: ForwardRequest, by: LocalAccount) -> bytes:
    return sign_request(by, request, c.chain.w3.eth.chain_id, c.forwarder.address)


def relay(c: Consortium, signer: Signer, fn_name: str, *args: object) -> TxResult:
    """`fn_name(*args)` signed by `signer` and relayed by the operator (who pays the gas)."""
    request = request_for(c, signer, fn_name, *args)
    return c.forwarder.execute(c.operator, request, signed(c, request, signer.account))


def pending_to(c: Consortium, signer: Signer, amount: int = 1_000) -> int:
    return c.issue(amount, to=signer.account)


def active_of(c: Consortium, signer: Signer, amount: int = 1_000) -> int:
    note_id = pending_to(c, signer, amount)
    relay(c, signer, "accept", note_id)
    return note_id


def ledger_events(result: TxResult) -> list[tuple[str, dict[str, object]]]:
    return [(e.name, e.args) for e in result.events if e.name != "ExecutedForwardRequest"]


# ---------------------------------------------------------------- relayed calls act as the signer


def test_the_ledger_trusts_the_forwarder_it_was_deployed_with(consortium: Consortium) -> None:
    c = consortium
    assert c.ledger.trusted_forwarder() == c.forwarder.address
    assert c.ledger.is_trusted_forwarder(c.forwarder.address)
    assert not c.ledger.is_trusted_forwarder(c.operator.address)


def test_the_forwarder_verifies_a_request_signed_off_chain(consortium: Consortium, signer: Signer) -> None:
    c = consortium
    request = request_for(c, signer, "accept", 1)
    assert c.forwarder.verify(request, signed(c, request, signer.account))


def test_a_relayed_accept_acts_as_the_signer(consortium: Consortium, signer: Signer) -> None:
    c = consortium
    note_id = pending_to(c, signer)
    result = relay(c, signer, "accept", note_id)
    assert ledger_events(result) == [("NoteAccepted", {"noteId": note_id, "holder": signer.address})]
    executed = [e.args for e in result.events if e.name == "ExecutedForwardRequest"]
    assert executed == [{"signer": signer.address, "nonce": 0, "success": True}]
    assert c.ledger.get_note(note_id).status is NoteStatus.ACTIVE
    assert c.chain.w3.eth.get_transaction(result.tx_hash)["from"] == c.operator.address
    assert c.chain.w3.eth.get_balance(signer.address) == 0


def test_a_relayed_split_acts_as_the_signer(consortium: Consortium, signer: Signer) -> None:
    c = consortium
    note_id = active_of(c, signer)
    tier2 = c.suppliers[1].address
    result = relay(c, signer, "split", note_id, [(signer.address, 600), (tier2, 400)])
    assert ledger_events(result) == [
        (
            "NoteSplit",
            {
                "parentId": note_id,
                "noteId": note_id + 1,
                "holder": signer.address,
                "rootId": note_id,
                "amount": 600,
            },
        ),
        (
            "NoteSplit",
            {"parentId": note_id, "noteId": note_id + 2, "holder": tier2, "rootId": note_id, "amount": 400},
        ),
    ]
    assert c.ledger.get_note(note_id + 1).holder == signer.address


def test_a_relayed_transfer_acts_as_the_signer(consortium: Consortium, signer: Signer) -> None:
    c = consortium
    note_id = active_of(c, signer)
    tier2 = c.suppliers[1].address
    result = relay(c, signer, "transfer", note_id, tier2)
    assert ledger_events(result) == [
        ("NoteTransferred", {"noteId": note_id, "from": signer.address, "to": tier2})
    ]
    assert c.ledger.get_note(note_id).holder == tier2
    assert c.forwarder.nonce_of(signer.address) == 2


def test_direct_calls_still_act_as_their_sender(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note(1_000)
    result = c.ledger.transfer(c.suppliers[0], note_id, c.suppliers[1].address)
    assert ledger_events(result) == [
        ("NoteTransferred", {"noteId": note_id, "from": c.suppliers[0].address, "to": c.suppliers[1].address})
    ]


def test_a_direct_call_with_an_address_appended_is_not_taken_as_relayed(
    consortium: Consortium, signer: Signer
) -> None:
    """Only the trusted forwarder may name the sender: anybody else appending an address to the
    calldata still acts as itself."""
    c = consortium
    note_id = pending_to(c, signer)
    data = c.ledger.contract.encode_abi("accept", args=[note_id]) + signer.address[2:]
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.sender.send(c.suppliers[1], to=c.ledger.address, data=data)
    assert exc.value.arguments == {"noteId": note_id, "caller": c.suppliers[1].address}


# ---------------------------------------------------------------- refusals of the forwarder


def test_a_request_signed_by_another_key_is_refused_as_invalid_signer(
    consortium: Consortium, signer: Signer
) -> None:
    c = consortium
    note_id = pending_to(c, signer)
    request = request_for(c, signer, "accept", note_id)
    forged = signed(c, request, c.suppliers[1])
    assert not c.forwarder.verify(request, forged)
    with pytest.raises(errors.ERC2771ForwarderInvalidSigner) as exc:
        c.forwarder.execute(c.operator, request, forged)
    assert exc.value.arguments == {"signer": c.suppliers[1].address, "from": signer.address}
    assert c.ledger.get_note(note_id).status is NoteStatus.PENDING


def test_a_request_past_its_deadline_is_refused_as_expired(consortium: Consortium, signer: Signer) -> None:
    c = consortium
    note_id = pending_to(c, signer)
    request = replace(request_for(c, signer, "accept", note_id), deadline=c.chain.now())
    with pytest.raises(errors.ERC2771ForwarderExpiredRequest) as exc:
        c.forwarder.execute(c.operator, request, signed(c, request, signer.account))
    assert exc.value.arguments == {"deadline": request.deadline}


def test_a_replayed_request_is_refused_as_its_nonce_is_used(consortium: Consortium, signer: Signer) -> None:
    c = consortium
    note_id = pending_to(c, signer)
    request = request_for(c, signer, "accept", note_id)
    signature = signed(c, request, signer.account)
    c.forwarder.execute(c.operator, request, signature)
    assert not c.forwarder.verify(request, signature)
    with pytest.raises(errors.ERC2771ForwarderInvalidSigner):
        c.forwarder.execute(c.operator, request, signature)
    assert c.forwarder.nonce_of(signer.address) == 1


def test_a_request_carrying_value_the_relayer_does_not_send_is_refused(
    consortium: Consortium, signer: Signer
) -> None:
    c = consortium
    note_id = pending_to(c, signer)
    request = replace(request_for(c, signer, "accept", note_id), value=1)
    with pytest.raises(errors.ERC2771ForwarderMismatchedValue) as exc:
        c.forwarder.execute(c.operator, request, signed(c, request, signer.account))
    assert exc.value.arguments == {"requestedValue": 1, "msgValue": 0}


def test_a_ledger_without_a_forwarder_trusts_none_and_serves_direct_callers(
    consortium: Consortium, signer: Signer
) -> None:
    c = consortium
    plain = LedgerClient.deploy(c.chain.w3, c.operator, c.operator.address, nonces=c.ledger.nonces)
    assert plain.trusted_forwarder() == ZERO_ADDRESS
    assert not plain.is_trusted_forwarder(c.forwarder.address)
    result = plain.onboard_member(c.operator, signer.address, Role.SUPPLIER)
    assert [e.name for e in result.events] == ["MemberOnboarded"]
    request = request_for(c, signer, "transferOperator", signer.address, ledger=plain)
    with pytest.raises(errors.ERC2771UntrustfulTarget) as exc:
        c.forwarder.execute(c.operator, request, signed(c, request, signer.account))
    assert exc.value.arguments == {"target": plain.address, "forwarder": c.forwarder.address}


# ---------------------------------------------------------------- refusals of the ledger behind it


def test_a_ledger_revert_fails_the_whole_execute_and_changes_nothing(
    consortium: Consortium, signer: Signer
) -> None:
    c = consortium
    note_id = c.active_note(1_000)  # held by another supplier
    request = request_for(c, signer, "transfer", note_id, signer.address)
    with pytest.raises(errors.NotHolder) as simulated:
        c.forwarder.simulate(c.ledger.address, signer.address, request.data)
    assert simulated.value.arguments == {"noteId": note_id, "caller": signer.address}
    with pytest.raises(errors.FailedCall):
        c.forwarder.execute(c.operator, request, signed(c, request, signer.account))
    assert c.forwarder.nonce_of(signer.address) == 0
    assert c.ledger.get_note(note_id).holder == c.suppliers[0].address


# ---------------------------------------------------------------- the signature, off-chain


def test_the_signer_is_recovered_off_chain_and_malleable_signatures_are_refused(
    consortium: Consortium, signer: Signer
) -> None:
    c = consortium
    chain_id, forwarder = c.chain.w3.eth.chain_id, c.forwarder.address
    request = request_for(c, signer, "accept", 1)
    signature = signed(c, request, signer.account)
    assert recover_signer(request, signature, chain_id, forwarder) == signer.address
    assert recover_signer(request, signature[:64], chain_id, forwarder) is None
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = (n - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big")
    flipped = signature[:32] + high_s + bytes([55 - signature[64]])
    assert recover_signer(request, flipped, chain_id, forwarder) is None
