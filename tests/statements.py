"""Counting the SQL statements the requests of a test run, leaving out the gateway's background
threads (the webhook dispatcher, the alert scheduler, the event hub, the index follower: all named
`credchain-*`), which poll the same engines on their own schedule."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

BACKGROUND_PREFIX = "credchain-"


@contextmanager
def request_statements(*engines: Engine) -> Iterator[list[str]]:
    """The statements run on `engines` while the block runs, outside the background threads."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not threading.current_thread().name.startswith(BACKGROUND_PREFIX):
            seen.append(statement)

    unique = list(dict.fromkeys(engines))
    for engine in unique:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in unique:
            event.remove(engine, "before_cursor_execute", count)
