"""The webhook dispatcher: PostgreSQL (or SQLite) is the queue, each subscription's cursor its
position in the domain event log.

For each active subscription whose backoff has passed, one round: lock the subscription row
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, held until the round commits, so several dispatchers on one
database never serve one subscription at once and a crashed one lets go with its connection), read
the next events its owner may see that match its types and filters (in sequence order, up to
`batch`), POST them one at a time, stopping at the first failure, then in the same transaction
record every attempt and move the cursor to the last event answered 2xx. Delivery is therefore at
least once and in order per subscription: an event is re-sent (same `webhook-id`) only if the round
that delivered it did not commit (a crash, a database fault). After a failure the subscription waits
(exponential backoff with jitter); after `max_failures` consecutive failures it is paused with a
reason, never skipped, and an `alert.raised` event tells its owner.

Many subscriptions are served at once (asyncio, one shared aiohttp connection pool); the database
work runs on threads. The dispatcher wakes on PostgreSQL's NOTIFY of new events
(`service.events.log.EVENTS_CHANNEL`) and otherwise polls.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import aiohttp
import psycopg
import uvloop
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from service.api.events.visibility import event_visibility
from service.db.event_models import DomainEvent
from service.db.gateway_models import ApiMember
from service.db.models import Note
from service.db.webhook_models import WebhookDelivery, WebhookSubscription
from service.events.log import EVENTS_CHANNEL, EventDraft, append_events, last_sequence
from service.settings import Settings
from service.webhooks.payload import encode, event_body, webhook_id
from service.webhooks.secrets import SecretBox, sign

log = logging.getLogger("credchain.webhooks")

SUBSCRIPTIONS: Table = WebhookSubscription.__table__  # type: ignore[assignment]
DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]

ACTIVE = "active"
PAUSED = "paused"
DISABLED = "disabled"
STATUSES = (ACTIVE, PAUSED, DISABLED)
MAX_RESPONSE_BYTES = 64 * 1024
ROUND_SECONDS = 2.0
"""A round stops starting new requests after this long (the subscription row stays locked meanwhile)."""
SWEEP_SECONDS = 60.0
Outcome = Literal["more", "done", "failed"]
T = TypeVar("T")


@dataclass(frozen=True)
class DispatcherConfig:
    timeout: float = 10.0
    concurrency: int = 16
    batch: int = 200
    poll: float = 0.05
    max_failures: int = 12
    retry_base: float = 1.0
    retry_max: float = 600.0
    retention: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherConfig:
        return cls(
            timeout=settings.webhook_timeout_seconds,
            concurrency=settings.webhook_concurrency,
            batch=settings.webhook_batch,
            poll=settings.webhook_poll_seconds,
            max_failures=settings.webhook_max_failures,
            retry_base=settings.webhook_retry_base_seconds,
            retry_max=settings.webhook_retry_max_seconds,
            retention=timedelta(hours=settings.webhook_delivery_retention_hours),
        )


def backoff(failures: int, base: float, ceiling: float, rng: random.Random) -> float:
    """Seconds to wait after `failures` consecutive failures: base * 2^(failures-1), at most
    `ceiling`, with equal jitter (between half and all of it)."""
    delay = min(ceiling, base * 2.0 ** min(failures - 1, 62))
    return float(delay / 2 + rng.random() * delay / 2)


@dataclass(frozen=True)
class Attempt:
    seq: int
    status_code: int | None
    error: str | None
    latency_ms: float
    attempted_at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Claim:
    """One round's subscription, locked (PostgreSQL) on `conn` until `finish`."""

    conn: Connection
    id: int
    url: str
    member_address: str
    secret: bytes
    cursor: int
    failures: int
    scanned_to: int
    """The sequence number the round read up to: the cursor's value if every event is delivered."""
    events: list[tuple[int, bytes]]


