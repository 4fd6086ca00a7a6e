"""Evidence-backed receivables on the embedded gateway: origination on an attested invoice against
the supplier's own limit, one invoice one financing in both directions, auto-approval's single offer
and the DvP, the financing quote's rules, the credit score and its visibility, conversion by the
buyer, the evidence exposure risk view and the alert on a revoked attestation."""

from __future__ import annotations

from typing import Any

from service.alerts.scheduler import evaluate_now
from service.api.financing.pricing import days_between
from service.api.problems import ERRORS_BASE
from service.api.receivables.service import auto_approve, auto_approve_pending
from tests.api.conftest import Gateway
from tests.api.receivables import (
    BANK_DEPOSIT,
    INVOICE_AMOUNT,
    POLICY,
    SUPPLIER_LIMIT,
    attest,
    doc,
    fund_bank,
    grant_supplier,
    onboard_providers,
    originate,
    ready,
    register,
    trade,
)

RECEIVABLE_ROUTES = {
    ("POST", "/v1/receivables"),
    ("GET", "/v1/receivables"),
    ("GET", "/v1/receivables/{note_id}"),
    ("POST", "/v1/receivables/{note_id}/convert"),
    ("POST", "/v1/receivables/{note_id}/financing-quote"),
    ("GET", "/v1/members/{member_id}/credit-score"),
    ("GET", "/v1/risk/evidence-exposure"),
}


