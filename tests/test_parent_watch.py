"""A worker process ends with its parent, killed by SIGKILL: told to stop (SIGTERM) and, if it does
not, ended hard after its grace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# the "supervisor": starts a "worker" that ignores SIGTERM, prints its pid, waits
SUPERVISOR = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(worker.stdout.readline().strip(), flush=True)
time.sleep(600)
"""
STUBBORN_WORKER = """
import os, signal, time
from service.parent_watch import exit_with_parent
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a shutdown that never ends
exit_with_parent(os.getppid(), hard_exit_seconds=0.5)
with open(os.environ["STATUS_FILE"], "w") as out:
    out.write("started")
print(os.getpid(), flush=True)
time.sleep(600)
"""


def test_a_worker_that_ignores_sigterm_exits_hard_soon_after_its_parent_is_killed(tmp_path: Path) -> None:
    status = tmp_path / "status"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, STUBBORN_WORKER],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "STATUS_FILE": str(status)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    worker = int(supervisor.stdout.readline())
    assert status.read_text() == "started"
    supervisor.kill()
    supervisor.wait(timeout=10)
    killed = time.monotonic()
    while Path(f"/proc/{worker}").exists() and "Z" not in _state(worker):
        assert time.monotonic() - killed < 3, "the orphaned worker still runs"
        time.sleep(0.02)
    assert time.monotonic() - killed >= 0.4  # SIGTERM was ignored: the hard exit ended it


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
