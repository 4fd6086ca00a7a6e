"""The console's pages by role: the header's navigation and the start page's list. An area adds its
pages here (`NavItem`: path, message key of its label, roles that see it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service.domain import AUDITOR, CORE_ENTERPRISE, FINANCIER, OPERATOR, SUPPLIER


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    """Message key of the link's text (and the start page's description: `<label>_about`)."""
    roles: frozenset[str]


NAV: tuple[NavItem, ...] = (
    NavItem(
        "/console/notes", "nav_notes", frozenset({SUPPLIER, CORE_ENTERPRISE, FINANCIER, AUDITOR, OPERATOR})
    ),
    NavItem("/console/offers", "nav_offers", frozenset({SUPPLIER, FINANCIER})),
    NavItem("/console/payments", "nav_payments", frozenset({SUPPLIER, FINANCIER})),
    NavItem("/console/evidence", "nav_evidence", frozenset({SUPPLIER})),
    NavItem("/console/issue", "nav_issue", frozenset({CORE_ENTERPRISE})),
    NavItem("/console/calendar", "nav_calendar", frozenset({CORE_ENTERPRISE})),
    NavItem("/console/holdings", "nav_holdings", frozenset({FINANCIER})),
    NavItem("/console/credit-limits", "nav_credit_limits", frozenset({FINANCIER})),
    NavItem("/console/members", "nav_members", frozenset({OPERATOR})),
    NavItem("/console/search", "nav_search", frozenset({AUDITOR, OPERATOR})),
    NavItem(
        "/console/provenance",
        "nav_provenance",
        frozenset({SUPPLIER, CORE_ENTERPRISE, FINANCIER, AUDITOR, OPERATOR}),
    ),
    NavItem("/console/risk", "nav_risk", frozenset({FINANCIER, AUDITOR, OPERATOR})),
    NavItem(
        "/console/alerts", "nav_alerts", frozenset({SUPPLIER, CORE_ENTERPRISE, FINANCIER, AUDITOR, OPERATOR})
    ),
    NavItem(
        "/console/subscriptions",
        "nav_subscriptions",
        frozenset({SUPPLIER, CORE_ENTERPRISE, FINANCIER, AUDITOR, OPERATOR}),
    ),
)
"""Extension point: B's provenance graph, risk dashboard, alerts and webhook pages add theirs."""


def pages_for(roles: Iterable[str]) -> list[NavItem]:
    held = set(roles)
    return [item for item in NAV if item.roles & held]