def problem(answer: Any, status: int, slug: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["type"] == ERRORS_BASE + slug, answer.text


def credit(gw: Gateway, who: str) -> tuple[str, str]:
    rows = gw.get("auditor", "/v1/risk/exposure")
    for row in rows.json()["items"]:
        if row["obligor_member"] == gw.ids[who]:
            return row["credit_limit"], row["outstanding"]
    return "0", "0"


def originated(gw: Gateway, **policy: Any) -> tuple[str, dict[str, Any]]:
    sale = ready(gw)
    if policy:
        answer = gw.client.put("/v1/receivable-policy", json={**POLICY, **policy}, headers=gw.auth("bank"))
        assert answer.status_code == 200, answer.text
    answer = originate(gw, sale)
    assert answer.status_code == 201, answer.text
    receivable: dict[str, Any] = answer.json()["receivable"]
    return receivable["note_id"], {"sale": sale, "receivable": receivable}


def test_supplier_originates_a_receivable_owed_by_itself(gw: Gateway) -> None:
    core_before = credit(gw, "core")
    _note_id, made = originated(gw)
    r = made["receivable"]
    assert (r["obligor"], r["holder"], r["buyer"]) == (
        gw.addresses["s1"],
        gw.addresses["s1"],
        gw.addresses["core"],
    )
    assert (r["status"], r["amount"], r["attesters_at_origination"], r["four_way_match"]) == (
        "active",
        str(INVOICE_AMOUNT),
        1,
        True,
    )
    assert credit(gw, "s1") == (str(SUPPLIER_LIMIT), str(INVOICE_AMOUNT))
    assert credit(gw, "core") == core_before  # the buyer's credit line is untouched


def test_second_receivable_on_the_same_invoice_is_refused(gw: Gateway) -> None:
    _, made = originated(gw)
    problem(originate(gw, made["sale"]), 409, "document-already-used")


def test_financed_invoice_cannot_back_a_confirmed_note(gw: Gateway) -> None:
    _, made = originated(gw)
    body = gw.issue_body("s1", "1000", document_hash=made["sale"].hash("invoice"))
    problem(gw.post("core", "/v1/notes", body), 409, "document-already-used")


def test_registered_evidence_cannot_back_a_confirmed_note(gw: Gateway) -> None:
    onboard_providers(gw)
    assert register(gw, "invoice", doc("inv"), 1000).status_code == 201
    body = gw.issue_body("s1", "1000", document_hash=doc("inv"))
    problem(gw.post("core", "/v1/notes", body), 409, "document-is-evidence")


def test_unattested_invoice_is_refused(gw: Gateway) -> None:
    onboard_providers(gw)
    assert register(gw, "invoice", doc("bare"), 1000).status_code == 201
    body = {"invoice_hash": doc("bare"), "amount": "1000", "maturity": gw.maturity(30)}
    problem(gw.post("s1", "/v1/receivables", body), 409, "evidence-not-attested")


def test_amount_above_the_invoice_is_refused(gw: Gateway) -> None:
    sale = ready(gw)
    problem(originate(gw, sale, amount=INVOICE_AMOUNT + 1), 422, "amount-exceeds-invoice")


def test_amount_above_the_suppliers_limit_is_refused(gw: Gateway) -> None:
    onboard_providers(gw)
    grant_supplier(gw, amount=INVOICE_AMOUNT - 1)
    problem(originate(gw, trade(gw)), 409, "insufficient-credit-limit")


def test_supporting_record_of_another_buyer_is_refused(gw: Gateway) -> None:
    sale = ready(gw)
    answer = gw.post("operator", "/v1/members", {"name": "core2", "roles": ["core_enterprise"]})
    gw.ids["core2"] = answer.json()["id"]
    assert register(gw, "delivery", doc("elsewhere"), buyer="core2").status_code == 201
    body = {
        "invoice_hash": sale.hash("invoice"),
        "supporting": [doc("elsewhere")],
        "amount": "1000",
        "maturity": gw.maturity(30),
    }
    problem(gw.post("s1", "/v1/receivables", body), 422, "unrelated-evidence")


def test_data_provider_cannot_originate(gw: Gateway) -> None:
    sale = ready(gw)
    body = {"invoice_hash": sale.hash("invoice"), "amount": "1000", "maturity": gw.maturity(30)}
    problem(gw.post("tax", "/v1/receivables", body), 403, "forbidden")


def test_auto_approval_offers_at_the_policy_price_and_the_supplier_is_paid_by_dvp(gw: Gateway) -> None:
    fund_bank(gw)
    _, made = originated(gw, auto_approve=True)
    [decision] = made["receivable"]["auto_offers"]
    # score 526 (README): band 500 -> 8 %; advance 9,000,000; 90 days: discount 180,000
    days = days_between(gw.chain.now(), gw.chain.now() + 90 * 86_400)
    assert days == 90
    assert (decision["status"], decision["price"]) == ("offered", "8820000")
    accepted = gw.post("s1", f"/v1/discount-offers/{decision['offer_id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["notes"][0]["holder"] == gw.addresses["bank"]
    balance = gw.get("s1", f"/v1/settlement-tokens/USD/accounts/{gw.ids['s1']}").json()["balance"]
    assert balance == "8820000"
    bank = gw.get("bank", f"/v1/settlement-tokens/USD/accounts/{gw.ids['bank']}").json()["balance"]
    assert bank == str(BANK_DEPOSIT - 8_820_000)


def test_auto_approval_makes_one_offer_per_receivable(gw: Gateway) -> None:
    fund_bank(gw)
    note_id, _ = originated(gw, auto_approve=True)
    assert auto_approve(gw.context, int(note_id)) == []
    offers = gw.get("bank", "/v1/discount-offers").json()["items"]
    assert [o["note_id"] for o in offers] == [note_id]


def test_auto_approval_declines_below_the_minimum_score(gw: Gateway) -> None:
    fund_bank(gw)
    _, made = originated(gw, auto_approve=True, min_score=900)
    [decision] = made["receivable"]["auto_offers"]
    assert decision["status"] == "declined" and "min_score" in decision["reason"]
    assert gw.get("bank", "/v1/discount-offers").json()["items"] == []


def test_financing_quote_shows_each_rule(gw: Gateway) -> None:
    note_id, _ = originated(gw, min_attesters=2)
    answer = gw.post("bank", f"/v1/receivables/{note_id}/financing-quote")
    assert answer.status_code == 200, answer.text
    quote = answer.json()
    rules = {r["rule"]: (r["passed"], r["required"], r["actual"]) for r in quote["rules"]}
    assert rules["min_attesters"] == (False, "2", "1")
    assert rules["min_score"] == (True, "500", "526")
    assert quote["approved"] is False and quote["price"] == "8820000" and quote["score"] == 526


def test_revoked_attestation_lowers_the_score_and_the_policy_then_refuses(gw: Gateway) -> None:
    note_id, made = originated(gw)
    assert gw.client.put("/v1/receivable-policy", json=POLICY, headers=gw.auth("bank")).status_code == 200
    before = gw.post("bank", f"/v1/receivables/{note_id}/financing-quote").json()
    path = f"/v1/evidence/{made['sale'].hash('acceptance')}/attestations/mine"
    assert gw.client.delete(path, headers=gw.auth("lab")).status_code == 200
    after = gw.post("bank", f"/v1/receivables/{note_id}/financing-quote").json()
    assert before["approved"] is True and before["score"] == 526
    assert after["approved"] is False and after["score"] < before["score"]
    failed = {r["rule"] for r in after["rules"] if not r["passed"]}
    assert {"min_score", "four_way_match"} <= failed


def test_financing_quote_needs_a_policy(gw: Gateway) -> None:
    note_id, _ = originated(gw)
    problem(gw.post("bank", f"/v1/receivables/{note_id}/financing-quote"), 409, "receivable-policy-required")


def test_financing_quote_is_for_financiers(gw: Gateway) -> None:
    note_id, _ = originated(gw)
    problem(gw.post("s1", f"/v1/receivables/{note_id}/financing-quote"), 403, "forbidden")


def test_credit_score_is_explained_factor_by_factor(gw: Gateway) -> None:
    originated(gw)
    answer = gw.get("s1", f"/v1/members/{gw.ids['s1']}/credit-score")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    points = {f["name"]: f["contribution"] for f in body["factors"]}
    assert body["score"] == 526 == sum(points.values())
    assert points["four_way_match"] == 150 and points["distinct_attesters"] == 75


def test_credit_score_is_visible_to_financiers(gw: Gateway) -> None:
    originated(gw)
    assert gw.get("bank", f"/v1/members/{gw.ids['s1']}/credit-score").status_code == 200


def test_credit_score_is_refused_to_other_members(gw: Gateway) -> None:
    originated(gw)
    problem(gw.get("s3", f"/v1/members/{gw.ids['s1']}/credit-score"), 403, "forbidden")
    problem(gw.get("core", f"/v1/members/{gw.ids['s1']}/credit-score"), 403, "forbidden")


def test_buyer_sees_the_receivable_an_unrelated_supplier_does_not(gw: Gateway) -> None:
    note_id, _ = originated(gw)
    assert gw.get("core", f"/v1/receivables/{note_id}").status_code == 200
    assert [r["note_id"] for r in gw.get("core", "/v1/receivables").json()["items"]] == [note_id]
    problem(gw.get("s3", f"/v1/receivables/{note_id}"), 404, "receivable-not-found")
    assert gw.get("s3", "/v1/receivables").json()["items"] == []


def test_buyer_converts_the_receivable_into_its_confirmed_note(gw: Gateway) -> None:
    note_id, _ = originated(gw)
    answer = gw.post("core", f"/v1/receivables/{note_id}/convert")
    assert answer.status_code == 200, answer.text
    receivable = answer.json()["receivable"]
    assert receivable["obligor"] == gw.addresses["core"] and receivable["converted_at"] is not None
    assert credit(gw, "s1")[1] == "0"
    assert credit(gw, "core")[1] == str(INVOICE_AMOUNT)


def test_only_the_buyer_converts(gw: Gateway) -> None:
    note_id, _ = originated(gw)
    answer = gw.post("operator", "/v1/members", {"name": "core2", "roles": ["core_enterprise"]})
    gw.keys["core2"] = answer.json()["api_key"]
    problem(gw.post("core2", f"/v1/receivables/{note_id}/convert"), 403, "not-receivable-buyer")
    problem(gw.post("s1", f"/v1/receivables/{note_id}/convert"), 403, "forbidden")


def test_converting_twice_is_refused(gw: Gateway) -> None:
    note_id, _ = originated(gw)
    assert gw.post("core", f"/v1/receivables/{note_id}/convert").status_code == 200
    problem(gw.post("core", f"/v1/receivables/{note_id}/convert"), 409, "receivable-already-converted")


def test_risk_view_shows_evidence_exposure_by_supplier_and_by_buyer(gw: Gateway) -> None:
    originated(gw)
    items = gw.get("auditor", "/v1/risk/evidence-exposure").json()["items"]
    rows = {(i["side"], i["party_member"]): i for i in items}
    supplier, buyer = rows[("supplier", gw.ids["s1"])], rows[("buyer", gw.ids["core"])]
    assert (supplier["receivables"], supplier["live_amount"], supplier["financed_amount"]) == (
        1,
        str(INVOICE_AMOUNT),
        "0",
    )
    assert (buyer["live_amount"], buyer["counterparties"]) == (str(INVOICE_AMOUNT), 1)


def test_risk_view_is_refused_to_suppliers(gw: Gateway) -> None:
    problem(gw.get("s1", "/v1/risk/evidence-exposure"), 403, "forbidden")


def test_revoked_attestation_under_a_financed_receivable_raises_an_alert(gw: Gateway) -> None:
    fund_bank(gw)
    _, made = originated(gw, auto_approve=True)
    offer_id = made["receivable"]["auto_offers"][0]["offer_id"]
    assert gw.post("s1", f"/v1/discount-offers/{offer_id}/accept").status_code == 200
    path = f"/v1/evidence/{made['sale'].hash('delivery')}/attestations/mine"
    assert gw.client.delete(path, headers=gw.auth("logistics")).status_code == 200
    evaluate_now(gw.context)
    rule = "financed_attestation_revoked"
    [alert] = [
        a for a in gw.get("operator", "/v1/alerts", rule=rule).json()["items"] if a["status"] == "open"
    ]
    assert alert["figures"]["revoked"] == [
        {"doc_hash": made["sale"].hash("delivery"), "attester": gw.addresses["logistics"]}
    ]


def test_buyer_indirect_exposure_over_the_threshold_raises_an_alert(gw: Gateway) -> None:
    body = {"buyer_indirect_exposure": str(INVOICE_AMOUNT - 1)}
    assert gw.client.put("/v1/alert-policy", json=body, headers=gw.auth("operator")).status_code == 200
    originated(gw)
    evaluate_now(gw.context)
    items = gw.get("operator", "/v1/alerts", rule="buyer_indirect_exposure").json()["items"]
    [alert] = [a for a in items if a["status"] == "open"]
    assert alert["subject"] == gw.addresses["core"]
    assert alert["figures"]["indirect_exposure"] == str(INVOICE_AMOUNT)


def test_another_attestation_does_not_change_a_financed_receivable(gw: Gateway) -> None:
    note_id, made = originated(gw)
    answer = attest(gw, "logistics", made["sale"].hash("invoice"))
    assert answer.status_code == 201, answer.text
    assert gw.get("s1", f"/v1/receivables/{note_id}").json()["live_attesters"] == 2


def test_receivables_need_an_api_key(gw: Gateway) -> None:
    problem(gw.client.get("/v1/receivables"), 401, "unauthorized")


def test_financing_quote_of_a_confirmed_note_is_404(gw: Gateway) -> None:
    assert gw.client.put("/v1/receivable-policy", json=POLICY, headers=gw.auth("bank")).status_code == 200
    note_id = gw.active("s1")
    problem(gw.post("bank", f"/v1/receivables/{note_id}/financing-quote"), 404, "receivable-not-found")


def test_credit_score_of_an_unknown_member_is_refused(gw: Gateway) -> None:
    problem(gw.get("bank", "/v1/members/m_nobody/credit-score"), 422, "not-a-member")


def test_scheduler_sweep_offers_on_a_receivable_originated_before_auto_approval_was_on(gw: Gateway) -> None:
    fund_bank(gw)
    note_id, _ = originated(gw)
    policy = {**POLICY, "auto_approve": True}
    assert gw.client.put("/v1/receivable-policy", json=policy, headers=gw.auth("bank")).status_code == 200
    assert auto_approve_pending(gw.context) == 1
    assert auto_approve_pending(gw.context) == 0
    [decision] = gw.get("s1", f"/v1/receivables/{note_id}").json()["auto_offers"]
    assert decision["status"] == "offered"
