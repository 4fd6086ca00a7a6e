"""The FastAPI application: `create_app(context)`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from service.alerts.scheduler import AlertScheduler
from service.api.alerts import routes as alerts_routes
from service.api.api_docs import install_docs
from service.api.context import AppContext, build_context
from service.api.deferred_write import document_write_routes
from service.api.deps import idempotent_write
from service.api.edge import BodyLimits, ErrorBarrier, RateLimits, restore_recursion_limit
from service.api.events import routes as events
from service.api.events.hub import EventHub
from service.api.evidence import routes as evidence
from service.api.financing import (
    credit_limits,
    credit_relationships,
    discounts,
    quotes,
    settlement,
    settlement_job_routes,
)
from service.api.financing.settlement_jobs import SettlementJobRunner
from service.api.funding import routes as funding
from service.api.ledger_settings import routes as ledger_settings
from service.api.members import routes as members
from service.api.notes import reads as note_reads
from service.api.notes import routes as notes
from service.api.observe import RequestObserver
from service.api.ops import dev
from service.api.ops import routes as ops
from service.api.problems import install_handlers
from service.api.query_params import reject_unknown_query_parameters
from service.api.receivables import policy_routes as receivable_policy
from service.api.receivables import routes as receivables
from service.api.relay import routes as relay
from service.api.risk import routes as risk
from service.api.subscriptions import routes as subscriptions
from service.api.tokens import routes as settlement_tokens
from service.api.transactions import routes as transactions
from service.console.app import mount_console
from service.console.auth.routes import DemoMember
from service.logging_setup import configure_logging
from service.settings import Settings
from service.webhooks.embedded import start_dispatcher


def create_app(
    context: AppContext,
    *,
    manage_indexer: bool = True,
    close_context: bool = False,
    console_demo: Sequence[DemoMember] = (),
) -> FastAPI:
    """The gateway over `context`, with the web console under `/console`. With `manage_indexer`,
    the background index follower (non-embedded mode) starts and stops with the app; with
    `close_context`, the context is closed when the app shuts down; `console_demo`: the embedded
    demo's members, which the console's sign-in page lets one pick."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_indexer:
            context.start()
        # every gateway process (workers too) runs settlement jobs: its own at once, and any left
        # unfinished by a process that stopped, one process per job
        jobs = context.settlement_jobs = SettlementJobRunner(context)
        jobs.start()
        hub = app.state.events = EventHub(
            context.engine,
            streams=context.settings.event_streams,
            streams_per_member=context.settings.event_streams_per_member,
        )
        hub.start(context.index.on_applied)
        alerts = AlertScheduler(context)
        if context.settings.alert_interval_seconds > 0:
            alerts.start()
        webhooks = start_dispatcher(context)
        try:
            yield
        finally:
            if webhooks is not None:
                webhooks.stop()
            alerts.stop()
            hub.close()
            jobs.stop()
            context.settlement_jobs = None
            if manage_indexer:
                context.stop()
            if close_context:
                context.close()

    app = FastAPI(
        title="credchain gateway",
        version="1",
        description="Splittable credit notes on a permissioned ledger. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc with assets served here, not from a CDN (install_docs)
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query_parameters)],  # every route: unknown parameters are a 422
        # no OpenTelemetry here (Prometheus /metrics and the JSON access log instead): switched off,
        # FastAPI does not look the OTEL_* providers up in the environment on every request
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.context = context
    install_handlers(app)
    install_docs(app)
    settings = context.settings
    # outermost last: the observer (request id, access log), the error barrier, rate limits, body limits
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    app.add_middleware(RateLimits, limiter=context.rate_limiter)
    app.add_middleware(ErrorBarrier)
    app.add_middleware(RequestObserver, metrics=context.metrics)
    for module in (
        members,
        credit_limits,
        credit_relationships,
        notes,
        note_reads,
        discounts,
        settlement,
        settlement_job_routes,
        settlement_tokens,
        ledger_settings,
        funding,
        relay,
        quotes,
        risk,
        transactions,
        events,
        alerts_routes,
        subscriptions,
        receivable_policy,
        receivables,
        evidence,
        ops,
    ):
        document_write_routes(module.router, idempotent_write)  # the 202 of `Prefer: respond-async`
        app.include_router(module.router)
    if context.chain.kind == "in-process":
        app.include_router(dev.router)  # /v1/dev/clock: not mounted on a node
    mount_console(app, console_demo)
    return app


def worker_app() -> FastAPI:
    """The app of one of several uvicorn worker processes (`credchain run --workers N`, through
    `service.worker`): a context of its own from the `CREDCHAIN_*` environment, with a candidate for
    the index follower role (every worker runs one; the holder of the `follower` lock follows the
    chain head)."""
    restore_recursion_limit()  # eth-account's py_ecc raised it to 100,000 when this module was imported
    settings = Settings()
    configure_logging(
        os.environ.get("CREDCHAIN_LOG_LEVEL", "INFO"), os.environ.get("CREDCHAIN_LOG_FORMAT", "json")
    )
    return create_app(build_context(settings), close_context=True)
