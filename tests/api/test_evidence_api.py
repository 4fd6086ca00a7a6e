"""The evidence API on the embedded gateway: a supplier registers trade records (hashes), data
providers attest and revoke, parties read them, a document is verified against its hash; every
refusal answered as problem+json."""

from __future__ import annotations

import hashlib

import pytest

from service.api.problems import ERRORS_BASE
from tests.api.conftest import Gateway
from tests.api.receivables import INVOICE_AMOUNT, attest, doc, onboard_providers, register, trade

EVIDENCE_ROUTES = {
    ("POST", "/v1/evidence"),
    ("GET", "/v1/evidence"),
    ("GET", "/v1/evidence/{doc_hash}"),
    ("POST", "/v1/evidence/{doc_hash}/attestations"),
    ("DELETE", "/v1/evidence/{doc_hash}/attestations/mine"),
    ("POST", "/v1/evidence/{doc_hash}/verify"),
}


def problem(answer: object, status: int, slug: str) -> None:
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert answer.json()["type"] == ERRORS_BASE + slug, answer.text  # type: ignore[attr-defined]


@pytest.fixture
def providers(gw: Gateway) -> Gateway:
    onboard_providers(gw)
    return gw


def test_supplier_registers_an_invoice_against_a_buyer(providers: Gateway) -> None:
    gw = providers
    answer = register(gw, "invoice", doc("inv-1"), INVOICE_AMOUNT)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["indexed"] is True
    record = body["evidence"]
    assert (record["document_hash"], record["kind"], record["amount"], record["currency"]) == (
        doc("inv-1"),
        "invoice",
        str(INVOICE_AMOUNT),
        "USD",
    )
    assert (record["supplier_member"], record["buyer_member"]) == (gw.ids["s1"], gw.ids["core"])
    assert record["attester_count"] == 0 and record["attestations"] == []


