"""The main story through the gateway: onboard, grant, issue, accept, split, transfer, trace."""

from __future__ import annotations

from typing import Any

from service.domain import MAX_AMOUNT
from tests.api.conftest import LIMIT, Gateway

PROBLEM = "application/problem+json"


def problem(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["type"] == f"https://credchain.dev/errors/{slug}", body
    assert body["status"] == status and body["title"]
    return body


def test_onboarded_registry(gw: Gateway) -> None:
    answer = gw.get("s1", "/v1/members")
    assert answer.status_code == 200
    items = {m["id"]: m for m in answer.json()["items"]}
    assert set(items) == set(gw.ids.values())
    core = items[gw.ids["core"]]
    assert (
        core["roles"] == ["core_enterprise"] and core["status"] == "active" and core["custody"] == "custodial"
    )
    assert "api_key" not in core
    assert items["operator"]["roles"] == ["operator"]
    one = gw.get("auditor", f"/v1/members/{gw.ids['bank']}")
    assert one.status_code == 200 and one.json()["address"] == gw.addresses["bank"]


def test_issue_accept_split_transfer_provenance(gw: Gateway) -> None:
    body = gw.issue_body(amount=1_000_000)
    issued = gw.post("core", "/v1/notes", body)
    assert issued.status_code == 201, issued.text
    out = issued.json()
    assert out["tx_hash"].startswith("0x") and out["indexed"] is True
    (note_id,) = out["note_ids"]
    assert isinstance(note_id, str) and int(note_id) >= 2**32
    (note,) = out["notes"]
    assert note["id"] == note_id and note["root_id"] == note_id and note["parent_id"] is None
    assert note["status"] == "pending" and note["amount"] == "1000000" and note["currency"] == "USD"
    assert note["holder"] == gw.addresses["s1"] and note["holder_member"] == gw.ids["s1"]
    assert note["obligor_member"] == gw.ids["core"] and note["reference"] == "invoice 42"
    assert note["document_hash"] == body["document_hash"]

    accepted = gw.post("s1", f"/v1/notes/{note_id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["notes"][0]["status"] == "active"

    split = gw.post(
        "s1",
        f"/v1/notes/{note_id}/split",
        {"parts": [{"to": gw.ids["s2"], "amount": "600000"}, {"to": gw.addresses["s1"], "amount": 400000}]},
    )
    assert split.status_code == 200, split.text
    children = split.json()["notes"]
    assert [c["amount"] for c in children] == ["600000", "400000"]
    assert [c["holder_member"] for c in children] == [gw.ids["s2"], gw.ids["s1"]]
    assert all(c["parent_id"] == note_id and c["status"] == "active" for c in children)
    assert split.json()["note_ids"] == [c["id"] for c in children]

    child = children[0]["id"]
    moved = gw.post("s2", f"/v1/notes/{child}/transfer", {"to": gw.ids["s3"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["notes"][0]["holder"] == gw.addresses["s3"]

    parent = gw.get("s1", f"/v1/notes/{note_id}")
    assert parent.status_code == 200 and parent.json()["status"] == "split"

    trace = gw.get("s3", f"/v1/notes/{child}/provenance")
    assert trace.status_code == 200, trace.text
    prov = trace.json()
    assert prov["root_id"] == note_id
    assert [n["id"] for n in prov["ancestors"]] == [note_id, child]
    assert len(prov["tree"]) == 3
    root_events = [e["name"] for e in prov["tree"][0]["events"]]
    assert root_events[:2] == ["NoteIssued", "NoteAccepted"]
    steps = [(s["event"], s["holder"]) for s in prov["holder_path"]]
    assert steps == [
        ("NoteIssued", gw.addresses["s1"]),
        ("NoteAccepted", gw.addresses["s1"]),
        ("NoteSplit", gw.addresses["s2"]),
        ("NoteTransferred", gw.addresses["s3"]),
    ]
    # s2 transferred its piece away but still sees the tree it held a note of
    assert gw.get("s2", f"/v1/notes/{child}").status_code == 200


def test_list_visibility_filters_and_cursor(gw: Gateway) -> None:
    first = gw.active("s1", 100)
    second = gw.active("s2", 200)
    third = gw.issue("s1", 300)
    mine = gw.get("s1", "/v1/notes")
    assert [n["id"] for n in mine.json()["items"]] == [first, third]
    assert [n["id"] for n in gw.get("s2", "/v1/notes").json()["items"]] == [second]
    assert gw.get("s3", "/v1/notes").json()["items"] == []
    everything = [n["id"] for n in gw.get("auditor", "/v1/notes").json()["items"]]
    assert everything == [first, second, third]
    assert [n["id"] for n in gw.get("bank", "/v1/notes").json()["items"]] == everything
    assert [n["id"] for n in gw.get("core", "/v1/notes", status="pending").json()["items"]] == [third]
    assert [n["id"] for n in gw.get("core", "/v1/notes", holder=gw.ids["s2"]).json()["items"]] == [second]
    assert [n["id"] for n in gw.get("core", "/v1/notes", root=first).json()["items"]] == [first]
    obligor = gw.get("operator", "/v1/notes", obligor=gw.addresses["core"]).json()["items"]
    assert len(obligor) == 3
    page = gw.get("core", "/v1/notes", limit=2).json()
    assert [n["id"] for n in page["items"]] == [first, second] and page["next_cursor"] == second
    rest = gw.get("core", "/v1/notes", limit=2, cursor=page["next_cursor"]).json()
    assert [n["id"] for n in rest["items"]] == [third] and rest["next_cursor"] is None
    problem(gw.get("s3", f"/v1/notes/{first}"), 404, "note-not-found")
    problem(gw.get("s3", f"/v1/notes/{first}/provenance"), 404, "note-not-found")
    problem(gw.get("s1", "/v1/notes/12abc"), 404, "note-not-found")
    problem(gw.get("s1", "/v1/notes", status="lost"), 422, "invalid-request")
    problem(gw.get("s1", "/v1/notes", cursor="x"), 422, "invalid-request")
    problem(gw.get("s1", "/v1/notes", limit=0), 422, "invalid-request")
    problem(gw.get("s1", "/v1/notes", holder="nobody"), 422, "not-a-member")


def test_amounts_as_strings_and_max_round_trip(gw: Gateway) -> None:
    as_int = gw.post("core", "/v1/notes", gw.issue_body(amount=12345))
    assert as_int.status_code == 201, as_int.text
    assert as_int.json()["notes"][0]["amount"] == "12345"
    grant = gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids["core"], "amount": str(MAX_AMOUNT)})
    assert grant.status_code == 200, grant.text
    assert grant.json()["credit_limit"] == str(MAX_AMOUNT) and grant.json()["grant"] == str(MAX_AMOUNT)
    note_id = gw.issue("s1", str(MAX_AMOUNT - 12345))
    note = gw.get("s1", f"/v1/notes/{note_id}").json()
    assert note["amount"] == str(MAX_AMOUNT - 12345)
    accepted = gw.post("s1", f"/v1/notes/{note_id}/accept")
    assert accepted.status_code == 200
    parts = [{"to": gw.ids["s2"], "amount": "1"}, {"to": gw.ids["s3"], "amount": str(MAX_AMOUNT - 12346)}]
    split = gw.post("s1", f"/v1/notes/{note_id}/split", {"parts": parts})
    assert split.status_code == 200, split.text
    assert [n["amount"] for n in split.json()["notes"]] == ["1", str(MAX_AMOUNT - 12346)]


def test_bad_amounts_are_422(gw: Gateway) -> None:
    for amount in (1.5, 1000.0, -1, "-1", 0, "0", MAX_AMOUNT + 1, str(MAX_AMOUNT + 1), "1e3", "", True, None):
        body = problem(gw.post("core", "/v1/notes", gw.issue_body(amount=amount)), 422, "invalid-request")
        assert any(e["field"] == "body.amount" for e in body["errors"]), body


def test_credit_limit_grant(gw: Gateway) -> None:
    answer = gw.post("bank", "/v1/credit-limits", {"obligor": gw.addresses["core"], "amount": 5})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert (
        out["financier"] == gw.addresses["bank"] and out["credit_limit"] == "5" and out["outstanding"] == "0"
    )
    problem(gw.post("core", "/v1/notes", gw.issue_body(amount=6)), 409, "insufficient-credit-limit")
    restored = gw.post("bank", "/v1/credit-limits", {"obligor": gw.ids["core"], "amount": LIMIT})
    assert restored.json()["credit_limit"] == str(LIMIT)


def test_health(gw: Gateway) -> None:
    assert gw.client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = gw.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["node"] == "ok" and checks["indexer_lag"] == 0


def test_openapi(gw: Gateway) -> None:
    spec = gw.client.get("/openapi.json").json()
    assert "/v1/notes/{note_id}/split" in spec["paths"] and "/v1/members" in spec["paths"]
    assert gw.client.get("/docs").status_code == 200


def test_the_operator_onboards_a_data_provider(gw: Gateway) -> None:
    answer = gw.post("operator", "/v1/members", {"name": "Fast Logistics", "roles": ["data_provider"]})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["roles"] == ["data_provider"]
    member = gw.get("auditor", f"/v1/members/{created['id']}").json()
    assert member["roles"] == ["data_provider"] and member["status"] == "active"
