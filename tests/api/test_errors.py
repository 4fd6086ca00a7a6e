"""Every 4xx path of every endpoint answers problem+json with a stable type; idempotency."""

from __future__ import annotations

import pytest

from service.api.problems import RETRY_AFTER_SECONDS, REVERT_PROBLEMS, ledger_problem
from service.ledger.errors import REVERT_CLASSES, LedgerUnavailable, TransactionTimeout, UnknownRevert
from tests.api.conftest import Gateway
from tests.api.test_flow import problem


def test_every_contract_error_is_mapped() -> None:
    assert set(REVERT_CLASSES) <= set(REVERT_PROBLEMS)
    for name, cls in REVERT_CLASSES.items():
        slug, status = REVERT_PROBLEMS[name]
        assert status in (403, 404, 409, 422), name
        body = ledger_problem(cls({"x": 2**60})).body()
        assert body["type"] == f"https://credchain.dev/errors/{slug}" and body["status"] == status
        assert body["ledger_error"] == name and body["arguments"] == {"x": str(2**60)}
    assert ledger_problem(UnknownRevert(b"\x01")).status == 409
    unavailable = ledger_problem(LedgerUnavailable("down"))
    assert unavailable.status == 503 and unavailable.slug == "ledger-unavailable"
    assert unavailable.headers["Retry-After"]


def test_authentication(gw: Gateway) -> None:
    for headers in ({}, {"Authorization": "Bearer cc_nope"}, {"Authorization": "Basic abc"}):
        answer = gw.client.get("/v1/members", headers=headers)
        problem(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer"
    problem(gw.client.post("/v1/notes", json={}), 401, "unauthorized")


def test_roles_are_enforced(gw: Gateway) -> None:
    problem(gw.post("core", "/v1/members", {"name": "x", "roles": ["supplier"]}), 403, "forbidden")
    problem(gw.post("s1", f"/v1/members/{gw.ids['s2']}/suspend"), 403, "forbidden")
    problem(gw.post("s1", f"/v1/members/{gw.ids['s2']}/reinstate"), 403, "forbidden")
    problem(gw.post("core", "/v1/credit-limits", {"obligor": gw.ids["core"], "amount": 1}), 403, "forbidden")
    problem(gw.post("s1", "/v1/notes", gw.issue_body()), 403, "forbidden")
    note_id = gw.active()
    problem(gw.post("s1", f"/v1/notes/{note_id}/freeze"), 403, "forbidden")
    problem(gw.post("auditor", f"/v1/notes/{note_id}/unfreeze"), 403, "forbidden")
    problem(gw.post("s1", f"/v1/notes/{note_id}/revoke"), 403, "forbidden")


def test_member_endpoints_errors(gw: Gateway) -> None:
    problem(gw.get("s1", "/v1/members/m_unknown"), 404, "member-not-found")
    problem(gw.post("operator", "/v1/members/m_unknown/suspend"), 404, "member-not-found")
    problem(gw.post("operator", f"/v1/members/{gw.ids['s1']}/reinstate"), 409, "member-not-suspended")
    body = problem(
        gw.post("operator", "/v1/members", {"name": "x", "roles": ["king"]}), 422, "invalid-request"
    )
    assert body["errors"][0]["field"].startswith("body.roles")
    problem(gw.post("operator", "/v1/members", {"name": "x", "roles": []}), 422, "invalid-request")
    problem(
        gw.post("operator", "/v1/members", {"name": "x", "roles": ["supplier"], "address": "0x12"}),
        422,
        "invalid-request",
    )
    taken = {"name": "x", "roles": ["supplier"], "address": gw.addresses["s1"]}
    problem(gw.post("operator", "/v1/members", taken), 409, "member-exists")


def test_suspend_reinstate_and_self_custody(gw: Gateway) -> None:
    address = "0x" + "ab" * 20
    created = gw.post(
        "operator", "/v1/members", {"name": "HSM bank", "roles": ["financier"], "address": address}
    )
    assert created.status_code == 201, created.text
    member = created.json()
    assert (
        member["custody"] == "self" and member["status"] == "active" and member["api_key"].startswith("cc_")
    )
    gw.keys["hsm"] = member["api_key"]
    approved = gw.post("core", "/v1/credit-relationships", {"financier": member["id"]})
    assert approved.status_code == 201, approved.text
    problem(
        gw.post("hsm", "/v1/credit-limits", {"obligor": gw.ids["core"], "amount": 1}), 409, "self-custody"
    )

    suspended = gw.post("operator", f"/v1/members/{gw.ids['s2']}/suspend")
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["member"]["status"] == "suspended"
    problem(gw.post("operator", f"/v1/members/{gw.ids['s2']}/suspend"), 409, "member-suspended")
    problem(gw.post("core", "/v1/notes", gw.issue_body(to="s2")), 409, "member-suspended")
    note_id = gw.active()
    split = {"parts": [{"to": gw.ids["s2"], "amount": 1}, {"to": gw.ids["s1"], "amount": 999_999}]}
    problem(gw.post("s1", f"/v1/notes/{note_id}/split", split), 409, "member-suspended")
    reinstated = gw.post("operator", f"/v1/members/{gw.ids['s2']}/reinstate")
    assert reinstated.json()["member"]["status"] == "active"


def test_credit_limit_errors(gw: Gateway) -> None:
    problem(gw.post("bank", "/v1/credit-limits", {"obligor": "m_nobody", "amount": 1}), 422, "not-a-member")
    # an obligor is a core enterprise or (for its evidence-backed receivables) a supplier
    problem(
        gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids["auditor"], "amount": 1}), 403, "missing-role"
    )
    problem(
        gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids["s1"], "amount": 1}),
        409,
        "financier-not-approved",
    )
    problem(
        gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids["core"], "amount": 1.0}),
        422,
        "invalid-request",
    )
    problem(gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids["core"]}), 422, "invalid-request")


