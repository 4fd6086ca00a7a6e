"""The risk dashboard (financiers, auditors, the operator): exposure versus limit by obligor, the
maturity ladder by week, concentration by holder and overdue ageing, each a chart (ECharts, drawn by
`static/risk.js` from the figures embedded in the page), its table and its CSV below it. The figures
are the REST risk views' (`service.api.risk.service`), in the same scope (a financier: the obligors
it grants credit to or holds notes of)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.api.context import AppContext
from service.api.csv_export import model_csv_response
from service.api.problems import ProblemError
from service.api.risk import service
from service.api.risk.schemas import (
    ConcentrationOut,
    ConcentrationRow,
    ExposureOut,
    ExposureRow,
    LadderOut,
    LadderRow,
    OverdueRow,
)
from service.console.bank.routes import GRANT_CURRENCY
from service.console.i18n import Translator
from service.console.money import bps_percent, format_major
from service.console.web import ConsoleContext, User, console_router, render, secure, translator
from service.db.gateway_models import ApiMember

router = console_router("/risk")
AGEING: Final = ((1, 30), (31, 60), (61, 90), (91, None))
"""Overdue ageing buckets, in days past maturity plus grace (the last has no end)."""
EXPOSURE_COLORS: Final = ("#2e86de", "#c0392b", "#d5dbe3")
LADDER_COLORS: Final = (("#2e86de", "#c0392b"), ("#16a085", "#e67e22"), ("#8e44ad", "#a93226"))
"""A currency's due and overdue bars in the maturity ladder (overdue red, like the exposure chart's)."""
"""Outstanding (not overdue), overdue, headroom: as the graph's states, headroom a pale grey."""


@dataclass(frozen=True)
class AgeBucket:
    label: str
    currency: str
    notes: int
    amount: int


def ageing(rows: list[OverdueRow]) -> list[AgeBucket]:
    """Unpaid remainders of overdue notes by days overdue and currency (every bucket of each currency
    shown, empty ones too)."""
    totals: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        index = next(i for i, (low, high) in enumerate(AGEING) if high is None or row.days_overdue <= high)
        entry = totals[(row.currency, index)]
        entry[0] += 1
        entry[1] += int(row.remaining)
    currencies = sorted({row.currency for row in rows})
    return [
        AgeBucket(_bucket_label(i), currency, *totals.get((currency, i), [0, 0]))
        for currency in currencies
        for i in range(len(AGEING))
    ]


def _bucket_label(index: int) -> str:
    low, high = AGEING[index]
    return f"{low}-{high}" if high is not None else f"{low}+"


