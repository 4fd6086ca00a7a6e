"""`credchain deliver`: a webhook dispatcher of its own, next to the gateway (or several, against
one PostgreSQL: each subscription is served by one dispatcher at a time).

    credchain deliver --database-url postgresql+psycopg://... [--database-schema S]

Settings come from the CREDCHAIN_* environment like the gateway's: CREDCHAIN_MASTER_SECRET (it must
be the gateway's: the subscriptions' signing secrets are encrypted with it) and the
CREDCHAIN_WEBHOOK_* settings (timeouts, retries, concurrency). SIGTERM or SIGINT stops it: rounds in
flight finish their request and commit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from service.db.session import make_engine
from service.logging_setup import LOG_FORMATS, configure_logging
from service.settings import Settings
from service.webhooks.dispatcher import Dispatcher, DispatcherConfig, run_loop
from service.webhooks.secrets import SecretBox

log = logging.getLogger("credchain.webhooks")


async def _run(dispatcher: Dispatcher) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, dispatcher.request_stop)
    await dispatcher.run()


def deliver(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="CREDCHAIN_DATABASE_URL", help="SQLAlchemy database URL"),
    ] = None,
    database_schema: Annotated[
        str | None,
        typer.Option("--database-schema", envvar="CREDCHAIN_DATABASE_SCHEMA", help="PostgreSQL schema"),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="subscriptions served at once (CREDCHAIN_WEBHOOK_CONCURRENCY)"
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="this dispatcher's name in the logs")] = "deliver",
    log_level: Annotated[str, typer.Option("--log-level", envvar="CREDCHAIN_LOG_LEVEL")] = "INFO",
    log_format: Annotated[
        str, typer.Option("--log-format", envvar="CREDCHAIN_LOG_FORMAT", help="json, text or auto")
    ] = "auto",
) -> None:
    """Deliver webhooks until stopped (SIGTERM/SIGINT)."""
    if log_format not in LOG_FORMATS:
        raise typer.BadParameter(", ".join(LOG_FORMATS), param_hint="--log-format")
    configure_logging(log_level, log_format)
    overrides: dict[str, object] = {}
    if database_url is not None:
        overrides["database_url"] = database_url
    if database_schema is not None:
        overrides["database_schema"] = database_schema
    if concurrency is not None:
        overrides["webhook_concurrency"] = concurrency
    settings = Settings(**overrides)  # type: ignore[arg-type]
    engine = make_engine(
        settings.database_url,
        schema=settings.database_schema,
        **(
            {"pool_size": settings.webhook_concurrency + 2}
            if settings.database_url.startswith("postgresql")
            else {}
        ),
    )
    try:
        try:
            tables = set(inspect(engine).get_table_names(schema=settings.database_schema))
        except OperationalError as exc:
            typer.echo(f"database unavailable: {exc.orig}", err=True)
            raise typer.Exit(code=2) from exc
        if "webhook_subscriptions" not in tables:
            typer.echo(
                "the database has no webhook tables: bring its schema up to date (`credchain init` "
                "or `alembic upgrade head`) first",
                err=True,
            )
            raise typer.Exit(code=2)
        dispatcher = Dispatcher(
            engine,
            SecretBox(settings.master_secret.get_secret_value()),
            DispatcherConfig.from_settings(settings),
            name=name,
        )
        run_loop(_run(dispatcher))
    finally:
        engine.dispose()
