"""Discount offers through the gateway: offer at a price or a rate, accept with delivery versus
payment, cancel, off-chain payment recorded by reference; derived statuses; failed DvP changes
nothing; idempotent accept; every 4xx of the discount endpoints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from service.api.tokens.service import approve_ledger
from service.api.writes import signer
from service.db.gateway_models import ApiMember
from service.ledger import errors
from tests.api.financing import TOKENS, Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401

FACE = 1_000_000


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _days(offer: dict[str, Any], note: dict[str, Any]) -> int:
    maturity = date.fromisoformat(note["maturity"][:10])
    return (maturity - date.fromisoformat(offer["value_date"])).days


# ------------------------------------------------------------------ offers
def test_an_offer_at_a_rate_is_priced_on_act_360_with_the_discount_rounded_up(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    answer = fin.post(
        "bank", f"/v1/notes/{note_id}/discount-offers", {"rate": "0.045", "deadline": fin.maturity(10)}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    offer = body["offer"]
    days = _days(offer, fin.note(note_id))
    assert days == offer["days"] and days in (29, 30)
    # 30 days: 1_000_000 * 0.045 * 30 / 360 = 3_750 exactly -> 996_250
    assert int(offer["price"]) == FACE - _ceil_div(FACE * 45 * days, 1000 * 360)
    assert offer["basis"] == "ACT/360" and offer["status"] == "open" and offer["off_chain"] is False
    assert offer["holder_member"] == fin.ids["s1"] and offer["financier_member"] == fin.ids["bank"]
    assert body["tx_hash"].startswith("0x") and offer["created_tx"] == body["tx_hash"]
    assert fin.context.ledger.get_offer(int(offer["id"])).price == int(offer["price"])


def test_an_offer_at_a_rate_can_use_act_365(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, rate="0.045", basis="ACT/365")
    days = offer["days"]
    # 30 days: 1_000_000 * 0.045 * 30 / 365 = 3_698.63 -> 3_699 -> 996_301
    assert int(offer["price"]) == FACE - _ceil_div(FACE * 45 * days, 1000 * 365)
    assert offer["basis"] == "ACT/365"


def test_an_offer_at_a_price_names_the_rate_it_implies(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=990_000)
    assert offer["price"] == "990000" and offer["discount"] == "10000"
    if offer["days"] == 30:
        # 10_000 * 360 / (1_000_000 * 30) = 0.12
        assert offer["rate"] == "0.12" and offer["rate_exact"] is True


def test_accepting_delivers_the_note_and_pays_the_holder_in_one_transaction(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=990_000)
    answer = fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert fin.balance("s1") == 990_000 and fin.balance("bank") == TOKENS - 990_000
    assert body["offer"]["status"] == "accepted" and body["offer"]["closed_tx"] == body["tx_hash"]
    assert body["notes"][0]["holder"] == fin.addresses["bank"]
    assert fin.context.ledger.get_note(int(note_id)).holder == fin.addresses["bank"]
    events = fin.get("auditor", f"/v1/notes/{note_id}/provenance").json()["tree"][0]["events"]
    discounted = [e for e in events if e["name"] == "NoteDiscounted"]
    assert [e["tx_hash"] for e in discounted] == [body["tx_hash"]]


def test_an_off_chain_offer_delivers_against_the_recorded_payment_without_tokens(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=985_000, off_chain=True)
    problem(fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "discount-payment-not-recorded")
    recorded = fin.post("bank", f"/v1/discount-offers/{offer['id']}/payment", {"reference": "WIRE-2026-001"})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["offer"]["payment_reference"] == "WIRE-2026-001"
    accepted = fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["offer"]["status"] == "accepted"
    assert fin.note(note_id)["holder"] == fin.addresses["bank"]
    assert fin.balance("s1") == 0 and fin.balance("bank") == TOKENS


def test_a_cancelled_offer_cannot_be_accepted(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id)
    cancelled = fin.post("bank", f"/v1/discount-offers/{offer['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["offer"]["status"] == "cancelled"
    problem(fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "offer-not-open")


# ------------------------------------------------------------------ listing and derived statuses
def test_offers_are_listed_with_derived_statuses_and_filters(fin: Fin) -> None:
    open_note, accepted_note, moved_note, late_note = (fin.issue_to("s1", FACE, days=30) for _ in range(4))
    cancelled_note = fin.issue_to("s2", FACE, days=30)
    offers = {
        "open": fin.offer(open_note, days=20),
        "accepted": fin.offer(accepted_note, days=20),
        "void": fin.offer(moved_note, days=20),
        "expired": fin.offer(late_note, days=2),
        "cancelled": fin.offer(cancelled_note, days=20, who="bank"),
    }
    assert fin.post("s1", f"/v1/discount-offers/{offers['accepted']['id']}/accept").status_code == 200
    moved = fin.post("s1", f"/v1/notes/{moved_note}/transfer", {"to": fin.ids["s2"]})
    assert moved.status_code == 200, moved.text
    assert fin.post("bank", f"/v1/discount-offers/{offers['cancelled']['id']}/cancel").status_code == 200
    fin.advance(3)

    every = {o["id"]: o["status"] for o in fin.get("auditor", "/v1/discount-offers").json()["items"]}
    assert every == {offer["id"]: status for status, offer in offers.items()}
    for status, offer in offers.items():
        listed = fin.get("bank", "/v1/discount-offers", status=status).json()["items"]
        assert [o["id"] for o in listed] == [offer["id"]], status
    by_note = fin.get("bank", "/v1/discount-offers", note=open_note).json()["items"]
    assert [o["id"] for o in by_note] == [offers["open"]["id"]]
    mine = fin.get("bank", "/v1/discount-offers", financier=fin.ids["bank"], limit=2).json()
    assert len(mine["items"]) == 2 and mine["next_cursor"] == mine["items"][-1]["id"]


def test_offers_are_visible_to_their_financier_holders_auditor_and_operator_only(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id)
    for who in ("bank", "s1", "auditor", "operator"):
        assert [o["id"] for o in fin.get(who, "/v1/discount-offers").json()["items"]] == [offer["id"]], who
        assert fin.get(who, f"/v1/discount-offers/{offer['id']}").status_code == 200
    for who in ("bank2", "s3", "core2"):
        assert fin.get(who, "/v1/discount-offers").json()["items"] == [], who
        problem(fin.get(who, f"/v1/discount-offers/{offer['id']}"), 404, "offer-not-found")
    # the note moves on: the offer made to s1 stays s1's business (now void), not its new holder's
    assert fin.post("s1", f"/v1/notes/{note_id}/transfer", {"to": fin.ids["s2"]}).status_code == 200
    assert fin.get("s1", f"/v1/discount-offers/{offer['id']}").json()["status"] == "void"
    problem(fin.get("s2", f"/v1/discount-offers/{offer['id']}"), 404, "offer-not-found")
    assert fin.get("s2", "/v1/discount-offers").json()["items"] == []


def test_the_financier_that_bought_a_note_does_not_see_the_competing_bids_made_to_the_seller(
    fin: Fin,
) -> None:
    root = fin.issue_to("s1", FACE, days=30)
    note_id, _ = fin.split("s1", root, [("s1", 600_000), ("bank2", 400_000)])  # bank2 sees the tree
    rival = fin.offer(note_id, who="bank", price="580000")
    bought = fin.offer(note_id, who="bank2", price="590000")
    assert fin.post("s1", f"/v1/discount-offers/{bought['id']}/accept").status_code == 200
    assert [o["id"] for o in fin.get("bank2", "/v1/discount-offers").json()["items"]] == [bought["id"]]
    problem(fin.get("bank2", f"/v1/discount-offers/{rival['id']}"), 404, "offer-not-found")
    seller = [o["id"] for o in fin.get("s1", "/v1/discount-offers").json()["items"]]
    assert seller == [rival["id"], bought["id"]]


def test_the_implied_rate_of_a_listed_offer_follows_the_basis_asked_for(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=990_000)
    on_365 = fin.get("bank", f"/v1/discount-offers/{offer['id']}", basis="ACT/365").json()
    days = on_365["days"]
    # 10_000 * 365 / (1_000_000 * days): on 30 days 0.121666666666|67 -> 0.121666666667
    expected = {30: "0.121666666667", 29: "0.125862068966"}[days]
    assert on_365["basis"] == "ACT/365" and on_365["rate"] == expected


# ------------------------------------------------------------------ failed DvP and idempotency
def test_a_dvp_without_enough_allowance_changes_nothing(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=990_000)
    approve_ledger(fin.context, fin.ids["bank"], 989_999)
    before = fin.state()
    problem(
        fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "insufficient-settlement-allowance"
    )
    assert fin.state() == before


def test_a_dvp_without_enough_tokens_changes_nothing(fin: Fin) -> None:
    big = 2 * TOKENS
    note_id = fin.issue_to("s1", big, days=30)
    offer = fin.offer(note_id, price=TOKENS + 1)
    approve_ledger(fin.context, fin.ids["bank"], big)
    before = fin.state()
    body = problem(
        fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "insufficient-settlement-tokens"
    )
    assert body["balance"] == str(TOKENS) and body["needed"] == str(TOKENS + 1)
    assert fin.state() == before


def test_a_dvp_on_an_expired_offer_changes_nothing(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, days=2)
    fin.advance(3)
    before = fin.state()
    problem(fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "offer-expired")
    assert fin.state() == before


def test_a_dvp_on_a_note_that_moved_changes_nothing(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id)
    assert fin.post("s1", f"/v1/notes/{note_id}/transfer", {"to": fin.ids["s2"]}).status_code == 200
    before = fin.state()
    problem(fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 403, "not-holder")
    # the offer was made to s1: its new holder may not see it, let alone accept it
    problem(fin.post("s2", f"/v1/discount-offers/{offer['id']}/accept"), 404, "offer-not-found")
    assert fin.state() == before


def test_an_offer_stays_void_when_its_note_comes_back_to_the_holder(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id)
    assert fin.post("s1", f"/v1/notes/{note_id}/transfer", {"to": fin.ids["s2"]}).status_code == 200
    assert fin.post("s2", f"/v1/notes/{note_id}/transfer", {"to": fin.ids["s1"]}).status_code == 200
    assert fin.get("s1", f"/v1/discount-offers/{offer['id']}").json()["status"] == "void"
    before = fin.state()
    problem(fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "offer-void")
    assert fin.state() == before


def test_an_offer_stays_void_after_its_note_is_frozen_and_unfrozen(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id)
    _freeze(fin, note_id)
    assert fin.post("operator", f"/v1/notes/{note_id}/unfreeze").status_code == 200
    assert fin.get("bank", f"/v1/discount-offers/{offer['id']}").json()["status"] == "void"
    problem(fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept"), 409, "offer-void")
    fresh = fin.offer(note_id)
    assert fresh["status"] == "open"
    assert fin.post("s1", f"/v1/discount-offers/{fresh['id']}/accept").status_code == 200


def test_the_ledger_itself_refuses_a_dvp_the_financier_cannot_pay(fin: Fin) -> None:
    """Past the gateway's pre-checks (a transaction signed directly): the revert leaves no trace."""
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=990_000)
    approve_ledger(fin.context, fin.ids["bank"], 0)
    before = fin.state()
    with fin.context.session() as session:
        s1 = session.get(ApiMember, fin.ids["s1"])
        assert s1 is not None
    with fin.context.write_lock(), pytest.raises(errors.ERC20InsufficientAllowance):
        fin.context.ledger.accept_discount_offer(signer(fin.context, s1), int(offer["id"]))
    assert fin.state() == before


