"""/v1/credit-relationships and the credit-limit rules that depend on them: an obligor approves the
financiers that may grant it credit; only an approved relationship with a grant above 0 lets a
financier see the obligor's notes; withdrawing ends both."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from service.api.idempotency import REPLAY_HEADER
from service.db.models import CreditGrant, ObligorCredit
from tests.api.conftest import LIMIT, Gateway
from tests.api.financing import problem

RELATIONSHIPS = "/v1/credit-relationships"


def _onboard(gw: Gateway, name: str, roles: list[str]) -> None:
    answer = gw.post("operator", "/v1/members", {"name": name, "roles": roles})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    gw.keys[name], gw.ids[name], gw.addresses[name] = body["api_key"], body["id"], body["address"]


def _financier(gw: Gateway, name: str = "bank2") -> str:
    _onboard(gw, name, ["financier"])
    return name


def _approve(gw: Gateway, financier: str, by: str = "core", **headers: str) -> Any:
    return gw.post(by, RELATIONSHIPS, {"financier": gw.ids[financier]}, **headers)


def _withdraw(gw: Gateway, financier: str, by: str = "core", **headers: str) -> Any:
    return gw.client.delete(f"{RELATIONSHIPS}/{gw.ids[financier]}", headers={**gw.auth(by), **headers})


def _grant(gw: Gateway, financier: str, amount: int, obligor: str = "core") -> Any:
    return gw.post(financier, "/v1/credit-limits", {"obligor": gw.ids[obligor], "amount": str(amount)})


def _sees(gw: Gateway, who: str, note_id: str) -> bool:
    one = gw.get(who, f"/v1/notes/{note_id}").status_code
    tree = gw.get(who, f"/v1/notes/{note_id}/provenance").status_code
    listed = note_id in {n["id"] for n in gw.get(who, "/v1/notes").json()["items"]}
    assert (one == 200) == (tree == 200) == listed, (one, tree, listed)
    return one == 200


def _limit(gw: Gateway) -> int:
    with gw.context.session() as session:
        row = session.get(ObligorCredit, gw.addresses["core"])
        assert row is not None
        return int(row.credit_limit)


# ------------------------------------------------------------------ the finding
def test_a_financier_granting_zero_to_a_stranger_obligor_does_not_see_its_notes(gw: Gateway) -> None:
    """Regression (issue 12, finding 2): a zero grant to an obligor that never approved the
    financier used to make every note of the obligor visible to it."""
    note_id = gw.active("s1", "1000")
    _financier(gw)
    _grant(gw, "bank2", 0)
    for path in (f"/v1/notes/{note_id}", f"/v1/notes/{note_id}/provenance"):
        problem(gw.get("bank2", path), 404, "note-not-found")
    assert gw.get("bank2", "/v1/notes").json()["items"] == []


def test_a_grant_without_the_obligors_approval_is_refused_before_sending(gw: Gateway) -> None:
    _financier(gw)
    head = gw.chain.w3.eth.block_number
    for amount in (0, 500):
        body = problem(_grant(gw, "bank2", amount), 409, "financier-not-approved")
        assert body["ledger_error"] == "FinancierNotApproved" and body["field"] == "obligor"
    assert gw.chain.w3.eth.block_number == head
    with gw.context.session() as session:
        assert session.get(CreditGrant, (gw.addresses["bank2"], gw.addresses["core"])) is None


# ------------------------------------------------------------------ approve
def test_the_obligor_approves_a_financier(gw: Gateway) -> None:
    _financier(gw)
    answer = _approve(gw, "bank2")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["indexed"] is True and body["tx_hash"].startswith("0x")
    assert body["relationship"] == {
        "financier": gw.addresses["bank2"],
        "financier_member": gw.ids["bank2"],
        "obligor": gw.addresses["core"],
        "obligor_member": gw.ids["core"],
        "status": "approved",
        "grant": "0",
        "approved_block": body["block_number"],
        "updated_block": body["block_number"],
    }
    assert gw.context.ledger.financier_approved(gw.addresses["core"], gw.addresses["bank2"]) is True


def test_an_approved_financier_grants_and_then_sees_the_obligors_notes_and_totals(gw: Gateway) -> None:
    note_id = gw.active("s1", "1000")
    _financier(gw)
    assert _approve(gw, "bank2").status_code == 201
    assert not _sees(gw, "bank2", note_id)
    answer = _grant(gw, "bank2", 700)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["grant"], body["credit_limit"], body["outstanding"]) == ("700", str(LIMIT + 700), "1000")
    assert _sees(gw, "bank2", note_id)


def test_an_approved_financier_with_a_zero_grant_sees_nothing_and_gets_no_totals(gw: Gateway) -> None:
    note_id = gw.active("s1", "1000")
    _financier(gw)
    assert _approve(gw, "bank2").status_code == 201
    answer = _grant(gw, "bank2", 0)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["grant"], body["credit_limit"], body["outstanding"]) == ("0", None, None)
    assert not _sees(gw, "bank2", note_id)


def test_lowering_a_grant_to_zero_ends_the_visibility(gw: Gateway) -> None:
    note_id = gw.active("s1", "1000")
    assert _sees(gw, "bank", note_id)
    assert _grant(gw, "bank", 0).json()["credit_limit"] is None
    assert not _sees(gw, "bank", note_id)


def test_approve_refusals(gw: Gateway) -> None:
    _financier(gw)
    _onboard(gw, "core2", ["core_enterprise"])
    problem(_approve(gw, "bank"), 409, "financier-already-approved")
    problem(_approve(gw, "s1"), 403, "missing-role")
    problem(gw.post("core", RELATIONSHIPS, {"financier": "m_nobody"}), 422, "not-a-member")
    problem(gw.post("core", RELATIONSHIPS, {"financier": "0x" + "11" * 20}), 422, "not-a-member")
    problem(gw.post("core", RELATIONSHIPS, {"financier": "0x1234"}), 422, "invalid-address")
    problem(gw.post("core", RELATIONSHIPS, {}), 422, "invalid-request")
    problem(gw.post("core", RELATIONSHIPS, {"financier": gw.ids["bank"], "x": 1}), 422, "invalid-request")
    for caller in ("bank", "auditor", "operator"):  # suppliers approve financiers of their own
        problem(_approve(gw, "bank2", by=caller), 403, "forbidden")
    assert gw.post("operator", f"/v1/members/{gw.ids['bank2']}/suspend").status_code == 200
    problem(_approve(gw, "bank2"), 409, "member-suspended")
    assert gw.post("operator", f"/v1/members/{gw.ids['core2']}/suspend").status_code == 200
    problem(_approve(gw, "bank", by="core2"), 403, "member-suspended")


def test_a_member_that_is_obligor_and_financier_cannot_approve_itself(gw: Gateway) -> None:
    _onboard(gw, "captive", ["core_enterprise", "financier"])
    problem(_approve(gw, "captive", by="captive"), 422, "self-dealing")


def test_the_contracts_refusal_is_mapped_when_the_index_lags(gw: Gateway) -> None:
    """The pre-check reads SQL; if SQL is behind the chain, the ledger's own error answers."""
    _financier(gw)
    assert _approve(gw, "bank2").status_code == 201
    with gw.context.session() as session, session.begin():
        row = session.get(CreditGrant, (gw.addresses["bank2"], gw.addresses["core"]))
        assert row is not None
        row.approved = False
    body = problem(_approve(gw, "bank2"), 409, "financier-already-approved")
    assert body["ledger_error"] == "FinancierAlreadyApproved"


