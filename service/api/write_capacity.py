"""The gateway's writes run on their own threads, not on the ones that serve reads.

A write waits for its block (a second or two on a node with a block period) and then for the
index. On a sync handler's thread that wait would hold one of the 40 threads anyio gives every
sync handler and dependency of the process, and reads would queue behind the writes. So the
write routes' handlers only check and hand the write over (`service.api.deps.IdempotentWrite`):
it runs on `WriteCapacity`'s own bounded thread pool (`write_concurrency` threads per process,
made on first use), and the handler's thread is free again within microseconds.

Of the writes running, at most `write_active` work at once (check, estimate, sign, send, build
the answer): a write waiting for its block or the index (`service.ledger.waiting.waiting`) lets
another one work meanwhile. Hundreds of threads all busy in one Python process would take turns
at the interpreter lock with the event loop, and every read would wait its turn behind them.

At most `write_concurrency + write_queue` writes are admitted at once per process; one more is
answered `503 gateway-busy` with Retry-After at once, never queued without bound.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from service.api.problems import ProblemError
from service.ledger.waiting import waits_marked_by

T = TypeVar("T")

BUSY_RETRY_AFTER_SECONDS = 1


def gateway_busy(admitted: int) -> ProblemError:
    return ProblemError(
        503,
        "gateway-busy",
        "The gateway has too many writes in flight",
        f"this gateway process is running {admitted} writes, as many as it admits; retry shortly",
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


class WriteCapacity:
    """A bounded thread pool for writes: `submit(fn)` runs `fn` in a copy of the caller's context
    variables (request id, broadcast journal) on one of `concurrency` threads, or raises
    `gateway-busy` when `concurrency + queue` writes are admitted already."""

    def __init__(self, concurrency: int, queue: int, active: int | None = None) -> None:
        self.concurrency = concurrency
        self._active = threading.Semaphore(active or concurrency)
        self.limit = concurrency + queue
        self._admitted = 0
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def admitted(self) -> int:
        """Writes running or queued now."""
        return self._admitted

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the write capacity is shut down")
            if self._admitted >= self.limit:
                raise gateway_busy(self._admitted)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="credchain-write")
            self._admitted += 1
            executor = self._executor
        context = contextvars.copy_context()

        def working() -> T:
            self._active.acquire()
            try:
                with waits_marked_by(self._waiting):
                    return fn()
            finally:
                self._active.release()

        try:
            future = executor.submit(context.run, working)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _done: self._release())
        return future

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """While a write only waits, another may work."""
        self._active.release()
        try:
            yield
        finally:
            self._active.acquire()

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new writes; with `wait`, let those admitted finish."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait)
