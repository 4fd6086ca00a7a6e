"""One daemon thread of the gateway that runs until it is stopped: the index follower, the
idempotency sweeper and the settlement-job runner are each one."""

from __future__ import annotations

import threading


class BackgroundThread:
    """Runs `_run` in a daemon thread named `thread_name` from `start` until `stop`; `_run` returns
    once `_stop` is set (wait on it between rounds). `start` while running does nothing."""

    thread_name = "credchain-background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._stopping()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _stopping(self) -> None:
        """Wake `_run` if it waits on something other than `_stop`."""

    def _run(self) -> None:
        raise NotImplementedError