def test_record_without_an_amount_has_no_currency(providers: Gateway) -> None:
    answer = register(providers, "delivery", doc("waybill-1"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["evidence"]["currency"] is None and answer.json()["evidence"]["amount"] == "0"


def test_invoice_without_an_amount_is_refused(providers: Gateway) -> None:
    answer = register(providers, "invoice", doc("inv-0"))
    assert answer.status_code == 422 and "an invoice needs an amount" in answer.text


def test_same_hash_twice_is_refused(providers: Gateway) -> None:
    assert register(providers, "delivery", doc("waybill-2")).status_code == 201
    problem(register(providers, "delivery", doc("waybill-2")), 409, "evidence-already-registered")


def test_hash_behind_a_confirmed_note_is_refused_as_evidence(providers: Gateway) -> None:
    gw = providers
    body = gw.issue_body("s1", "1000", document_hash=doc("confirmed invoice"))
    assert gw.post("core", "/v1/notes", body).status_code == 201
    problem(register(gw, "invoice", doc("confirmed invoice"), 1000), 409, "document-already-used")


def test_only_suppliers_register(providers: Gateway) -> None:
    problem(register(providers, "delivery", doc("x"), who="lab"), 403, "forbidden")


def test_buyer_must_be_a_core_enterprise(providers: Gateway) -> None:
    problem(register(providers, "delivery", doc("y"), buyer="s2"), 403, "missing-role")


def test_supplier_cannot_be_its_own_buyer(providers: Gateway) -> None:
    problem(register(providers, "delivery", doc("z"), buyer="s1"), 422, "self-dealing")


def test_data_provider_attests_a_record(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-3")).status_code == 201
    answer = attest(gw, "logistics", doc("waybill-3"))
    assert answer.status_code == 201, answer.text
    record = answer.json()["evidence"]
    assert record["attester_count"] == 1
    [attestation] = record["attestations"]
    assert attestation["attester_member"] == gw.ids["logistics"] and attestation["revoked_at"] is None


def test_supplier_cannot_attest_its_own_records(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-4")).status_code == 201
    problem(attest(gw, "s1", doc("waybill-4")), 403, "forbidden")


def test_supplier_that_is_also_a_data_provider_cannot_attest_its_own_record(providers: Gateway) -> None:
    gw = providers
    answer = gw.post("operator", "/v1/members", {"name": "both", "roles": ["supplier", "data_provider"]})
    assert answer.status_code == 201, answer.text
    gw.keys["both"], gw.ids["both"] = answer.json()["api_key"], answer.json()["id"]
    assert register(gw, "delivery", doc("own"), who="both").status_code == 201
    problem(attest(gw, "both", doc("own")), 403, "self-attestation")


def test_attesting_twice_is_refused(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-5")).status_code == 201
    assert attest(gw, "logistics", doc("waybill-5")).status_code == 201
    problem(attest(gw, "logistics", doc("waybill-5")), 409, "already-attested")


def test_attesting_an_unknown_record_is_404(providers: Gateway) -> None:
    problem(attest(providers, "lab", doc("nothing")), 404, "evidence-not-found")


def test_attester_revokes_its_attestation(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-6")).status_code == 201
    assert attest(gw, "logistics", doc("waybill-6")).status_code == 201
    answer = gw.client.delete(
        f"/v1/evidence/{doc('waybill-6')}/attestations/mine", headers=gw.auth("logistics")
    )
    assert answer.status_code == 200, answer.text
    record = answer.json()["evidence"]
    assert record["attester_count"] == 0 and record["attestations"][0]["revoked_at"] is not None


def test_revoking_without_an_attestation_is_refused(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-7")).status_code == 201
    answer = gw.client.delete(f"/v1/evidence/{doc('waybill-7')}/attestations/mine", headers=gw.auth("lab"))
    problem(answer, 409, "not-attested")


def test_list_filters_by_kind_and_shows_attestations(providers: Gateway) -> None:
    gw = providers
    sale = trade(gw)
    items = gw.get("s1", "/v1/evidence", kind="invoice").json()["items"]
    assert [i["document_hash"] for i in items] == [sale.hash("invoice")]
    assert items[0]["attestations"][0]["attester_member"] == gw.ids["tax"]


def test_list_refuses_an_unknown_kind(providers: Gateway) -> None:
    assert providers.get("s1", "/v1/evidence", kind="poem").status_code == 422


def test_buyer_and_attester_see_a_record_an_unrelated_supplier_does_not(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-8")).status_code == 201
    assert attest(gw, "logistics", doc("waybill-8")).status_code == 201
    path = f"/v1/evidence/{doc('waybill-8')}"
    assert gw.get("core", path).status_code == 200
    assert gw.get("logistics", path).status_code == 200
    problem(gw.get("s3", path), 404, "evidence-not-found")
    assert gw.get("s3", "/v1/evidence").json()["items"] == []


def test_verify_matches_the_registered_document(providers: Gateway) -> None:
    gw = providers
    digest = "0x" + hashlib.sha256(b"%PDF report").hexdigest()
    assert register(gw, "acceptance", digest).status_code == 201
    headers = {**gw.auth("core"), "Content-Type": "application/octet-stream"}
    same = gw.client.post(f"/v1/evidence/{digest}/verify", content=b"%PDF report", headers=headers)
    assert same.status_code == 200 and same.json()["match"] is True
    other = gw.client.post(f"/v1/evidence/{digest}/verify", content=b"%PDF forged [[[[[[", headers=headers)
    assert other.status_code == 200 and other.json()["match"] is False


def test_verify_wants_the_raw_document(providers: Gateway) -> None:
    gw = providers
    assert register(gw, "delivery", doc("waybill-9")).status_code == 201
    answer = gw.client.post(f"/v1/evidence/{doc('waybill-9')}/verify", json={"a": 1}, headers=gw.auth("s1"))
    problem(answer, 415, "unsupported-media-type")


def test_evidence_needs_an_api_key(providers: Gateway) -> None:
    problem(providers.client.get("/v1/evidence"), 401, "unauthorized")
