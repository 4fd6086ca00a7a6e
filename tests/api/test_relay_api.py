"""/v1/relay: a self-custodied member signs EIP-712 forward requests with its own key; the gateway
simulates them, relays them through the ledger's forwarder and pays the gas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from service.api.relay.routes import _forwarder
from tests.api.conftest import Gateway
from tests.api.test_flow import problem
from tests.api.test_schemathesis import check_operation

NOBODY = "0x" + "ab" * 20


@dataclass
class SelfCustodied:
    """A supplier that holds its own key, onboarded through the API, and a pending note to it."""

    gw: Gateway
    account: LocalAccount
    member_id: str
    note: str

    def calldata(self, fn_name: str, *args: Any) -> str:
        """Ledger calldata built from the ledger's ABI, as the member would build it."""
        return str(self.gw.context.ledger.contract.encode_abi(fn_name, args=list(args)))

    def prepare(self, fn_name: str, *args: Any, **extra: Any) -> Any:
        return self.gw.post("self", "/v1/relay/prepare", {"data": self.calldata(fn_name, *args), **extra})

    def prepared(self, fn_name: str, *args: Any) -> dict[str, Any]:
        answer = self.prepare(fn_name, *args)
        assert answer.status_code == 200, answer.text
        typed: dict[str, Any] = answer.json()
        return typed

    def relay_body(
        self, typed: dict[str, Any], signer: LocalAccount | None = None, **changes: Any
    ) -> dict[str, Any]:
        """The relay request of `typed` (its message with `changes`), signed by `signer` (default:
        the member) over the changed message."""
        message = {**typed["message"], **changes}
        signed = Account.sign_message(
            encode_typed_data(full_message={**typed, "message": message}), (signer or self.account).key
        )
        return {"request": message, "signature": "0x" + bytes(signed.signature).hex()}

    def relay(self, body: dict[str, Any], **headers: str) -> Any:
        return self.gw.post("self", "/v1/relay", body, **headers)

    def forwarder_nonce(self) -> int:
        return _forwarder(self.gw.context).nonce_of(self.account.address)


