"""The gateway's own webhook dispatcher: started with the app, stopped at shutdown. Every gateway
process (each worker too) runs one when `CREDCHAIN_WEBHOOK_DISPATCHER` is on: on PostgreSQL they
share the work safely (one subscription at a time per dispatcher, `FOR UPDATE SKIP LOCKED`)."""

from __future__ import annotations

from service.api.context import AppContext
from service.db.session import make_engine
from service.webhooks.dispatcher import Dispatcher, DispatcherConfig, DispatcherThread
from service.webhooks.secrets import SecretBox


def start_dispatcher(context: AppContext) -> DispatcherThread | None:
    settings = context.settings
    if not settings.webhook_dispatcher:
        return None
    engine = context.engine
    if engine.dialect.name == "postgresql":  # connections of its own: a round holds one
        engine = make_engine(
            settings.database_url,
            schema=settings.database_schema,
            pool_size=settings.webhook_concurrency + 2,
            max_overflow=2,
        )
    dispatcher = Dispatcher(
        engine,
        SecretBox(settings.master_secret.get_secret_value()),
        DispatcherConfig.from_settings(settings),
        name="gateway",
    )
    thread = DispatcherThread(dispatcher, dispose=engine is not context.engine)
    thread.start()
    return thread
