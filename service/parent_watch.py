"""A worker process that ends with its supervisor (`credchain run --workers N`), even one killed by
SIGKILL, so that no orphaned worker keeps serving the port.

Two ways, both started by `exit_with_parent` in the worker: on Linux the kernel sends the worker
SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`), and everywhere a daemon thread sees
`os.getppid()` change (the worker re-parented) and sends it SIGTERM itself. uvicorn answers SIGTERM
with a graceful shutdown; if the worker is still running `hard_exit_seconds` after it was found
orphaned (requests that do not finish, threads that do not stop), it exits at once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

from service.background import BackgroundThread

log = logging.getLogger("credchain.api")

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when the thread that created it exits."""

ORPHANED_EXIT_CODE = 70
"""Exit status of a worker that had to be stopped hard after its supervisor died (EX_SOFTWARE)."""


def signal_on_parent_death(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only); whether it
    could. It is tied to the parent's thread that created this process: uvicorn's supervisor starts
    and replaces workers from its main thread."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols: libc's among them
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
            return False
    except OSError as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
        return False
    return True


class ParentWatch(BackgroundThread):
    """Watches this process's parent every `poll_seconds`: once it is no longer `parent_pid`, sends
    this process SIGTERM and, `hard_exit_seconds` later, exits it with `ORPHANED_EXIT_CODE` if it is
    still running; before `serving`, exits it at once."""

    thread_name = "credchain-parent-watch"

    def __init__(self, parent_pid: int, hard_exit_seconds: float, poll_seconds: float = 0.25) -> None:
        super().__init__()
        self.parent_pid = parent_pid
        self.hard_exit_seconds = hard_exit_seconds
        self._poll_seconds = poll_seconds
        self._serving = threading.Event()

    def serving(self) -> None:
        """The worker's app is built: from now on an orphaned worker shuts down gracefully first
        (before, it exits at once)."""
        self._serving.set()

    def orphaned(self) -> bool:
        return os.getppid() != self.parent_pid

    def _run(self) -> None:
        while not self.orphaned():
            if self._stop.wait(self._poll_seconds):
                return
        if not self._serving.is_set():  # still starting: nothing in flight to finish
            log.warning("supervisor %s is gone before this worker served: exiting", self.parent_pid)
            logging.shutdown()
            os._exit(ORPHANED_EXIT_CODE)
        log.warning(
            "supervisor %s is gone: stopping this worker (at most %.0f s)",
            self.parent_pid,
            self.hard_exit_seconds,
        )
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown (a second one is harmless)
        time.sleep(self.hard_exit_seconds)  # not cancelled by `stop`: the process must end
        log.error("worker still running %.0f s after its supervisor died: exiting", self.hard_exit_seconds)
        logging.shutdown()
        os._exit(ORPHANED_EXIT_CODE)


def exit_with_parent(parent_pid: int, hard_exit_seconds: float) -> ParentWatch:
    """Make this worker process end when its parent `parent_pid` dies (see the module); the watch
    thread, started (call its `serving` once the app is built). If the parent is already gone, the
    worker exits at once."""
    signal_on_parent_death(signal.SIGTERM)
    watch = ParentWatch(parent_pid, hard_exit_seconds)
    watch.start()  # after prctl: a parent that died before it is seen by the thread's first look
    return watch