@pytest.fixture
def member(gw: Gateway) -> SelfCustodied:
    account: LocalAccount = Account.create()
    answer = gw.post(
        "operator", "/v1/members", {"name": "HSM Supplier", "roles": ["supplier"], "address": account.address}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["custody"] == "self"
    gw.keys["self"], gw.ids["self"], gw.addresses["self"] = body["api_key"], body["id"], account.address
    return SelfCustodied(gw, account, body["id"], gw.issue("self", "1000000"))


def _note(gw: Gateway, note_id: str) -> dict[str, Any]:
    answer = gw.get("auditor", f"/v1/notes/{note_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# ------------------------------------------------------------------ the whole flow
def test_a_self_custodied_supplier_accepts_and_splits_through_the_relay_without_paying_gas(
    member: SelfCustodied,
) -> None:
    gw, note = member.gw, member.note
    accepted = member.relay(member.relay_body(member.prepared("accept", int(note))))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["note_ids"] == [note]
    assert accepted.json()["notes"][0]["status"] == "active"

    parts = [(member.account.address, 600_000), (gw.addresses["s2"], 400_000)]
    answer = member.relay(member.relay_body(member.prepared("split", int(note), parts)))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["indexed"] is True and body["tx_hash"].startswith("0x")
    parent, kept, passed = (int(note), int(note) + 1, int(note) + 2)
    assert body["note_ids"] == [str(parent), str(kept), str(passed)]
    notes = {n["id"]: n for n in body["notes"]}
    assert notes[str(parent)]["status"] == "split"
    assert (notes[str(kept)]["holder_member"], notes[str(kept)]["amount"]) == (member.member_id, "600000")
    assert (notes[str(passed)]["holder_member"], notes[str(passed)]["amount"]) == (gw.ids["s2"], "400000")
    assert _note(gw, str(kept))["holder"] == member.account.address
    assert gw.chain.w3.eth.get_balance(member.account.address) == 0  # the relayer paid
    assert member.forwarder_nonce() == 2


def test_prepare_answers_typed_data_ready_to_sign_with_the_current_nonce_and_deadline(
    member: SelfCustodied,
) -> None:
    gw = member.gw
    now = gw.chain.now()
    typed = member.prepared("accept", int(member.note))
    forwarder = _forwarder(gw.context)
    assert typed["primaryType"] == "ForwardRequest"
    assert typed["domain"] == {
        "name": "credchain",
        "version": "1",
        "chainId": gw.chain.w3.eth.chain_id,
        "verifyingContract": forwarder.address,
    }
    assert [f["name"] for f in typed["types"]["ForwardRequest"]] == [
        "from",
        "to",
        "value",
        "gas",
        "nonce",
        "deadline",
        "data",
    ]
    message = typed["message"]
    assert message["from"] == member.account.address and message["to"] == gw.context.ledger.address
    assert (message["value"], message["nonce"]) == ("0", "0")
    assert int(message["gas"]) > 30_000
    assert now + 600 <= message["deadline"] <= now + 610
    assert message["data"] == member.calldata("accept", int(member.note))


def test_prepare_takes_the_deadline_from_deadline_seconds(member: SelfCustodied) -> None:
    now = member.gw.chain.now()
    answer = member.prepare("accept", int(member.note), deadline_seconds=1800)  # within the 1 h cap
    assert answer.status_code == 200, answer.text
    assert now + 1800 <= answer.json()["message"]["deadline"] <= now + 1800 + 10


# ------------------------------------------------------------------ prepare: refusals
def test_prepare_refuses_a_custodial_caller(gw: Gateway) -> None:
    data = gw.context.ledger.contract.encode_abi("accept", args=[1])
    body = problem(gw.post("s1", "/v1/relay/prepare", {"data": data}), 409, "custodial-member")
    assert "/v1/notes" in body["detail"]


def test_prepare_maps_a_simulated_revert_to_the_ledgers_problem(member: SelfCustodied) -> None:
    parts = [(member.account.address, 1), (member.gw.addresses["s2"], 999_999)]
    body = problem(member.prepare("split", int(member.note), parts), 409, "note-not-active")
    assert body["ledger_error"] == "NoteNotActive"


def test_prepare_reports_the_member_as_the_caller_of_the_simulated_call(member: SelfCustodied) -> None:
    other = member.gw.issue("s1", "5")
    body = problem(member.prepare("accept", int(other)), 403, "not-holder")
    assert body["arguments"] == {"noteId": other, "caller": member.account.address}


def test_prepare_refuses_calldata_of_no_ledger_function(member: SelfCustodied) -> None:
    answer = member.gw.post("self", "/v1/relay/prepare", {"data": "0xdeadbeef"})
    problem(answer, 422, "unknown-ledger-function")


def test_prepare_refuses_calldata_of_a_ledger_view(member: SelfCustodied) -> None:
    problem(member.prepare("getNote", int(member.note)), 422, "unknown-ledger-function")


@pytest.mark.parametrize(
    "body",
    [{"data": "0x12345"}, {"data": "accept"}, {}, {"data": "0xdeadbeef", "deadline_seconds": 0}],
    ids=["odd-hex", "not-hex", "missing", "zero-deadline"],
)
def test_prepare_refuses_a_malformed_body(member: SelfCustodied, body: dict[str, Any]) -> None:
    problem(member.gw.post("self", "/v1/relay/prepare", body), 422, "invalid-request")


# ------------------------------------------------------------------ relay: refusals
def test_relay_refuses_a_custodial_caller(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)))
    problem(member.gw.post("s1", "/v1/relay", body), 409, "custodial-member")


def test_relay_refuses_a_request_from_another_address(member: SelfCustodied) -> None:
    typed = member.prepared("accept", int(member.note))
    other: LocalAccount = Account.create()
    body = member.relay_body(typed, signer=other, **{"from": other.address})
    problem(member.relay(body), 403, "relay-sender-mismatch")


def test_relay_refuses_a_request_to_another_contract(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)), to=NOBODY)
    problem(member.relay(body), 422, "relay-target-not-ledger")


def test_relay_refuses_a_request_carrying_ether(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)), value="1")
    problem(member.relay(body), 422, "relay-value-not-allowed")


def test_relay_refuses_a_signature_that_is_not_a_signature(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)))
    body["signature"] = "0x" + "00" * 65
    problem(member.relay(body), 422, "invalid-signature")


def test_relay_refuses_a_signature_by_another_key(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)), signer=Account.create())
    problem(member.relay(body), 422, "invalid-signature")


def test_relay_refuses_a_signature_over_another_message(member: SelfCustodied) -> None:
    typed = member.prepared("accept", int(member.note))
    body = member.relay_body(typed)
    body["request"]["gas"] = str(int(typed["message"]["gas"]) + 1)
    problem(member.relay(body), 422, "invalid-signature")


def test_relay_refuses_a_request_past_its_deadline(member: SelfCustodied) -> None:
    typed = member.prepared("accept", int(member.note))
    member.gw.chain.advance_time(601)
    problem(member.relay(member.relay_body(typed)), 422, "relay-request-expired")


def test_relay_refuses_a_stale_nonce(member: SelfCustodied) -> None:
    typed = member.prepared("accept", int(member.note))
    body = problem(member.relay(member.relay_body(typed, nonce="1")), 409, "stale-nonce")
    assert body["expected_nonce"] == "0"