# ------------------------------------------------------------------ withdraw
def test_withdrawing_a_financier_removes_its_grant_and_its_view(gw: Gateway) -> None:
    note_id = gw.active("s1", "1000")
    _financier(gw)
    assert _approve(gw, "bank2").status_code == 201
    assert _grant(gw, "bank2", 300).status_code == 200
    assert _sees(gw, "bank2", note_id) and _limit(gw) == LIMIT + 300
    answer = _withdraw(gw, "bank2")
    assert answer.status_code == 200, answer.text
    relationship = answer.json()["relationship"]
    assert (relationship["status"], relationship["grant"]) == ("withdrawn", "0")
    assert not _sees(gw, "bank2", note_id)
    assert _limit(gw) == LIMIT
    problem(_grant(gw, "bank2", 300), 409, "financier-not-approved")
    # the note issued while the grant counted stays as it was
    assert gw.get("s1", f"/v1/notes/{note_id}").json()["status"] == "active"


def test_after_a_withdrawal_issuance_beyond_the_remaining_limit_is_refused(gw: Gateway) -> None:
    _financier(gw)
    assert _approve(gw, "bank2").status_code == 201
    assert _grant(gw, "bank2", 1_000).status_code == 200
    assert _grant(gw, "bank", 0).status_code == 200
    gw.active("s1", "800")
    assert _withdraw(gw, "bank2").status_code == 200
    problem(gw.post("core", "/v1/notes", gw.issue_body(amount="1")), 409, "insufficient-credit-limit")


