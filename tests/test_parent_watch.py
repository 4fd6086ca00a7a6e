"""A worker process ends with its parent, killed by SIGKILL: told to stop (SIGTERM) and, if it does
not, ended hard after its grace; before it serves, at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# the "supervisor": starts a "worker", prints the worker's pid, waits
SUPERVISOR = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(worker.stdout.readline().strip(), flush=True)
time.sleep(600)
"""
# a worker whose shutdown never ends (SIGTERM ignored)
STUBBORN_WORKER = """
import os, signal, sys, time
from service.parent_watch import exit_with_parent
signal.signal(signal.SIGTERM, signal.SIG_IGN)
watch = exit_with_parent(os.getppid(), hard_exit_seconds=float(sys.argv[1]))
if sys.argv[2] == "serving":
    watch.serving()
print(os.getpid(), flush=True)
time.sleep(600)
"""


def _seconds_until_the_orphan_exits(hard_exit_seconds: float, state: str) -> float:
    """Start a supervisor and its stubborn worker, kill the supervisor with SIGKILL; the seconds until
    the worker has exited."""
    worker_code = f"import sys; sys.argv[1:] = [{str(hard_exit_seconds)!r}, {state!r}]\n" + STUBBORN_WORKER
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, worker_code],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    worker = int(supervisor.stdout.readline())
    supervisor.kill()
    supervisor.wait(timeout=10)
    killed = time.monotonic()
    while _state(worker) not in ("gone", "Z"):
        assert time.monotonic() - killed < 5, "the orphaned worker still runs"
        time.sleep(0.02)
    return time.monotonic() - killed


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_a_serving_worker_that_ignores_sigterm_exits_hard_after_its_grace() -> None:
    assert 0.4 <= _seconds_until_the_orphan_exits(0.5, "serving") < 3


def test_a_worker_orphaned_before_it_serves_exits_at_once() -> None:
    assert _seconds_until_the_orphan_exits(30, "starting") < 2
