"""An alert's figures as people read them: amounts (strings of minor units in the figures) in major
units with the currency, basis points as exact percentages, times as dates, each under a readable
label where the console has one (`figure_<name>`), else its name."""

from __future__ import annotations

from typing import Any, Final

from service.api.schemas import to_datetime
from service.console.i18n import Translator
from service.console.money import bps_percent, format_amount

AMOUNTS: Final = frozenset(
    {
        "allowance",
        "available",
        "balance",
        "credit_limit",
        "due",
        "held",
        "holdings",
        "indirect_exposure",
        "live_amount",
        "obligor_live",
        "outstanding",
        "shortfall",
        "threshold",
        "unpaid",
    }
)
"""Figures that are amounts (see `service.alerts.rules`: strings of minor units)."""
TIMES: Final = frozenset({"issued_at", "maturity"})
"""Figures that are times (unix seconds)."""
LIMIT_CURRENCY: Final = "USD"
"""The currency of figures without one: credit limits and what is counted against them."""


def percent(bps: int) -> str:
    """Basis points as an exact percentage (1234 -> "12.34 %")."""
    return f"{bps_percent(bps)} %"


def readable(t: Translator, figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of each figure, in the figures' order."""
    currency = str(figures.get("currency") or LIMIT_CURRENCY)
    rows: list[tuple[str, str]] = []
    for name, value in figures.items():
        key = f"figure_{name}"
        label = t(key) if key in t.catalogue else name
        if name in AMOUNTS and isinstance(value, str | int) and str(value).lstrip("-").isdigit():
            shown = format_amount(int(value), currency)
        elif name.endswith("_bps") and isinstance(value, int):
            shown = percent(value)
        elif name in TIMES and isinstance(value, int):
            shown = to_datetime(value).strftime("%Y-%m-%d")
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        else:
            shown = str(value)
        rows.append((label, shown))
    return rows
