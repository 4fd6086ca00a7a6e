"""Mounting the console on the gateway: its routers under `/console` and its static files (the
vendored front-end libraries among them) at `/console/static`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.console.auth import routes as auth
from service.console.auth.routes import DemoMember
from service.console.bank import routes as bank
from service.console.home import routes as home
from service.console.notes import routes as notes
from service.console.offers import routes as offers
from service.console.operator import routes as operator
from service.console.search import routes as search
from service.console.settlement import routes as settlement
from service.console.supplier import routes as supplier

# console part B: provenance graph, risk dashboard, alerts inbox, webhook subscriptions
from service.console.alerts import routes as alerts  # isort: skip
from service.console.provenance import routes as provenance  # isort: skip
from service.console.risk import routes as risk  # isort: skip
from service.console.subscriptions import routes as subscriptions  # isort: skip

STATIC = Path(__file__).parent / "static"
AREAS = (
    auth,
    home,
    notes,
    offers,
    settlement,
    bank,
    operator,
    search,
    supplier,
    provenance,
    risk,
    alerts,
    subscriptions,
)
"""Every console area's routes module (extension point: a new area is added here)."""


def mount_console(app: FastAPI, demo: Sequence[DemoMember] = ()) -> None:
    """The console on `app`; `demo`: the embedded demo's members, offered on the sign-in page."""
    app.state.console_demo = list(demo)
    for area in AREAS:
        app.include_router(area.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
