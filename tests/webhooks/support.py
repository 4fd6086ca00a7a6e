"""The webhook tests' real components: a receiver process (tests/webhooks/receiver.py) on a port
of its own, its recorded requests, and signature checks by the independent `standardwebhooks`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

RECEIVER = Path(__file__).with_name("receiver.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Receiver:
    """A receiver process that can be stopped (its port then refuses connections) and started again
    on the same port; every request it answered is a line of `out`."""

    out: Path
    port: int = field(default_factory=free_port)
    status: int = 204
    process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(RECEIVER),
                "--port",
                str(self.port),
                "--out",
                str(self.out),
                "--status",
                str(self.status),
            ]
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                assert self.process.poll() is None, "the receiver exited"
                time.sleep(0.05)
        raise AssertionError("the receiver did not start listening")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def control(self, **state: Any) -> None:
        requests.post(self.url("/_control"), json=state, timeout=5).raise_for_status()

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]


def verified(records: list[dict[str, Any]], secret: str) -> list[dict[str, Any]]:
    """The bodies of `records`, each signature checked by `standardwebhooks` (raises if one fails)."""
    from standardwebhooks.webhooks import Webhook  # the independent verifier (a dev dependency)

    hook = Webhook(secret)
    bodies = []
    for record in records:
        body = hook.verify(record["body"], record["headers"])
        assert record["headers"]["webhook-id"] == body["id"]
        bodies.append(body)
    return bodies


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out waiting")
