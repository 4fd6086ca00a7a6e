"""Run the Alembic migrations of migrations/ from Python (`alembic upgrade head` programmatically)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def alembic_config(url: str, schema: str | None = None) -> Config:
    """An Alembic configuration for `url` (and, on PostgreSQL, `schema`), without alembic.ini's
    logging setup, so it can run inside tests and services."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = url
    config.attributes["schema"] = schema
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, schema: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` (PostgreSQL: inside `schema`, created if missing) to `revision`."""
    command.upgrade(alembic_config(url, schema), revision)


def downgrade(url: str, schema: str | None = None, revision: str = "base") -> None:
    """Migrate the database at `url` down to `revision` (default: drop everything)."""
    command.downgrade(alembic_config(url, schema), revision)