def _chart(
    categories: list[str],
    series: list[tuple[str, list[str]]],
    *,
    stacked: bool = False,
    unit: str = "",
    colors: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A bar chart's figures: values are decimal strings (amounts in major units, or percentages
    with `unit` "%"), exact; the chart library plots them, the tables beside show them."""
    return {
        "categories": categories,
        "series": [{"name": name, "values": values} for name, values in series],
        "stacked": stacked,
        "unit": unit,
        "colors": list(colors),
    }


def _share(part: int, whole: int) -> str:
    """`part` of `whole` as an exact percentage with two decimals, rounded down ("0.00" if no whole)."""
    return bps_percent(max(0, part) * service.BASIS_POINTS // whole) if whole > 0 else "0.00"


def _exposure_chart(t: Translator, view: ExposureOut) -> dict[str, Any]:
    """Each obligor's credit limit as 100 %: what is outstanding against it (overdue apart) and the
    headroom, stacked (a limit dwarfs the amounts drawn on it when plotted as amounts)."""
    rows = view.items
    limits = [int(r.credit_limit) for r in rows]
    overdue = [min(int(r.overdue_amount), int(r.outstanding)) for r in rows]
    current = [int(r.outstanding) - late for r, late in zip(rows, overdue, strict=True)]
    return _chart(
        [r.obligor_name or r.obligor for r in rows],
        [
            (t("risk_outstanding_current"), [_share(c, w) for c, w in zip(current, limits, strict=True)]),
            (t("risk_overdue_amount"), [_share(o, w) for o, w in zip(overdue, limits, strict=True)]),
            (t("risk_headroom"), [_share(int(r.headroom), w) for r, w in zip(rows, limits, strict=True)]),
        ],
        stacked=True,
        unit="%",
        colors=EXPOSURE_COLORS,
    )


def _ladder_chart(t: Translator, view: LadderOut) -> dict[str, Any]:
    weeks = sorted({r.week for r in view.items})
    series: list[tuple[str, list[str]]] = []
    currencies = sorted({r.currency for r in view.items})
    for currency in currencies:
        due = {r.week: r for r in view.items if r.currency == currency}
        series.append(
            (
                f"{currency} · {t('risk_due')}",
                [
                    format_major(int(due[w].amount) - int(due[w].overdue_amount), currency)
                    if w in due
                    else "0"
                    for w in weeks
                ],
            )
        )
        series.append(
            (
                f"{currency} · {t('risk_overdue_amount')}",
                [format_major(due[w].overdue_amount, currency) if w in due else "0" for w in weeks],
            )
        )
    colors = tuple(color for i in range(len(currencies)) for color in LADDER_COLORS[i % len(LADDER_COLORS)])
    return _chart(weeks, series, stacked=True, colors=colors)


def _concentration_chart(t: Translator, view: ConcentrationOut) -> dict[str, Any]:
    rows = view.items
    return _chart(
        [f"{r.holder_name or r.holder} ({r.currency})" for r in rows],
        [(t("risk_share"), [bps_percent(r.share_bps) for r in rows])],
        unit="%",
    )


def _ageing_chart(t: Translator, buckets: list[AgeBucket]) -> dict[str, Any]:
    labels = [_bucket_label(i) for i in range(len(AGEING))]
    series = [
        (
            f"{currency} · {t('risk_remaining')}",
            [format_major(b.amount, b.currency) for b in buckets if b.currency == currency],
        )
        for currency in sorted({b.currency for b in buckets})
    ]
    return _chart(labels, series)


@router.get("")
def dashboard(request: Request, context: ConsoleContext, user: User) -> Response:
    t = translator(request)
    exposure = service.exposure(context, user.member)
    ladder = service.maturity_ladder(context, user.member)
    concentration = service.concentration(context, user.member)
    overdue = service.overdue(context, user.member)
    buckets = ageing(overdue.items)
    return render(
        request,
        "risk/dashboard.html",
        user,
        exposure=exposure,
        ladder=ladder,
        concentration=concentration,
        overdue=overdue,
        buckets=buckets,
        limit_currency=GRANT_CURRENCY,
        share_percent=bps_percent,
        charts={
            "exposure": _exposure_chart(t, exposure),
            "ladder": _ladder_chart(t, ladder),
            "concentration": _concentration_chart(t, concentration),
            "ageing": _ageing_chart(t, buckets),
        },
    )


CSV_VIEWS: Final[dict[str, tuple[type[BaseModel], Callable[[AppContext, ApiMember], Any]]]] = {
    "exposure": (ExposureRow, service.exposure),
    "maturity-ladder": (LadderRow, service.maturity_ladder),
    "concentration": (ConcentrationRow, service.concentration),
    "overdue": (OverdueRow, service.overdue),
}
"""The CSV downloads below the charts: the REST view's rows and columns (`?format=csv` there)."""


@router.get("/{view}.csv")
def download(view: str, context: ConsoleContext, user: User) -> Response:
    if view not in CSV_VIEWS:
        raise ProblemError(404, "not-found", "Not found", f"no risk view {view}")
    model, compute = CSV_VIEWS[view]
    response = model_csv_response(model, compute(context, user.member).items, view)
    secure(response)
    return response