def test_a_retried_accept_with_the_same_key_acts_once(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    offer = fin.offer(note_id, price=990_000)
    path = f"/v1/discount-offers/{offer['id']}/accept"
    first = fin.post("s1", path, None, **{"Idempotency-Key": "accept-1"})
    again = fin.post("s1", path, None, **{"Idempotency-Key": "accept-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert fin.balance("s1") == 990_000 and fin.balance("bank") == TOKENS - 990_000
    problem(fin.post("s1", path, None, **{"Idempotency-Key": "accept-2"}), 409, "offer-not-open")
    assert fin.balance("s1") == 990_000


# ------------------------------------------------------------------ every 4xx
Case = Callable[[Fin], Any]


def _offer_on(fin: Fin, note_id: str, who: str = "bank", **body: Any) -> Any:
    payload = {"price": "990000", "deadline": fin.maturity(10), **body}
    return fin.post(who, f"/v1/notes/{note_id}/discount-offers", payload)


def _suspend(fin: Fin, who: str) -> None:
    assert fin.post("operator", f"/v1/members/{fin.ids[who]}/suspend").status_code == 200


def _freeze(fin: Fin, note_id: str) -> None:
    assert fin.post("operator", f"/v1/notes/{note_id}/freeze", {"reason": "court"}).status_code == 200


def _eur_note(fin: Fin) -> str:
    body = fin.issue_body("s1", str(FACE), currency="EUR")
    note_id: str = fin.post("core", "/v1/notes", body).json()["note_ids"][0]
    assert fin.post("s1", f"/v1/notes/{note_id}/accept").status_code == 200
    return note_id


def _pending(fin: Fin) -> str:
    return fin.issue("s1", str(FACE))


def _note(fin: Fin) -> str:
    return fin.issue_to("s1", FACE, days=30)


def _matured(fin: Fin) -> Any:
    note_id = fin.issue_to("s1", FACE, days=2)
    fin.advance(3)
    return _offer_on(fin, note_id, deadline=fin.maturity(1))


def _frozen(fin: Fin) -> Any:
    note_id = _note(fin)
    _freeze(fin, note_id)
    return _offer_on(fin, note_id)


def _suspended_financier(fin: Fin) -> Any:
    note_id = _note(fin)
    _suspend(fin, "bank")
    return _offer_on(fin, note_id)


OFFER_CASES: dict[str, tuple[Case, int, str]] = {
    "supplier-is-not-a-financier": (lambda f: _offer_on(f, _note(f), who="s2"), 403, "forbidden"),
    "financier-without-sight-of-the-note": (
        lambda f: _offer_on(f, _note(f), who="bank2"),
        404,
        "note-not-found",
    ),
    "unknown-note": (lambda f: _offer_on(f, "999"), 404, "note-not-found"),
    "pending-note": (lambda f: _offer_on(f, _pending(f)), 409, "note-not-active"),
    "frozen-note": (_frozen, 409, "note-frozen"),
    "matured-note": (_matured, 409, "note-matured"),
    "suspended-financier": (_suspended_financier, 403, "member-suspended"),  # the caller itself: the gate
    "rate-in-percent": (lambda f: _offer_on(f, _note(f), price=None, rate="4.5"), 422, "invalid-rate"),
    "rate-with-percent-sign": (
        lambda f: _offer_on(f, _note(f), price=None, rate="4.5%"),
        422,
        "invalid-rate",
    ),
    "rate-as-json-number": (lambda f: _offer_on(f, _note(f), price=None, rate=0.045), 422, "invalid-request"),
    "price-as-json-float": (lambda f: _offer_on(f, _note(f), price=990000.0), 422, "invalid-request"),
    "price-and-rate": (lambda f: _offer_on(f, _note(f), rate="0.05"), 422, "invalid-request"),
    "neither-price-nor-rate": (lambda f: _offer_on(f, _note(f), price=None), 422, "invalid-request"),
    "unknown-basis": (lambda f: _offer_on(f, _note(f), basis="30/360"), 422, "invalid-request"),
    "price-above-face": (lambda f: _offer_on(f, _note(f), price=str(FACE + 1)), 422, "invalid-price"),
    "deadline-in-the-past": (
        lambda f: _offer_on(f, _note(f), deadline="2001-01-01T00:00:00Z"),
        422,
        "invalid-deadline",
    ),
    "deadline-after-maturity": (
        lambda f: _offer_on(f, _note(f), deadline=f.maturity(31)),
        422,
        "invalid-deadline",
    ),
    "no-token-for-the-currency": (lambda f: _offer_on(f, _eur_note(f)), 409, "settlement-token-not-set"),
    "financier-holds-the-note": (
        lambda f: _offer_on(f, f.split("s1", _note(f), [("bank", 1), ("s1", FACE - 1)])[0]),
        422,
        "self-dealing",
    ),
}


@pytest.mark.parametrize("case", list(OFFER_CASES))
def test_offer_refusals(fin: Fin, case: str) -> None:
    make, status, slug = OFFER_CASES[case]
    problem(make(fin), status, slug)


def test_an_off_chain_offer_needs_no_settlement_token(fin: Fin) -> None:
    answer = _offer_on(fin, _eur_note(fin), off_chain=True)
    assert answer.status_code == 201, answer.text


def _with_offer(fin: Fin, **body: Any) -> tuple[str, str]:
    note_id = _note(fin)
    answer = _offer_on(fin, note_id, **body)
    assert answer.status_code == 201, answer.text
    return note_id, answer.json()["offer"]["id"]


def _accept(fin: Fin, offer_id: str, who: str = "s1") -> Any:
    return fin.post(who, f"/v1/discount-offers/{offer_id}/accept")


def _accept_after(prepare: Callable[[Fin, str, str], Any], who: str = "s1", **body: Any) -> Case:
    def case(fin: Fin) -> Any:
        note_id, offer_id = _with_offer(fin, **body)
        prepare(fin, note_id, offer_id)
        return _accept(fin, offer_id, who)

    return case


def _split_away(fin: Fin, note_id: str, _offer: str) -> None:
    fin.split("s1", note_id, [("s1", 1), ("s2", FACE - 1)])


ACCEPT_CASES: dict[str, tuple[Case, int, str]] = {
    "unknown-offer": (lambda f: _accept(f, "424242"), 404, "offer-not-found"),
    "offer-out-of-sight": (_accept_after(lambda f, n, o: None, who="s3"), 404, "offer-not-found"),
    "financier-accepts-its-own-offer": (_accept_after(lambda f, n, o: None, who="bank"), 403, "not-holder"),
    "accepted-already": (_accept_after(lambda f, n, o: _accept(f, o)), 409, "offer-not-open"),
    "expired": (_accept_after(lambda f, n, o: f.advance(11)), 409, "offer-expired"),
    "note-split-since": (_accept_after(_split_away), 409, "note-not-active"),
    "note-frozen-since": (_accept_after(lambda f, n, o: _freeze(f, n)), 409, "note-frozen"),
    "financier-suspended-since": (
        _accept_after(lambda f, n, o: _suspend(f, "bank")),
        409,
        "member-suspended",
    ),
    "holder-suspended": (_accept_after(lambda f, n, o: _suspend(f, "s1")), 403, "member-suspended"),
    "off-chain-unpaid": (
        _accept_after(lambda f, n, o: None, off_chain=True),
        409,
        "discount-payment-not-recorded",
    ),
    "financier-allows-too-little": (
        _accept_after(lambda f, n, o: approve_ledger(f.context, f.ids["bank"], 1)),
        409,
        "insufficient-settlement-allowance",
    ),
}


@pytest.mark.parametrize("case", list(ACCEPT_CASES))
def test_accept_refusals(fin: Fin, case: str) -> None:
    make, status, slug = ACCEPT_CASES[case]
    problem(make(fin), status, slug)


def _financier_holder_sees(fin: Fin) -> Any:
    """bank2 holds a note (transferred to it) that bank offers to buy: it sees the offer, not its own."""
    note_id = _note(fin)
    assert fin.post("s1", f"/v1/notes/{note_id}/transfer", {"to": fin.ids["bank2"]}).status_code == 200
    offer_id = _offer_on(fin, note_id).json()["offer"]["id"]
    return offer_id


def _cancel_twice(fin: Fin) -> Any:
    _, offer_id = _with_offer(fin)
    assert fin.post("bank", f"/v1/discount-offers/{offer_id}/cancel").status_code == 200
    return fin.post("bank", f"/v1/discount-offers/{offer_id}/cancel")


CANCEL_CASES: dict[str, tuple[Case, int, str]] = {
    "supplier": (lambda f: f.post("s1", f"/v1/discount-offers/{_with_offer(f)[1]}/cancel"), 403, "forbidden"),
    "other-financier-out-of-sight": (
        lambda f: f.post("bank2", f"/v1/discount-offers/{_with_offer(f)[1]}/cancel"),
        404,
        "offer-not-found",
    ),
    "other-financier-holding-the-note": (
        lambda f: f.post("bank2", f"/v1/discount-offers/{_financier_holder_sees(f)}/cancel"),
        403,
        "not-offerer",
    ),
    "cancelled-already": (lambda f: _cancel_twice(f), 409, "offer-not-open"),
}


@pytest.mark.parametrize("case", list(CANCEL_CASES))
def test_cancel_refusals(fin: Fin, case: str) -> None:
    make, status, slug = CANCEL_CASES[case]
    problem(make(fin), status, slug)


def _pay(fin: Fin, offer_id: str, reference: Any = "WIRE-1", who: str = "bank") -> Any:
    return fin.post(who, f"/v1/discount-offers/{offer_id}/payment", {"reference": reference})


def _pay_after(prepare: Callable[[Fin, str, str], Any], off_chain: bool = True, **pay: Any) -> Case:
    def case(fin: Fin) -> Any:
        note_id, offer_id = _with_offer(fin, off_chain=off_chain)
        prepare(fin, note_id, offer_id)
        return _pay(fin, offer_id, **pay)

    return case


PAYMENT_CASES: dict[str, tuple[Case, int, str]] = {
    "supplier": (_pay_after(lambda f, n, o: None, who="s1"), 403, "forbidden"),
    "other-financier": (_pay_after(lambda f, n, o: None, who="bank2"), 404, "offer-not-found"),
    "other-financier-holding-the-note": (
        lambda f: _pay(f, _financier_holder_sees(f), who="bank2"),
        403,
        "not-offerer",
    ),
    "token-offer": (_pay_after(lambda f, n, o: None, off_chain=False), 409, "not-an-off-chain-offer"),
    "zero-reference": (_pay_after(lambda f, n, o: None, reference="0x" + "00" * 32), 422, "zero-reference"),
    "reference-too-long": (_pay_after(lambda f, n, o: None, reference="x" * 33), 422, "invalid-request"),
    "expired": (_pay_after(lambda f, n, o: f.advance(11)), 409, "offer-expired"),
    "cancelled": (
        _pay_after(lambda f, n, o: f.post("bank", f"/v1/discount-offers/{o}/cancel")),
        409,
        "offer-not-open",
    ),
}


@pytest.mark.parametrize("case", list(PAYMENT_CASES))
def test_record_payment_refusals(fin: Fin, case: str) -> None:
    make, status, slug = PAYMENT_CASES[case]
    problem(make(fin), status, slug)


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"status": "pending"}, "invalid-request"),
        ({"basis": "30/360"}, "invalid-basis"),
        ({"cursor": "x"}, "invalid-request"),
        ({"note": "-1"}, "invalid-request"),
        ({"financier": "m_nobody"}, "not-a-member"),
    ],
)
def test_list_refusals(fin: Fin, params: dict[str, str], slug: str) -> None:
    problem(fin.get("bank", "/v1/discount-offers", **params), 422, slug)


def test_a_seller_still_sees_the_note_it_sold_to_the_bank(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000)
    offer = fin.offer(note_id)
    assert fin.post("s1", f"/v1/discount-offers/{offer['id']}/accept").status_code == 200
    seen = fin.get("s1", f"/v1/notes/{note_id}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["holder_member"] == fin.ids["bank"]
    listed = fin.get("s1", "/v1/notes").json()["items"]
    assert note_id in {n["id"] for n in listed}
