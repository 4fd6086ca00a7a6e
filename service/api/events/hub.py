"""Waking the readers of the event log (`GET /v1/events?wait=`, the event stream) without polling,
and counting the open streams.

`EventHub.changed(timeout)` returns when the log may have grown: on PostgreSQL a thread LISTENs on
`credchain_events` (appenders NOTIFY at commit, from any process); in every process the index
coordinator tells the hub when it applied a batch (`IndexCoordinator.on_applied`). On SQLite, where
another process's appends cannot be heard, waiters also look again every `SQLITE_POLL_SECONDS`; on
PostgreSQL every `PG_SAFETY_SECONDS` (a lost connection of the listener is re-opened meanwhile).
One hub per app, started and closed by its lifespan: closing it ends every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

from service.api.problems import ProblemError
from service.events.log import EVENTS_CHANNEL

log = logging.getLogger("credchain.events")

SQLITE_POLL_SECONDS = 0.2
PG_SAFETY_SECONDS = 5.0
LISTEN_RECONNECT_SECONDS = 1.0


class EventHub:
    def __init__(self, engine: Engine, *, streams: int, streams_per_member: int) -> None:
        self.engine = engine
        self.streams = streams
        self.streams_per_member = streams_per_member
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self.postgres = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ lifecycle
    def start(self, subscribe: Callable[[Callable[[int], None]], Callable[[], None]] | None = None) -> None:
        """Start hearing appends (in the app's event loop): `subscribe` registers the index
        coordinator's listener."""
        self._loop = asyncio.get_running_loop()
        if subscribe is not None:
            self._unsubscribe = subscribe(lambda _block: self.wake())
        if self.postgres:
            self._thread = threading.Thread(target=self._listen, name="credchain-events-listen", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop listening and end every stream and long poll."""
        self.closed = True
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ waking
    def wake(self) -> None:
        """Wake every waiter (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def changed(self, timeout: float) -> None:
        """Return when the log may have grown, or after at most `timeout` seconds."""
        if self.closed or timeout <= 0:
            return
        limit = PG_SAFETY_SECONDS if self.postgres else SQLITE_POLL_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), min(timeout, limit))

    def _listen(self) -> None:
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    self.wake()  # anything appended while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake()
            except psycopg.Error as exc:
                log.warning("listening for events: %s: %s", type(exc).__name__, exc)
                self._stop.wait(LISTEN_RECONNECT_SECONDS)

    # ------------------------------------------------------------------ streams
    def open_stream(self, member_id: str) -> Callable[[], None]:
        """Take one of the process's stream slots and one of `member_id`'s (429 / 503 beyond);
        returns the function that gives them back (idempotent)."""
        with self._lock:
            if self._open[member_id] >= self.streams_per_member:
                raise ProblemError(
                    429,
                    "too-many-streams",
                    "Too many open event streams",
                    f"a member may hold {self.streams_per_member} event streams open at once; close one",
                    headers={"Retry-After": "5"},
                )
            if sum(self._open.values()) >= self.streams:
                raise ProblemError(
                    503,
                    "streams-unavailable",
                    "The gateway serves no more event streams now",
                    "every event stream of this gateway process is taken; retry later or poll GET /v1/events",
                    headers={"Retry-After": "5"},
                )
            self._open[member_id] += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._open[member_id] -= 1
                if self._open[member_id] <= 0:
                    del self._open[member_id]

        return release
