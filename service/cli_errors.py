"""What the `credchain` command answers when a command fails: one line on stderr and an exit code.

The expected failures are mapped here, in one place (`ErrorMappingGroup`, the typer app's group
class); usage errors stay typer's own (exit 2):

- the node cannot be reached: exit 1, the node's URL without credentials;
- the database cannot be reached: exit 1, `dialect://host/db` without credentials;
- the ledger refused (a revert) or the gateway's checks refused: exit 1, the error and its arguments;
- anything else: exit 70 (EX_SOFTWARE), the type and message; the traceback only with
  CREDCHAIN_DEBUG=1.

Commands say which node and database they use with `remember_endpoints` (in the click context's
shared `meta`), so the message can name them.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

# typer 0.2x vendors click (typer._click); its context functions are not re-exported publicly
from typer._click.core import Context
from typer._click.globals import get_current_context
from typer.core import TyperGroup
from web3.exceptions import ProviderConnectionError

from service.api.problems import ProblemError, ledger_problem
from service.ledger.errors import LedgerError, LedgerRevert, LedgerUnavailable

EXIT_FAILURE = 1
EXIT_UNEXPECTED = 70
DEBUG_VARIABLE = "CREDCHAIN_DEBUG"

_RPC_URL = "credchain.rpc_url"
_DATABASE_URL = "credchain.database_url"

NODE_ERRORS: tuple[type[BaseException], ...] = (
    LedgerUnavailable,
    requests.ConnectionError,
    requests.Timeout,
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class Failure:
    code: int
    message: str


def remember_endpoints(rpc_url: str | None = None, database_url: str | None = None) -> None:
    """Note the node and database the running command uses, for its error message."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return
    if rpc_url is not None:
        ctx.meta[_RPC_URL] = rpc_url
    if database_url is not None:
        ctx.meta[_DATABASE_URL] = database_url


def public_node_url(url: str) -> str:
    """`scheme://host[:port]`: no user, password, path or query (hosted nodes put keys there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or not host:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def public_database_url(url: str) -> str:
    """`dialect://host/database` (SQLite: `sqlite:///path`), never the user or password."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<unparsable URL>"
    dialect = parsed.get_backend_name()
    if dialect == "sqlite":
        return f"sqlite:///{parsed.database or ':memory:'}"
    host = parsed.host or "localhost"
    if parsed.port is not None:
        host = f"{host}:{parsed.port}"
    return f"{dialect}://{host}/{parsed.database or ''}"


def describe(exc: BaseException, meta: dict[str, Any]) -> Failure:
    """The exit code and one-line message for a command's failure."""
    if isinstance(exc, NODE_ERRORS):
        url = meta.get(_RPC_URL)
        where = f" at {public_node_url(url)}" if url else ""
        return Failure(EXIT_FAILURE, f"the ledger node{where} cannot be reached")
    if isinstance(exc, OperationalError):
        return _database_failure(exc, meta.get(_DATABASE_URL))
    if isinstance(exc, LedgerRevert):
        return Failure(EXIT_FAILURE, f"the ledger refused: {exc}")
    if isinstance(exc, LedgerError):
        return Failure(EXIT_FAILURE, f"{ledger_problem(exc).title}: {exc}")
    if isinstance(exc, ProblemError):
        return Failure(EXIT_FAILURE, f"refused: {exc.title}: {exc.detail or exc.slug}")
    text = " ".join(str(exc).split())
    return Failure(
        EXIT_UNEXPECTED,
        f"unexpected {type(exc).__name__}: {text} (run with {DEBUG_VARIABLE}=1 for the traceback)",
    )


def _database_failure(exc: OperationalError, url: str | None) -> Failure:
    """Unreachable (no connection: PostgreSQL's SQLSTATE class 08 or none, SQLite's file cannot be
    opened), not set up (no tables), or refused otherwise (a timeout, a serialisation failure)."""
    reason = str(exc.orig).strip()
    sqlstate = getattr(exc.orig, "sqlstate", None)
    where = public_database_url(url) if url else None
    if "no such table" in reason:
        return Failure(
            EXIT_FAILURE,
            f"the database{f' {where}' if where else ''} has no credchain tables "
            "(run `credchain init` or `credchain index` first)",
        )
    if type(exc.orig).__module__.startswith("sqlite3"):
        unreachable = "unable to open database" in reason
    else:
        unreachable = sqlstate is None or str(sqlstate).startswith("08")
    if unreachable or exc.connection_invalidated:
        return Failure(EXIT_FAILURE, f"the database cannot be reached{f' ({where})' if where else ''}")
    first_line = reason.splitlines()[0] if reason else type(exc.orig).__name__
    return Failure(EXIT_FAILURE, f"the database refused: {first_line}")


class ErrorMappingGroup(TyperGroup):
    """The typer app's group: a command's exception becomes one line on stderr and an exit code."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            failure = describe(exc, ctx.meta)
            if failure.code == EXIT_UNEXPECTED and os.environ.get(DEBUG_VARIABLE):
                typer.echo("".join(traceback.format_exception(exc)), err=True, nl=False)
            typer.echo(f"error: {failure.message}", err=True)
            raise typer.Exit(failure.code) from exc