def test_a_new_approval_after_a_withdrawal_starts_without_a_grant(gw: Gateway) -> None:
    assert _withdraw(gw, "bank").status_code == 200
    answer = _approve(gw, "bank")
    assert answer.status_code == 201, answer.text
    relationship = answer.json()["relationship"]
    assert (relationship["status"], relationship["grant"]) == ("approved", "0")
    assert _limit(gw) == 0


def test_withdraw_refusals(gw: Gateway) -> None:
    _financier(gw)
    problem(_withdraw(gw, "bank2"), 409, "financier-not-approved")
    for caller in ("bank", "auditor", "operator"):
        problem(_withdraw(gw, "bank", by=caller), 403, "forbidden")
    problem(_withdraw(gw, "bank", by="s1"), 409, "financier-not-approved")  # s1 approved no one
    problem(gw.client.delete(f"{RELATIONSHIPS}/m_nobody", headers=gw.auth("core")), 422, "not-a-member")
    problem(gw.client.delete(f"{RELATIONSHIPS}/0x1234", headers=gw.auth("core")), 422, "invalid-address")


def test_another_obligor_cannot_withdraw_someone_elses_financier(gw: Gateway) -> None:
    """A hostile core enterprise names core's bank: it has no relationship of its own to end, and
    core's is left alone."""
    _onboard(gw, "core2", ["core_enterprise"])
    problem(_withdraw(gw, "bank", by="core2"), 409, "financier-not-approved")
    assert gw.context.ledger.financier_approved(gw.addresses["core"], gw.addresses["bank"]) is True
    assert _limit(gw) == LIMIT


def test_a_suspended_obligor_cannot_withdraw_a_financier(gw: Gateway) -> None:
    assert gw.post("operator", f"/v1/members/{gw.ids['core']}/suspend").status_code == 200
    problem(_withdraw(gw, "bank"), 403, "member-suspended")
    assert gw.context.ledger.financier_approved(gw.addresses["core"], gw.addresses["bank"]) is True


# ------------------------------------------------------------------ idempotency
def test_approve_and_withdraw_with_an_idempotency_key_act_once(gw: Gateway) -> None:
    _financier(gw)
    first = _approve(gw, "bank2", **{"Idempotency-Key": "approve-bank2"})
    again = _approve(gw, "bank2", **{"Idempotency-Key": "approve-bank2"})
    assert first.status_code == again.status_code == 201
    assert again.headers[REPLAY_HEADER] == "true" and again.json() == first.json()
    gone = _withdraw(gw, "bank2", **{"Idempotency-Key": "withdraw-bank2"})
    gone_again = _withdraw(gw, "bank2", **{"Idempotency-Key": "withdraw-bank2"})
    assert gone.status_code == gone_again.status_code == 200
    assert gone_again.headers[REPLAY_HEADER] == "true" and gone_again.json() == gone.json()
    reused = _withdraw(gw, "bank", **{"Idempotency-Key": "approve-bank2"})
    problem(reused, 422, "idempotency-key-reuse")