def subscription_filter(sub: Any) -> list[ColumnElement[bool]]:
    """The conditions of a subscription's event types and filters on `domain_events`."""
    conditions: list[ColumnElement[bool]] = []
    if sub.event_types:
        conditions.append(DomainEvent.type.in_(list(sub.event_types)))
    if sub.note_id is not None:
        conditions.append(DomainEvent.note_id == sub.note_id)
    if sub.root_id is not None:
        conditions.append(DomainEvent.root_id == sub.root_id)
    if sub.obligor is not None:
        conditions.append(
            or_(
                DomainEvent.subject == sub.obligor,
                DomainEvent.note_id.in_(select(Note.id).where(Note.obligor == sub.obligor)),
            )
        )
    return conditions


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class Dispatcher:
    """Delivers every active subscription's events (see the module's description). `run` until
    `request_stop`; `deliver_pending` serves what is due once (tests, benchmarks)."""

    engine: Engine
    box: SecretBox
    config: DispatcherConfig = field(default_factory=DispatcherConfig)
    name: str = "dispatcher"
    rng: random.Random = field(default_factory=random.Random)
    delivered: int = 0
    failed: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _stop: asyncio.Event | None = field(default=None, init=False)
    _wake: asyncio.Event | None = field(default=None, init=False)
    _idle: dict[int, tuple[int, datetime, int]] = field(default_factory=dict, init=False)

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ database (on threads)

    def _due(self) -> tuple[list[int], float | None]:
        """Active subscriptions whose backoff has passed and that may have something to deliver,
        and the seconds until the next backoff ends (None: none waits)."""
        now = datetime.now(UTC)
        table = WebhookSubscription.__table__
        with self.engine.connect() as conn:
            last = last_sequence(conn)
            rows = conn.execute(
                select(table.c.id, table.c.cursor, table.c.updated_at, table.c.next_attempt_at).where(
                    table.c.status == ACTIVE
                )
            ).all()
        due: list[int] = []
        wait: float | None = None
        for row in rows:
            if row.next_attempt_at is not None and _utc(row.next_attempt_at) > now:
                left = (_utc(row.next_attempt_at) - now).total_seconds()
                wait = left if wait is None else min(wait, left)
                continue
            if row.cursor >= last or self._idle.get(row.id) == (row.cursor, row.updated_at, last):
                continue  # nothing new since it last found nothing
            due.append(row.id)
        return due, wait

    def _claim(self, subscription_id: int) -> Claim | None:
        now = datetime.now(UTC)
        conn = self.engine.connect()
        try:
            conn.begin()
            sub_table = WebhookSubscription.__table__
            stmt = select(sub_table).where(
                sub_table.c.id == subscription_id,
                sub_table.c.status == ACTIVE,
                or_(sub_table.c.next_attempt_at.is_(None), sub_table.c.next_attempt_at <= now),
            )
            if self._postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            sub = conn.execute(stmt).first()
            if sub is None:
                conn.close()
                return None
            owner = Session(bind=conn).get(ApiMember, sub.member_id)
            if owner is None:
                conn.close()
                return None
            last = last_sequence(conn)
            conditions = [DomainEvent.seq > sub.cursor, DomainEvent.seq <= last, *subscription_filter(sub)]
            visible = event_visibility(owner)
            if visible is not None:
                conditions.append(visible)
            events = DomainEvent.__table__
            rows = (
                conn.execute(
                    select(events).where(and_(*conditions)).order_by(events.c.seq).limit(self.config.batch)
                )
                .mappings()
                .all()
            )
            full = len(rows) == self.config.batch
            claim = Claim(
                conn=conn,
                id=sub.id,
                url=sub.url,
                member_address=owner.address,
                secret=self.box.decrypt(sub.encrypted_secret),
                cursor=sub.cursor,
                failures=sub.consecutive_failures,
                scanned_to=rows[-1]["seq"] if full else last,
                events=[(row["seq"], encode(event_body(row))) for row in rows],
            )
            if not claim.events:
                self._idle[sub.id] = (sub.cursor, sub.updated_at, last)
            if not self._postgres:
                conn.commit()  # SQLite: no row locks; the round's writes are their own transaction
            return claim
        except BaseException:
            conn.close()
            raise

    def _finish(self, claim: Claim, attempts: list[Attempt]) -> None:
        conn = claim.conn
        try:
            if not conn.in_transaction():
                conn.begin()
            self._record(conn, claim, attempts)
            conn.commit()
        finally:
            conn.close()

    def _record(self, conn: Connection, claim: Claim, attempts: list[Attempt]) -> None:
        now = datetime.now(UTC)
        if attempts:
            first_attempt = claim.failures + 1
            conn.execute(
                insert(DELIVERIES),
                [
                    {
                        "subscription_id": claim.id,
                        "event_seq": a.seq,
                        "webhook_id": webhook_id(a.seq),
                        "attempt": first_attempt if i == 0 else 1,
                        "status_code": a.status_code,
                        "error": a.error,
                        "latency_ms": a.latency_ms,
                        "attempted_at": a.attempted_at,
                    }
                    for i, a in enumerate(attempts)
                ],
            )
        delivered = [a for a in attempts if a.ok]
        failure = next((a for a in attempts if not a.ok), None)
        sub = SUBSCRIPTIONS
        values: dict[str, Any] = {"total_deliveries": sub.c.total_deliveries + len(delivered)}
        if failure is None and len(attempts) == len(claim.events):
            values["cursor"] = max(claim.scanned_to, claim.cursor)
        elif delivered:
            values["cursor"] = delivered[-1].seq
        if delivered:
            values["consecutive_failures"] = 0
            values["next_attempt_at"] = None
        paused = False
        if failure is not None:
            failures = 1 if delivered else claim.failures + 1
            values["consecutive_failures"] = failures
            values["total_failures"] = sub.c.total_failures + 1
            values["last_error"] = (failure.error or f"HTTP {failure.status_code}")[:500]
            delay = backoff(failures, self.config.retry_base, self.config.retry_max, self.rng)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            if failures >= self.config.max_failures:
                paused = True
                reason = f"{failures} consecutive failed deliveries; last: {values['last_error']}"
                values["status"] = PAUSED
                values["pause_reason"] = reason[:500]
        result = conn.execute(
            update(sub).where(sub.c.id == claim.id, sub.c.cursor == claim.cursor).values(**values)
        )
        if result.rowcount == 0:  # replayed or deleted meanwhile (SQLite: no row lock): its cursor stands
            log.info("webhook subscription %s changed during a round", claim.id)
            return
        if paused and failure is not None:
            self._alert(conn, claim, failure, values)

    def _alert(self, conn: Connection, claim: Claim, failure: Attempt, values: dict[str, Any]) -> None:
        append_events(
            conn,
            [
                EventDraft(
                    type="alert.raised",
                    occurred_at=datetime.now(UTC),
                    subject=claim.member_address,
                    recipient=claim.member_address,
                    data={
                        "rule": "webhook_paused",
                        "severity": "warning",
                        "subscription_id": str(claim.id),
                        "url": claim.url,
                        "reason": values["pause_reason"],
                        "consecutive_failures": values["consecutive_failures"],
                        "waiting_event_seq": failure.seq,
                        "last_status_code": failure.status_code,
                    },
                )
            ],
        )
        log.warning(
            "webhook subscription paused",
            extra={"subscription_id": claim.id, "reason": values["pause_reason"]},
        )

    def _sweep(self) -> int:
        cutoff = datetime.now(UTC) - self.config.retention
        with self.engine.begin() as conn:
            return int(conn.execute(delete(DELIVERIES).where(DELIVERIES.c.attempted_at < cutoff)).rowcount)

    # ------------------------------------------------------------------ HTTP

    async def _post(self, http: aiohttp.ClientSession, claim: Claim, seq: int, body: bytes) -> Attempt:
        wid = webhook_id(seq)
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "credchain-webhooks/1",
            "webhook-id": wid,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(claim.secret, wid, stamp, body),
        }
        started = time.perf_counter()
        at = datetime.now(UTC)
        status: int | None = None
        error: str | None = None
        try:
            async with http.post(claim.url, data=body, headers=headers, allow_redirects=False) as answer:
                await answer.content.read(MAX_RESPONSE_BYTES)
                status = answer.status
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        return Attempt(seq, status, error, (time.perf_counter() - started) * 1000, at)

    async def _round(self, http: aiohttp.ClientSession, subscription_id: int) -> Outcome:
        """One round of one subscription: "more" if more may be waiting at once."""
        claim = await asyncio.to_thread(self._claim, subscription_id)
        if claim is None:
            return "done"
        attempts: list[Attempt] = []
        try:
            started = time.monotonic()
            for seq, body in claim.events:
                attempt = await self._post(http, claim, seq, body)
                attempts.append(attempt)
                if not attempt.ok:
                    break
                if self._stopping() or time.monotonic() - started > ROUND_SECONDS:
                    break
        finally:
            await asyncio.shield(asyncio.to_thread(self._finish, claim, attempts))
        ok = sum(1 for a in attempts if a.ok)
        self.delivered += ok
        self.failed += len(attempts) - ok
        if ok < len(attempts):
            return "failed"
        return "more" if claim.events and not self._stopping() else "done"

    async def _serve(
        self, http: aiohttp.ClientSession, subscription_id: int, slots: asyncio.Semaphore
    ) -> Outcome:
        """Rounds of one subscription until it has nothing to send now; how the last one ended."""
        async with slots:
            try:
                outcome: Outcome = "more"
                while outcome == "more":
                    outcome = await self._round(http, subscription_id)
                return outcome
            except Exception:
                log.exception("webhook round failed", extra={"subscription_id": subscription_id})
                return "failed"

    # ------------------------------------------------------------------ loop

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def request_stop(self) -> None:
        """Stop `run` (from any thread): rounds in flight finish their request and commit."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)

    def _client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.config.concurrency * 2, limit_per_host=0)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            auto_decompress=False,
        )

    async def deliver_pending(self) -> int:
        """Serve every due subscription until it has nothing left to send now or a delivery failed
        (no retry in the same call); the deliveries made."""
        before = self.delivered
        failed: set[int] = set()
        async with self._client() as http:
            slots = asyncio.Semaphore(self.config.concurrency)
            while True:
                due = [sid for sid in (await asyncio.to_thread(self._due))[0] if sid not in failed]
                if not due:
                    break
                outcomes = await asyncio.gather(*(self._serve(http, sid, slots) for sid in due))
                failed.update(sid for sid, outcome in zip(due, outcomes, strict=True) if outcome == "failed")
        return self.delivered - before

    async def run(self) -> None:
        """Deliver until `request_stop`."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._wake = wake = asyncio.Event()
        listener = self._listen() if self._postgres else None
        log.info("webhook dispatcher started", extra={"dispatcher": self.name})
        tasks: dict[int, asyncio.Task[Outcome]] = {}
        slots = asyncio.Semaphore(self.config.concurrency)
        next_sweep = time.monotonic()
        try:
            async with self._client() as http:
                while not self._stopping():
                    wake.clear()
                    try:
                        due, wait = await asyncio.to_thread(self._due)
                    except Exception:
                        log.exception("webhook dispatcher: database unavailable")
                        due, wait = [], None
                        await self._sleep(1.0, [])
                    for sid in due:
                        if sid not in tasks:
                            tasks[sid] = asyncio.create_task(self._serve(http, sid, slots))
                    if time.monotonic() >= next_sweep:
                        next_sweep = time.monotonic() + SWEEP_SECONDS
                        try:
                            await asyncio.to_thread(self._sweep)
                        except Exception as exc:
                            log.warning("webhook delivery log sweep failed: %s", exc)
                    poll = self.config.poll * (20 if listener is not None else 1)
                    timeout = poll if wait is None else max(0.005, min(poll, wait))
                    await self._sleep(timeout, list(tasks.values()))
                    for sid in [sid for sid, task in tasks.items() if task.done()]:
                        del tasks[sid]
                if tasks:
                    await asyncio.gather(*tasks.values(), return_exceptions=True)
        finally:
            if listener is not None:
                listener.stop()
            log.info(
                "webhook dispatcher stopped",
                extra={"dispatcher": self.name, "delivered": self.delivered, "failed": self.failed},
            )

    async def _sleep(self, timeout: float, tasks: list[asyncio.Task[Outcome]]) -> None:
        assert self._wake is not None and self._stop is not None
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait([*waiters, *tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _listen(self) -> _Listener:
        listener = _Listener(self.engine, self._wakeup)
        listener.start()
        return listener

    def _wakeup(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)


class _Listener:
    """LISTENs on the event channel in a thread of its own and calls `wake` per notification."""

    def __init__(self, engine: Engine, wake: Any) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="credchain-webhook-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    self._wake()  # events may have come while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake()
            except psycopg.Error as exc:
                log.warning("webhook dispatcher: LISTEN failed (%s); polling meanwhile", exc)
                self._stop.wait(1.0)


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on a new uvloop event loop (the gateway's dependency; ~1.5x asyncio's requests/s)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class DispatcherThread:
    """A dispatcher on a thread with its own event loop (the gateway's: started with the app)."""

    def __init__(self, dispatcher: Dispatcher, *, dispose: bool = False) -> None:
        self.dispatcher = dispatcher
        self._dispose = dispose
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="credchain-webhooks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        run_loop(self.dispatcher.run())

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        while self.dispatcher._stop is None and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # not yet running its loop
        self.dispatcher.request_stop()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._thread = None
        if self._dispose:
            self.dispatcher.engine.dispose()
