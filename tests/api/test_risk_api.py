"""Risk views (exposure, maturity ladder, concentration, overdue) checked against figures worked by
hand on one scenario, for each kind of caller; CSV exports parsed back.

The scenario (built once for the module; USD amounts in minor units; grace period 5 days):

* A: core -> s1, 1,000,000, due in 10 days; s1 keeps A1 = 600,000 and passes A2 = 400,000 to s2.
* B: core -> s2, 500,000, due in 60 days; the bank buys it (discount at 495,000).
* 16 days later (A is overdue: 16 >= 10 + 5): core pays 100,000 of A2 (300,000 remain);
  C: core -> s3, 200,000, due in 90 days, left pending; D: core2 -> s3, 300,000, due in 30 days.

Live remainders: A1 600,000 (s1), A2 300,000 (s2), B 500,000 (bank), C 200,000 (s3), D 300,000
(s3). core: outstanding 1,000,000 + 500,000 + 200,000 - 100,000 = 1,600,000 in 4 live notes, of
which A1 + A2 = 900,000 overdue; core2: 300,000 in 1 note. Concentration (USD total 1,900,000):
s1 600,000 = 3157 bp (3157.89), bank and s3 500,000 = 2631 bp (2631.57), s2 300,000 = 1578 bp.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.financing import LIMIT, Fin, FinTemplate, fin_template_fixture, gateway_on, problem  # noqa: F401

RISK_VIEWS = ("exposure", "maturity-ladder", "concentration", "overdue")


@dataclass
class World:
    fin: Fin
    notes: dict[str, str]


@pytest.fixture(scope="module")
def world(fin_template: FinTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with gateway_on(fin_template, tmp_path_factory.mktemp("risk")) as fin:
        a = fin.issue_to("s1", 1_000_000, days=10)
        a1, a2 = fin.split("s1", a, [("s1", 600_000), ("s2", 400_000)])
        b = fin.issue_to("s2", 500_000, days=60)
        offer = fin.offer(b, price=495_000, days=5)
        assert fin.post("s2", f"/v1/discount-offers/{offer['id']}/accept").status_code == 200
        fin.advance(16)
        paid = fin.post("core", f"/v1/notes/{a2}/settle", {"amount": "100000"})
        assert paid.status_code == 200, paid.text
        c = fin.issue("s3", "200000")
        d = fin.issue_to("s3", 300_000, days=30, by="core2")
        yield World(fin, {"A": a, "A1": a1, "A2": a2, "B": b, "C": c, "D": d})


def _view(world: World, who: str, name: str, **params: Any) -> dict[str, Any]:
    answer = world.fin.get(who, f"/v1/risk/{name}", **params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = answer.json()
    return body


def _week(world: World, note: str) -> str:
    maturity = datetime.fromisoformat(world.fin.note(world.notes[note])["maturity"]).astimezone(UTC)
    year, week, _ = maturity.date().isocalendar()
    return f"{year}-W{week:02d}"


def test_exposure_by_obligor_for_the_auditor(world: World) -> None:
    fin = world.fin
    body = _view(world, "auditor", "exposure")
    assert body["scope"] == "all" and body["grace_period_seconds"] == 5 * 86_400
    rows = {row["obligor_member"]: row for row in body["items"]}
    assert set(rows) == {fin.ids["core"], fin.ids["core2"]}
    assert rows[fin.ids["core"]] == {
        "obligor": fin.addresses["core"],
        "obligor_member": fin.ids["core"],
        "credit_limit": str(LIMIT),
        "grant": None,
        "outstanding": "1600000",
        "headroom": str(LIMIT - 1_600_000),
        "live_notes": 4,
        "live_amount": "1600000",
        "overdue_notes": 2,
        "overdue_amount": "900000",
        "obligor_name": "core",
    }
    core2 = rows[fin.ids["core2"]]
    assert (core2["outstanding"], core2["live_notes"], core2["live_amount"]) == ("300000", 1, "300000")
    assert (core2["overdue_notes"], core2["overdue_amount"]) == (0, "0")


def test_a_financier_sees_the_exposure_of_the_obligors_it_grants_credit_to(world: World) -> None:
    fin = world.fin
    for financier, obligor in (("bank", "core"), ("bank2", "core2")):
        body = _view(world, financier, "exposure")
        assert body["scope"] == "granted"
        assert [row["obligor_member"] for row in body["items"]] == [fin.ids[obligor]]
        assert body["items"][0]["grant"] == str(LIMIT)


def test_the_maturity_ladder_buckets_remainders_by_iso_week(world: World) -> None:
    body = _view(world, "auditor", "maturity-ladder")
    expected = sorted(
        [
            (_week(world, "A1"), 2, "900000", "900000"),
            (_week(world, "B"), 1, "500000", "0"),
            (_week(world, "C"), 1, "200000", "0"),
            (_week(world, "D"), 1, "300000", "0"),
        ]
    )
    got = [(r["week"], r["notes"], r["amount"], r["overdue_amount"]) for r in body["items"]]
    assert got == expected
    assert all(r["currency"] == "USD" for r in body["items"])
    first = body["items"][0]
    assert datetime.fromisoformat(first["week_start"]).isoweekday() == 1


def test_the_maturity_ladder_of_a_financier_leaves_other_obligors_out(world: World) -> None:
    body = _view(world, "bank2", "maturity-ladder")
    assert [(r["week"], r["amount"]) for r in body["items"]] == [(_week(world, "D"), "300000")]


def test_concentration_by_holder_with_shares_in_basis_points(world: World) -> None:
    fin = world.fin
    body = _view(world, "auditor", "concentration")
    ties = sorted([fin.addresses["bank"], fin.addresses["s3"]])
    expected = [
        (fin.addresses["s1"], 1, "600000", 3157),
        *[(address, 1 if address == fin.addresses["bank"] else 2, "500000", 2631) for address in ties],
        (fin.addresses["s2"], 1, "300000", 1578),
    ]
    assert [(r["holder"], r["notes"], r["amount"], r["share_bps"]) for r in body["items"]] == expected


def test_the_overdue_list_names_every_unpaid_note_past_its_grace_period(world: World) -> None:
    fin = world.fin
    body = _view(world, "auditor", "overdue")
    rows = {row["note_id"]: row for row in body["items"]}
    assert set(rows) == {world.notes["A1"], world.notes["A2"]}
    a2 = rows[world.notes["A2"]]
    assert (a2["amount"], a2["paid_amount"], a2["remaining"]) == ("400000", "100000", "300000")
    assert a2["holder_member"] == fin.ids["s2"] and a2["obligor_member"] == fin.ids["core"]
    assert a2["marked"] is False and a2["days_overdue"] == 1
    maturity = datetime.fromisoformat(a2["maturity"])
    assert (datetime.fromisoformat(a2["overdue_since"]) - maturity).days == 5
    assert _view(world, "bank2", "overdue")["items"] == []


@pytest.mark.parametrize("view", RISK_VIEWS)
def test_each_view_exports_csv_that_reads_back_as_the_json(world: World, view: str) -> None:
    as_json = _view(world, "auditor", view)["items"]
    answer = world.fin.get("auditor", f"/v1/risk/{view}", format="csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert f'filename="{view}.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == len(as_json) > 0
    for row, item in zip(rows, as_json, strict=True):
        assert set(row) == set(item)
        for key, value in item.items():
            if value is None:
                assert row[key] == ""
            elif isinstance(value, bool):
                assert row[key] == str(value).lower()
            elif key in ("maturity", "overdue_since"):
                assert datetime.fromisoformat(row[key]) == datetime.fromisoformat(value)
            else:
                assert row[key] == str(value), key


def test_csv_is_also_chosen_by_the_accept_header(world: World) -> None:
    answer = world.fin.client.get(
        "/v1/risk/exposure", headers={**world.fin.auth("auditor"), "Accept": "text/csv"}
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    header = next(csv.reader(io.StringIO(answer.text)))
    assert header[:3] == ["obligor", "obligor_member", "credit_limit"]


@pytest.mark.parametrize("view", RISK_VIEWS)
@pytest.mark.parametrize("who", ["core", "s1"])
def test_risk_views_are_refused_to_obligors_and_suppliers(world: World, view: str, who: str) -> None:
    problem(world.fin.get(who, f"/v1/risk/{view}"), 403, "forbidden")


def test_an_unknown_format_is_refused(world: World) -> None:
    problem(world.fin.get("auditor", "/v1/risk/exposure", format="xml"), 422, "invalid-request")


def test_overdue_rows_carry_member_names_and_display_amounts(world: World) -> None:
    rows = {row["note_id"]: row for row in _view(world, "auditor", "overdue")["items"]}
    a2 = rows[world.notes["A2"]]
    assert (a2["holder_name"], a2["obligor_name"]) == ("s2", "core")
    assert (a2["amount_display"], a2["remaining_display"]) == ("USD 4,000.00", "USD 3,000.00")


def test_concentration_rows_carry_the_holders_name_and_display_amount(world: World) -> None:
    first = _view(world, "auditor", "concentration")["items"][0]
    assert (first["holder_name"], first["amount_display"]) == ("s1", "USD 6,000.00")


def test_maturity_ladder_rows_carry_display_amounts(world: World) -> None:
    first = _view(world, "auditor", "maturity-ladder")["items"][0]
    assert (first["amount_display"], first["overdue_amount_display"]) == ("USD 9,000.00", "USD 9,000.00")