# ------------------------------------------------------------------ listing
def _pairs(answer: Any) -> set[tuple[str, str, str]]:
    assert answer.status_code == 200, answer.text
    return {(r["financier_member"], r["obligor_member"], r["status"]) for r in answer.json()["items"]}


def test_each_side_lists_its_own_relationships_and_the_auditor_all(gw: Gateway) -> None:
    _financier(gw)
    _financier(gw, "bank3")
    _onboard(gw, "core2", ["core_enterprise"])
    assert _approve(gw, "bank2").status_code == 201
    assert _approve(gw, "bank3", by="core2").status_code == 201
    assert _withdraw(gw, "bank2").status_code == 200
    ids = gw.ids
    core_bank = (ids["bank"], ids["core"], "approved")
    core_bank2 = (ids["bank2"], ids["core"], "withdrawn")
    core2_bank3 = (ids["bank3"], ids["core2"], "approved")
    assert _pairs(gw.get("core", RELATIONSHIPS)) == {core_bank, core_bank2}
    assert _pairs(gw.get("core2", RELATIONSHIPS)) == {core2_bank3}
    assert _pairs(gw.get("bank", RELATIONSHIPS)) == {core_bank}
    assert _pairs(gw.get("bank2", RELATIONSHIPS)) == {core_bank2}
    for everyone in ("auditor", "operator"):
        assert _pairs(gw.get(everyone, RELATIONSHIPS)) == {core_bank, core_bank2, core2_bank3}
    assert _pairs(gw.get("auditor", RELATIONSHIPS, status="approved")) == {core_bank, core2_bank3}
    assert _pairs(gw.get("auditor", RELATIONSHIPS, obligor=ids["core2"])) == {core2_bank3}
    assert _pairs(gw.get("auditor", RELATIONSHIPS, financier=gw.addresses["bank2"])) == {core_bank2}
    # a filter never widens what a member sees
    assert _pairs(gw.get("bank", RELATIONSHIPS, obligor=ids["core2"])) == set()
    assert gw.get("s1", RELATIONSHIPS).json()["items"] == []  # a supplier lists its own: none here
    _onboard(gw, "lab", ["data_provider"])
    problem(gw.get("lab", RELATIONSHIPS), 403, "forbidden")
    problem(gw.get("auditor", RELATIONSHIPS, status="pending"), 422, "invalid-request")
    listed = gw.get("bank", RELATIONSHIPS).json()["items"][0]
    assert listed["grant"] == str(LIMIT) and listed["approved_block"] is not None


# ------------------------------------------------------------------ self-custodied obligor
def test_a_self_custodied_obligor_approves_through_the_relay(gw: Gateway) -> None:
    account: LocalAccount = Account.create()
    body = {"name": "HSM Motors", "roles": ["core_enterprise"], "address": account.address}
    created = gw.post("operator", "/v1/members", body)
    assert created.status_code == 201 and created.json()["custody"] == "self", created.text
    gw.keys["hsm"], gw.ids["hsm"] = created.json()["api_key"], created.json()["id"]
    problem(_approve(gw, "bank", by="hsm"), 409, "self-custody")

    data = gw.context.ledger.contract.encode_abi("markFinancierApproved", args=[gw.addresses["bank"], True])
    prepared = gw.post("hsm", "/v1/relay/prepare", {"data": data})
    assert prepared.status_code == 200, prepared.text
    typed = prepared.json()
    signed = Account.sign_message(encode_typed_data(full_message=typed), account.key)
    relayed = gw.post(
        "hsm", "/v1/relay", {"request": typed["message"], "signature": "0x" + bytes(signed.signature).hex()}
    )
    assert relayed.status_code == 200, relayed.text
    listed = _pairs(gw.get("bank", RELATIONSHIPS))
    assert (gw.ids["bank"], gw.ids["hsm"], "approved") in listed
    assert _grant(gw, "bank", 900, obligor="hsm").status_code == 200
