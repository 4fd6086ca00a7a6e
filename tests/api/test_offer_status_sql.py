"""The status of a discount offer derived in SQL (`offer_status_sql`: one CASE over the offer, its
note and the chain time) equals the Python derivation (`offer_status` with `voided_offers`) in every
case, and GET /v1/discount-offers filters and pages by it in the database: a page costs the same
statements however many offers the caller has."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select

from service.api.financing.queries import offer_status, offers_with_status, read_clock, voided_offers
from service.db.models import DiscountOffer, Note
from tests.api.financing import Fin, fin_fixture, fin_template_fixture  # noqa: F401
from tests.statements import request_statements

FACE = 1_000_000


def _cases(fin: Fin) -> dict[str, str]:
    """An offer in every state, by the name of the case: offer id."""
    notes = {name: fin.issue_to("s1", FACE, days=30) for name in CASES}
    offers = {name: fin.offer(notes[name], days=2 if name == "expired" else 20)["id"] for name in CASES}

    def ok(answer: Any) -> None:
        assert answer.status_code == 200, answer.text

    ok(fin.post("s1", f"/v1/notes/{notes['void_moved']}/transfer", {"to": fin.ids["s2"]}))
    ok(fin.post("s1", f"/v1/notes/{notes['void_moved_back']}/transfer", {"to": fin.ids["s2"]}))
    ok(fin.post("s2", f"/v1/notes/{notes['void_moved_back']}/transfer", {"to": fin.ids["s1"]}))
    fin.split("s1", notes["void_split"], [("s1", 600_000), ("s2", 400_000)])
    ok(fin.post("operator", f"/v1/notes/{notes['void_frozen']}/freeze", {"reason": "court order"}))
    ok(fin.post("operator", f"/v1/notes/{notes['void_unfrozen']}/freeze", {"reason": "court order"}))
    ok(fin.post("operator", f"/v1/notes/{notes['void_unfrozen']}/unfreeze"))
    ok(fin.post("s1", f"/v1/discount-offers/{offers['accepted']}/accept"))
    ok(fin.post("bank", f"/v1/discount-offers/{offers['cancelled']}/cancel"))
    fin.advance(3)
    return offers


CASES = {
    "open": "open",
    "expired": "expired",
    "void_moved": "void",
    "void_moved_back": "void",
    "void_split": "void",
    "void_frozen": "void",
    "void_unfrozen": "void",
    "accepted": "accepted",
    "cancelled": "cancelled",
}


def test_the_status_derived_in_sql_equals_the_python_derivation_in_every_case(fin: Fin) -> None:
    offers = _cases(fin)
    with fin.context.session() as session:
        now, _ = read_clock(fin.context, session)
        in_sql = {int(o.id): str(status) for o, status in session.execute(offers_with_status(now))}
        rows = list(session.scalars(select(DiscountOffer)))
        notes = {n.id: n for n in session.scalars(select(Note))}
        voided = voided_offers(session, rows)
        in_python = {o.id: offer_status(o, notes.get(o.note_id), now, moved=o.id in voided) for o in rows}
    assert in_sql == in_python
    assert {name: in_sql[int(offer_id)] for name, offer_id in offers.items()} == CASES


def test_the_list_filters_by_every_derived_status(fin: Fin) -> None:
    offers = _cases(fin)
    for status in ("open", "expired", "void", "accepted", "cancelled"):
        listed = fin.get("auditor", "/v1/discount-offers", status=status).json()["items"]
        expected = sorted((int(offers[name]) for name, want in CASES.items() if want == status))
        assert [int(o["id"]) for o in listed] == expected, status
        assert {o["status"] for o in listed} <= {status}


def _statements(fin: Fin) -> AbstractContextManager[list[str]]:
    return request_statements(fin.context.engine, fin.context.read_engine or fin.context.engine)


def test_expired_offers_page_one_at_a_time_in_a_fixed_number_of_statements(fin: Fin) -> None:
    """20 open offers first, then 3 that expire: each page of one expired offer is found by the
    database, not by reading the caller's whole history in Python."""
    note_id = fin.issue_to("s1", FACE, days=30)
    opened = [fin.offer(note_id, days=20, price=str(900_000 + i))["id"] for i in range(20)]
    expiring = [fin.offer(note_id, days=2, price=str(800_000 + i))["id"] for i in range(3)]
    fin.advance(3)
    assert fin.get("bank", "/v1/discount-offers", status="open").status_code == 200  # members cached
    pages: list[list[str]] = []
    counts: list[int] = []
    largest: list[str] = []
    cursor: str | None = None
    while True:
        params = {"status": "expired", "limit": "1", **({"cursor": cursor} if cursor else {})}
        with _statements(fin) as seen:
            answer = fin.get("bank", "/v1/discount-offers", **params)
        assert answer.status_code == 200, answer.text
        counts.append(len(seen))
        largest = max(largest, list(seen), key=len)
        pages.append([o["id"] for o in answer.json()["items"]])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == [[offer] for offer in expiring]
    assert max(counts) <= 6, (counts, largest)
    opened_pages = fin.get("bank", "/v1/discount-offers", status="open", limit=7).json()
    assert [o["id"] for o in opened_pages["items"]] == opened[:7] and opened_pages["next_cursor"] == opened[6]
