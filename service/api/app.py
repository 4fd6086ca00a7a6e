"""The FastAPI application: `create_app(context)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.context import AppContext
from service.api.observe import RequestObserver
from service.api.problems import install_handlers
from service.api.routes import credit_limits, health, members, metrics, notes


def create_app(context: AppContext, *, manage_indexer: bool = True) -> FastAPI:
    """The gateway over `context`. With `manage_indexer`, a background indexer (non-embedded mode)
    starts and stops with the app."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_indexer:
            context.start()
        try:
            yield
        finally:
            if manage_indexer:
                context.indexer.stop()

    app = FastAPI(
        title="credchain gateway",
        version="1",
        description="Splittable credit notes on a permissioned ledger. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
    )
    app.state.context = context
    install_handlers(app)
    app.add_middleware(RequestObserver, metrics=context.metrics)
    for module in (members, credit_limits, notes, health, metrics):
        app.include_router(module.router)
    return app
