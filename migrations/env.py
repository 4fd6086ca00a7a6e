"""Alembic environment of credchain.

Where the database is: `-x url=...`, else `config.attributes["url"]` (set by
`service.db.migrate.upgrade`), else CREDCHAIN_DATABASE_URL, else `sqlalchemy.url` of alembic.ini.
The PostgreSQL schema (optional): `-x schema=...`, else `config.attributes["schema"]`, else
CREDCHAIN_DATABASE_SCHEMA. The schema is created if missing, put first on the search path, and holds
the alembic version table, so each test (or tenant) can migrate its own schema.
"""

from __future__ import annotations

import logging.config
import os
from typing import Any

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

from service.db.models import Base
from service.db.session import make_engine

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _setting(x_name: str, env_name: str, ini_name: str | None = None) -> str | None:
    x_args = context.get_x_argument(as_dictionary=True)
    value: Any = x_args.get(x_name) or config.attributes.get(x_name) or os.environ.get(env_name)
    if not value and ini_name is not None:
        value = config.get_main_option(ini_name)
    return str(value) if value else None


def _url() -> str:
    url = _setting("url", "CREDCHAIN_DATABASE_URL", "sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database URL: pass -x url=..., or set CREDCHAIN_DATABASE_URL")
    return url


def _schema(url: str) -> str | None:
    schema = _setting("schema", "CREDCHAIN_DATABASE_SCHEMA")
    return schema if schema and url.startswith("postgresql") else None


def _configure(connection: Connection, schema: str | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        version_table_schema=_schema(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection, config.attributes.get("schema"))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _url()
    schema = _schema(url)
    if schema is not None:
        admin = make_engine(url, poolclass=NullPool)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
    engine = make_engine(url, schema=schema, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _configure(conn, schema)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
