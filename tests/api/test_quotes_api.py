"""GET /v1/quotes/discount: the price for a rate and the rate for a price of a note the caller may
see, by the conventions of service/api/financing/pricing.py (checked against hand-worked figures)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.api.financing import Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401

FACE = 3_600_000


def _quote(fin: Fin, who: str = "bank", **params: Any) -> Any:
    return fin.get(who, "/v1/quotes/discount", **params)


def _ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _days(quote: dict[str, Any]) -> int:
    days = (date.fromisoformat(quote["maturity"][:10]) - date.fromisoformat(quote["value_date"])).days
    assert days == quote["days"]
    return days


def test_the_price_for_a_rate_rounds_the_discount_up(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    quote = _ok(_quote(fin, note=note_id, rate="0.1"))
    days = _days(quote)
    # 30 days: 3_600_000 * 0.1 * 30 / 360 = 30_000 exactly -> 3_570_000;
    # 29 days: 3_600_000 * 0.1 * 29 / 360 = 29_000 exactly -> 3_571_000
    assert quote["price"] == {30: "3570000", 29: "3571000"}[days]
    assert quote["discount"] == str(FACE - int(quote["price"])) and quote["rate"] == "0.1"
    assert quote["basis"] == "ACT/360" and quote["given"] == "rate" and quote["rate_exact"] is True


def test_the_price_for_a_rate_on_act_365(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    quote = _ok(_quote(fin, note=note_id, rate="0.1", basis="ACT/365"))
    # 30 days: 360_000 * 30 / 365 = 29_589.04 -> 29_590 -> 3_570_410;
    # 29 days: 360_000 * 29 / 365 = 28_602.73 -> 28_603 -> 3_571_397
    assert quote["price"] == {30: "3570410", 29: "3571397"}[_days(quote)]
    assert quote["rate_exact"] is False


def test_the_rate_for_a_price(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    quote = _ok(_quote(fin, note=note_id, price="3564000"))
    # 30 days: 36_000 * 360 / (3_600_000 * 30) = 0.12; 29 days: 0.124137931034|48 -> 0.124137931034
    assert quote["rate"] == {30: "0.12", 29: "0.124137931034"}[_days(quote)]
    assert quote["given"] == "price" and quote["discount"] == "36000"


def test_the_price_at_face_is_a_zero_rate(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    assert _ok(_quote(fin, note=note_id, price=str(FACE)))["rate"] == "0"


def test_a_quote_matches_the_offer_made_at_that_rate(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    quote = _ok(_quote(fin, note=note_id, rate="0.0725", basis="ACT/365"))
    offer = fin.offer(note_id, rate="0.0725", basis="ACT/365")
    assert offer["price"] == quote["price"] and offer["rate"] == quote["rate"]


def test_any_member_who_may_see_the_note_gets_a_quote(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    for who in ("s1", "core", "bank", "auditor", "operator"):
        assert _quote(fin, who, note=note_id, rate="0.05").status_code == 200, who
    for who in ("s3", "bank2", "core2"):
        problem(_quote(fin, who, note=note_id, rate="0.05"), 404, "note-not-found")


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"rate": "4.5"}, 422, "invalid-rate"),
        ({"rate": "4.5%"}, 422, "invalid-rate"),
        ({"rate": "1e-2"}, 422, "invalid-rate"),
        ({"rate": "-0.01"}, 422, "invalid-rate"),
        ({"rate": "0.05", "price": "1"}, 422, "invalid-request"),
        ({}, 422, "invalid-request"),
        ({"price": "3600001"}, 422, "invalid-request"),
        ({"price": "12.5"}, 422, "invalid-request"),
        ({"rate": "0.05", "basis": "30/360"}, 422, "invalid-basis"),
    ],
)
def test_quote_refusals(fin: Fin, params: dict[str, str], status: int, slug: str) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    problem(_quote(fin, note=note_id, **params), status, slug)


def test_a_quote_for_an_unknown_note_is_not_found(fin: Fin) -> None:
    problem(_quote(fin, note="4242", rate="0.05"), 404, "note-not-found")
    problem(_quote(fin, note="x", rate="0.05"), 404, "note-not-found")


def test_a_matured_note_has_no_discount_quote(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=2)
    fin.advance(3)
    problem(_quote(fin, note=note_id, rate="0.05"), 409, "note-matured")
