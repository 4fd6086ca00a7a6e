"""Answers people can read: member names next to ids, amounts also in major units with the
currency, provenance event arguments decoded (currency code, ISO 8601 times)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.api.financing import Fin, FinTemplate, fin_fixture, fin_template_fixture  # noqa: F401


def _events(fin: Fin, note_id: str, name: str) -> list[dict[str, Any]]:
    trace = fin.get("auditor", f"/v1/notes/{note_id}/provenance")
    assert trace.status_code == 200, trace.text
    return [e for node in trace.json()["tree"] for e in node["events"] if e["name"] == name]


def test_a_note_answer_carries_the_display_amount_and_member_names(fin: Fin) -> None:
    note = fin.note(fin.issue_to("s1", 100_000_000))
    assert note["amount"] == "100000000" and note["amount_display"] == "USD 1,000,000.00"
    assert (note["holder_name"], note["obligor_name"]) == ("s1", "core")
    assert (note["holder_member"], note["obligor_member"]) == (fin.ids["s1"], fin.ids["core"])


def test_a_note_answer_shows_paid_and_remaining_in_major_units(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000, days=1)
    fin.advance(2)
    paid = fin.post("core", f"/v1/notes/{note_id}/settle", {"amount": "250000"})
    assert paid.status_code == 200, paid.text
    note = fin.note(note_id)
    assert (note["paid_amount_display"], note["remaining_display"]) == ("USD 2,500.00", "USD 7,500.00")


def test_the_provenance_summary_shows_totals_in_major_units(fin: Fin) -> None:
    root = fin.issue_to("s1", 1_000_000)
    fin.split("s1", root, [("s1", 600_000), ("s2", 400_000)])
    summary = fin.get("auditor", f"/v1/notes/{root}/provenance").json()["summary"]
    by_status = {s["status"]: s for s in summary["by_status"]}
    assert by_status["active"]["amount_display"] == "USD 10,000.00"
    assert by_status["split"]["paid_amount_display"] == "USD 0.00"


def test_provenance_events_carry_the_currency_code_and_iso_times(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000)
    [issued] = _events(fin, note_id, "NoteIssued")
    assert issued["args"]["currency"] == "USD"
    maturity = datetime.fromisoformat(issued["args"]["maturity"])
    assert maturity.utcoffset() == timedelta(0)
    assert maturity == datetime.fromisoformat(fin.note(note_id)["maturity"])


def test_provenance_nodes_and_holder_path_carry_names_and_display_amounts(fin: Fin) -> None:
    root = fin.issue_to("s1", 1_000_000)
    _, passed = fin.split("s1", root, [("s1", 600_000), ("s2", 400_000)])
    trace = fin.get("auditor", f"/v1/notes/{passed}/provenance").json()
    node = next(n for n in trace["tree"] if n["id"] == passed)
    assert (node["holder_name"], node["amount_display"]) == ("s2", "USD 4,000.00")
    last = trace["holder_path"][-1]
    assert (last["holder_name"], last["previous_holder_name"], last["amount_display"]) == (
        "s2",
        "s1",
        "USD 4,000.00",
    )


def test_provenance_offer_events_carry_an_iso_deadline(fin: Fin) -> None:
    note_id = fin.issue_to("s1", 1_000_000)
    offer = fin.offer(note_id, price="990000")
    [offered] = _events(fin, note_id, "DiscountOffered")
    assert datetime.fromisoformat(offered["args"]["deadline"]) == datetime.fromisoformat(offer["deadline"])


def test_an_offer_carries_member_names_and_display_amounts(fin: Fin) -> None:
    offer = fin.offer(fin.issue_to("s1", 1_000_000), price="990000")
    assert (offer["financier_name"], offer["holder_name"]) == ("bank", "s1")
    assert (offer["face_display"], offer["price_display"], offer["discount_display"]) == (
        "USD 10,000.00",
        "USD 9,900.00",
        "USD 100.00",
    )
    listed = fin.get("s1", "/v1/discount-offers").json()["items"]
    assert [(o["id"], o["financier_name"], o["price_display"]) for o in listed] == [
        (offer["id"], "bank", "USD 9,900.00")
    ]