def test_relay_refuses_a_replayed_request_as_a_stale_nonce(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)))
    assert member.relay(body).status_code == 200
    problem(member.relay(body), 409, "stale-nonce")
    assert member.forwarder_nonce() == 1


def test_relay_maps_a_simulated_revert_to_the_ledgers_problem_and_sends_nothing(
    member: SelfCustodied,
) -> None:
    gw = member.gw
    typed = member.prepared("accept", int(member.note))
    assert gw.post("core", f"/v1/notes/{member.note}/revoke").status_code == 200
    block = gw.chain.w3.eth.block_number
    body = problem(member.relay(member.relay_body(typed)), 409, "note-not-pending")
    assert body["ledger_error"] == "NoteNotPending"
    assert gw.chain.w3.eth.block_number == block and member.forwarder_nonce() == 0


def test_relay_of_a_member_suspended_since_preparing_answers_member_suspended(
    member: SelfCustodied,
) -> None:
    gw = member.gw
    typed = member.prepared("accept", int(member.note))
    assert gw.post("operator", f"/v1/members/{member.member_id}/suspend").status_code == 200
    block = gw.chain.w3.eth.block_number
    body = problem(member.relay(member.relay_body(typed)), 403, "member-suspended")
    assert body["member"] == member.member_id
    assert gw.chain.w3.eth.block_number == block and member.forwarder_nonce() == 0
    assert _note(gw, member.note)["status"] == "pending"


def test_a_suspended_member_may_still_relay_what_it_may_do_and_the_ledger_judges_it(
    member: SelfCustodied,
) -> None:
    """confirmPayment is on the suspended member's list: the gateway lets it through to the ledger's
    simulation (here refused for want of a claim), where accept was refused by the gate."""
    gw = member.gw
    assert gw.post("operator", f"/v1/members/{member.member_id}/suspend").status_code == 200
    problem(member.prepare("accept", int(member.note)), 403, "member-suspended")
    body = problem(
        member.prepare("confirmPayment", int(member.note), 1, b"\x01" * 32), 409, "payment-claim-mismatch"
    )
    assert body["ledger_error"] == "PaymentClaimMismatch"


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "0x1234"},
        {"signature": None},
        {"request": {"data": "0xzz"}},
        {"request": {"value": 0.5}},
        {"request": {"gas": "-1"}},
        {"request": {"deadline": str(2**48)}},
        {"request": {"from": "0x1234"}},
        {"request": {"extra": "1"}},
    ],
    ids=[
        "short-signature",
        "no-signature",
        "bad-hex",
        "float",
        "negative",
        "deadline-over-uint48",
        "bad-from",
        "extra",
    ],
)
def test_relay_refuses_a_malformed_body(member: SelfCustodied, change: dict[str, Any]) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)))
    for key, value in change.items():
        if isinstance(value, dict):
            body[key] = {**body[key], **value}
        elif value is None:
            del body[key]
        else:
            body[key] = value
    problem(member.relay(body), 422, "invalid-request")


# ------------------------------------------------------------------ idempotency and authentication
def test_relay_retried_with_the_same_idempotency_key_relays_once(member: SelfCustodied) -> None:
    body = member.relay_body(member.prepared("accept", int(member.note)))
    first = member.relay(body, **{"Idempotency-Key": "relay-accept-1"})
    again = member.relay(body, **{"Idempotency-Key": "relay-accept-1"})
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["tx_hash"] == first.json()["tx_hash"]
    assert member.forwarder_nonce() == 1


def test_relay_with_a_used_idempotency_key_and_another_body_is_refused(member: SelfCustodied) -> None:
    typed = member.prepared("accept", int(member.note))
    assert member.relay(member.relay_body(typed), **{"Idempotency-Key": "k"}).status_code == 200
    other = member.relay_body(typed, nonce="1")
    problem(member.relay(other, **{"Idempotency-Key": "k"}), 422, "idempotency-key-reuse")


def test_both_endpoints_need_an_api_key(member: SelfCustodied) -> None:
    client = member.gw.client
    for path, body in (
        ("/v1/relay/prepare", {"data": member.calldata("accept", int(member.note))}),
        ("/v1/relay", member.relay_body(member.prepared("accept", int(member.note)))),
    ):
        answer = client.post(path, json=body)
        problem(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer"


def test_calldata_with_a_ledger_selector_and_garbage_arguments_is_refused_as_a_ledger_refusal(
    member: SelfCustodied,
) -> None:
    data = member.calldata("accept", int(member.note))[:20]
    problem(member.gw.post("self", "/v1/relay/prepare", {"data": data}), 409, "ledger-refused")


def test_generated_relay_requests_of_a_self_custodied_member_get_no_5xx(member: SelfCustodied) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", member.gw.client.app)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/v1/relay")
    ]
    assert len(operations) == 2
    for operation in operations:
        check_operation(operation, member.gw.auth("self"), examples=15)