def test_issue_errors(gw: Gateway) -> None:
    problem(gw.post("core", "/v1/notes", gw.issue_body(to="m_nobody")), 422, "not-a-member")
    problem(gw.post("core", "/v1/notes", gw.issue_body(to="0x" + "11" * 20)), 422, "not-a-member")
    problem(gw.post("core", "/v1/notes", gw.issue_body(to="core")), 422, "self-dealing")
    problem(gw.post("core", "/v1/notes", gw.issue_body(maturity=gw.maturity(-1))), 422, "invalid-maturity")
    problem(gw.post("core", "/v1/notes", gw.issue_body(maturity=gw.maturity(400))), 422, "invalid-maturity")
    problem(gw.post("core", "/v1/notes", gw.issue_body(amount=10**16)), 409, "insufficient-credit-limit")
    problem(gw.post("core", "/v1/notes", gw.issue_body(currency="usd")), 422, "invalid-request")
    problem(gw.post("core", "/v1/notes", gw.issue_body(document_hash="0x12")), 422, "invalid-request")
    problem(gw.post("core", "/v1/notes", gw.issue_body(extra=1)), 422, "invalid-request")
    body = gw.issue_body()
    assert gw.post("core", "/v1/notes", body).status_code == 201
    problem(
        gw.post("core", "/v1/notes", {**body, "document_hash": body["document_hash"]}),
        409,
        "document-already-used",
    )


def test_note_action_errors(gw: Gateway) -> None:
    pending = gw.issue()
    problem(gw.post("s2", f"/v1/notes/{pending}/accept"), 404, "note-not-found")
    problem(gw.post("core", f"/v1/notes/{pending}/accept"), 403, "not-holder")
    problem(gw.post("s1", f"/v1/notes/{pending}/transfer", {"to": gw.ids["s2"]}), 409, "note-not-active")
    problem(gw.post("s1", "/v1/notes/999/accept"), 404, "note-not-found")
    rejected = gw.post("s1", f"/v1/notes/{pending}/reject")
    assert rejected.status_code == 200 and rejected.json()["notes"][0]["status"] == "rejected"
    problem(gw.post("s1", f"/v1/notes/{pending}/accept"), 409, "note-not-pending")
    problem(gw.post("core", f"/v1/notes/{pending}/revoke"), 409, "note-not-pending")

    revocable = gw.issue()
    revoked = gw.post("core", f"/v1/notes/{revocable}/revoke")
    assert revoked.status_code == 200 and revoked.json()["notes"][0]["status"] == "revoked"

    note_id = gw.active()
    problem(gw.post("s2", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["s2"]}), 404, "note-not-found")
    problem(gw.post("core", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["s2"]}), 403, "not-holder")
    problem(gw.post("s1", f"/v1/notes/{note_id}/transfer", {"to": "m_nobody"}), 422, "not-a-member")
    problem(gw.post("s1", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["s1"]}), 422, "self-dealing")
    problem(gw.post("s1", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["auditor"]}), 403, "missing-role")
    problem(gw.post("s1", f"/v1/notes/{note_id}/transfer", {}), 422, "invalid-request")
    uneven = {"parts": [{"to": gw.ids["s2"], "amount": 1}, {"to": gw.ids["s3"], "amount": 2}]}
    body = problem(gw.post("s1", f"/v1/notes/{note_id}/split", uneven), 422, "amounts-do-not-sum")
    assert body["expected"] == "1000000" and body["actual"] == "3"
    problem(
        gw.post("s1", f"/v1/notes/{note_id}/split", {"parts": [{"to": gw.ids["s2"], "amount": 1}]}),
        422,
        "invalid-request",
    )
    problem(gw.post("core", f"/v1/notes/{note_id}/revoke"), 409, "note-not-pending")

    problem(gw.post("operator", f"/v1/notes/{note_id}/unfreeze"), 409, "note-not-frozen")
    frozen = gw.post("operator", f"/v1/notes/{note_id}/freeze", {"reason": "court order 7"})
    assert frozen.status_code == 200 and frozen.json()["notes"][0]["frozen"] is True
    problem(gw.post("operator", f"/v1/notes/{note_id}/freeze"), 409, "note-frozen")
    problem(gw.post("s1", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["s2"]}), 409, "note-frozen")
    even = {"parts": [{"to": gw.ids["s2"], "amount": 1}, {"to": gw.ids["s3"], "amount": 999_999}]}
    problem(gw.post("s1", f"/v1/notes/{note_id}/split", even), 409, "note-frozen")
    unfrozen = gw.post("operator", f"/v1/notes/{note_id}/unfreeze")
    assert unfrozen.status_code == 200 and unfrozen.json()["notes"][0]["frozen"] is False
    split = gw.post("s1", f"/v1/notes/{note_id}/split", even)
    assert split.status_code == 200
    problem(gw.post("operator", f"/v1/notes/{note_id}/freeze"), 409, "note-not-live")

    matured = gw.active()
    gw.chain.advance_time(91 * 86_400)
    problem(gw.post("s1", f"/v1/notes/{matured}/transfer", {"to": gw.ids["s2"]}), 409, "note-matured")


