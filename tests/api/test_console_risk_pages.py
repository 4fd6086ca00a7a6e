"""The risk dashboard over TestClient: the four views' tables and chart figures from the REST risk
views, their CSV downloads (the REST view's columns), and who may open it."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from service.api.risk.schemas import OverdueRow
from service.console.money import bps_percent as share_percent
from service.console.risk.routes import ageing
from tests.api.conftest import Gateway
from tests.console.helpers import sign_in


def chart(html: str, name: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="chart-{name}-data">(.*?)</script>', html, re.S)
    assert found is not None, f"no figures for the {name} chart"
    figures: dict[str, Any] = json.loads(found.group(1))
    return figures


def test_the_dashboard_has_four_charts_each_with_its_table_and_csv_link(gw: Gateway) -> None:
    gw.active("s1", "1000000")
    sign_in(gw.client, gw.keys["bank"])
    page = gw.client.get("/console/risk")
    assert page.status_code == 200
    for name in ("exposure", "ladder", "concentration", "ageing"):
        assert f'data-chart="{name}"' in page.text
    for view in ("exposure", "maturity-ladder", "concentration", "overdue"):
        assert f'href="/console/risk/{view}.csv"' in page.text
    assert page.text.count("<table>") == 5


def test_the_exposure_chart_stacks_outstanding_and_headroom_as_shares_of_the_limit(gw: Gateway) -> None:
    gw.active("s1", "1000000")
    sign_in(gw.client, gw.keys["bank"])
    api = gw.get("bank", "/v1/risk/exposure").json()["items"]
    [core] = [r for r in api if r["obligor"] == gw.addresses["core"]]
    figures = chart(gw.client.get("/console/risk").text, "exposure")
    series = {s["name"]: s["values"] for s in figures["series"]}
    index = figures["categories"].index(core["obligor_name"])
    limit = int(core["credit_limit"])
    assert series["Outstanding, not overdue"][index] == share_percent(
        int(core["outstanding"]) * 10_000 // limit
    )
    assert series["Headroom"][index] == share_percent(int(core["headroom"]) * 10_000 // limit)
    assert series["Overdue"][index] == "0.00" and figures["stacked"] is True and figures["unit"] == "%"


def test_the_exposure_table_shows_the_outstanding_amount_with_its_currency(gw: Gateway) -> None:
    gw.active("s1", "1234567")
    sign_in(gw.client, gw.keys["auditor"])
    assert "USD 12,345.67" in gw.client.get("/console/risk").text


def test_a_csv_download_is_the_rest_views_csv(gw: Gateway) -> None:
    gw.active("s1", "1000000")
    sign_in(gw.client, gw.keys["auditor"])
    mine = gw.client.get("/console/risk/concentration.csv")
    rest = gw.client.get("/v1/risk/concentration", params={"format": "csv"}, headers=gw.auth("auditor"))
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(mine.text))) == list(csv.reader(io.StringIO(rest.text)))


def test_an_unknown_csv_view_is_the_404_page(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["auditor"])
    assert gw.client.get("/console/risk/secrets.csv").status_code == 404


def test_a_supplier_is_refused_the_dashboard(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    page = gw.client.get("/console/risk")
    assert page.status_code == 403 and 'data-testid="error-status"' in page.text
    assert gw.client.get("/console/risk/exposure.csv").status_code == 403


def test_overdue_ageing_buckets_remainders_by_days_overdue() -> None:
    def row(days: int, remaining: int) -> OverdueRow:
        return OverdueRow.model_construct(days_overdue=days, remaining=str(remaining), currency="USD")

    buckets = ageing([row(3, 100), row(30, 5), row(31, 7), row(200, 11)])
    assert [(b.label, b.notes, b.amount) for b in buckets] == [
        ("1-30", 2, 105),
        ("31-60", 1, 7),
        ("61-90", 0, 0),
        ("91+", 1, 11),
    ]


def test_a_share_in_basis_points_is_shown_as_an_exact_percentage() -> None:
    assert [share_percent(10_000), share_percent(1234), share_percent(5)] == ["100.00", "12.34", "0.05"]
