"""The entry point of each uvicorn worker process of `credchain run --workers N`
(`service.worker:worker_app`). Light to import: the worker ties its life to its supervisor's
(`service.parent_watch`) first, then imports and builds the gateway, which takes seconds on a busy
machine (a supervisor killed meanwhile must not leave it running)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from service.parent_watch import exit_with_parent

if TYPE_CHECKING:
    from fastapi import FastAPI

SUPERVISOR_PID_VARIABLE = "CREDCHAIN_SUPERVISOR_PID"
"""Set by `credchain run --workers N` to its own pid, for its workers to end when it dies."""

HARD_EXIT_MARGIN_SECONDS = 2.0
"""An orphaned worker exits this long after its graceful shutdown should have ended."""

DEFAULT_SHUTDOWN_GRACE_SECONDS = 5.0
"""The grace assumed until the settings are read (`Settings.shutdown_grace_seconds`)."""


def worker_app() -> FastAPI:
    """This worker's gateway (`service.api.app.worker_app`), in a process that ends when its
    supervisor (`CREDCHAIN_SUPERVISOR_PID`, else the parent now) dies."""
    supervisor = int(os.environ.get(SUPERVISOR_PID_VARIABLE) or os.getppid())
    watch = exit_with_parent(supervisor, DEFAULT_SHUTDOWN_GRACE_SECONDS + HARD_EXIT_MARGIN_SECONDS)
    from service.api.app import worker_app as gateway_app  # the heavy import, after the watch

    app = gateway_app()
    grace: float = app.state.context.settings.shutdown_grace_seconds
    watch.hard_exit_seconds = grace + HARD_EXIT_MARGIN_SECONDS
    watch.serving()
    return app