def test_ledger_revert_without_precheck_is_mapped(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """If SQL lags behind the chain, the contract's own error comes back as the same problem."""
    note_id = gw.active()
    from service.api.notes import service as notes

    monkeypatch.setattr(notes, "_check_holder", lambda note, member: None)
    body = problem(
        gw.post("s2", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["s3"]}), 404, "note-not-found"
    )
    assert body["detail"]
    gw.keys["s2"], gw.keys["core"] = gw.keys["core"], gw.keys["s2"]
    body = problem(gw.post("s2", f"/v1/notes/{note_id}/transfer", {"to": gw.ids["s3"]}), 403, "not-holder")
    assert body["ledger_error"] == "NotHolder"


def test_ledger_unavailable_is_503(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object) -> object:
        raise LedgerUnavailable("connection refused")

    monkeypatch.setattr(gw.context.ledger, "issue", down)
    answer = gw.post("core", "/v1/notes", gw.issue_body())
    problem(answer, 503, "ledger-unavailable")
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_a_write_whose_receipt_timed_out_is_never_sent_again_under_its_key(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = gw.context.ledger.sender
    broadcasts: list[bytes] = []
    send_raw, receipt = sender._send_raw, sender._receipt

    def counted(raw: bytes) -> str:
        broadcasts.append(bytes(raw))
        return send_raw(raw)

    def timed_out(tx_hash: str) -> object:
        raise TransactionTimeout(f"no receipt for {tx_hash}")

    monkeypatch.setattr(sender, "_send_raw", counted)
    monkeypatch.setattr(sender, "_receipt", timed_out)
    body = gw.issue_body()
    first = gw.post("core", "/v1/notes", body, **{"Idempotency-Key": "slow-1"})
    problem(first, 504, "transaction-timeout")
    monkeypatch.setattr(sender, "_receipt", receipt)
    retry = gw.post("core", "/v1/notes", body, **{"Idempotency-Key": "slow-1"})
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == first.json()["tx_hashes"][0]
    assert retry.headers["idempotent-replayed"] == "true"
    assert len(broadcasts) == 1


def test_unknown_route_is_problem(gw: Gateway) -> None:
    problem(gw.get("s1", "/v1/nothing"), 404, "not-found")


def test_idempotency_replay_and_mismatch(gw: Gateway) -> None:
    body = gw.issue_body()
    first = gw.post("core", "/v1/notes", body, **{"Idempotency-Key": "issue-1"})
    assert first.status_code == 201
    again = gw.post("core", "/v1/notes", body, **{"Idempotency-Key": "issue-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(gw.get("core", "/v1/notes").json()["items"]) == 1
    changed = {**body, "amount": "7"}
    problem(
        gw.post("core", "/v1/notes", changed, **{"Idempotency-Key": "issue-1"}), 422, "idempotency-key-reuse"
    )

    note_id = first.json()["note_ids"][0]
    assert gw.post("s1", f"/v1/notes/{note_id}/accept").status_code == 200
    parts = {"parts": [{"to": gw.ids["s2"], "amount": "1"}, {"to": gw.ids["s3"], "amount": 999_999}]}
    split = gw.post("s1", f"/v1/notes/{note_id}/split", parts, **{"Idempotency-Key": "split-1"})
    assert split.status_code == 200
    same = {"parts": [{"to": gw.ids["s2"], "amount": 1}, {"to": gw.ids["s3"], "amount": "999999"}]}
    replay = gw.post("s1", f"/v1/notes/{note_id}/split", same, **{"Idempotency-Key": "split-1"})
    assert replay.status_code == 200 and replay.json() == split.json()
    assert len(gw.get("s1", "/v1/notes", root=note_id).json()["items"]) == 3
    # a failed request does not consume its key
    problem(
        gw.post("s1", f"/v1/notes/{note_id}/accept", None, **{"Idempotency-Key": "k"}),
        409,
        "note-not-pending",
    )
    problem(
        gw.post("s2", f"/v1/notes/{note_id}/accept", None, **{"Idempotency-Key": "split-1"}),
        403,
        "not-holder",
    )
    # keys belong to one member: another member may use the same key
    other = gw.post("core", "/v1/notes", gw.issue_body(), **{"Idempotency-Key": "split-1"})
    assert other.status_code == 201
