"""`credchain run --workers 2` as a separate process on anvil and PostgreSQL, killed by SIGKILL: the
follower role passes to a surviving worker (blocks written around the gateway are still indexed),
and workers end with their supervisor (the port is free for the next `credchain run`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from service.ledger.chain import Chain
from tests.anvil import REPO_ROOT
from tests.api.test_e2e_http import RUN, _children, _gateway, wait_until_answering
from tests.databases import PG_URL

pytestmark = pytest.mark.integration

TAKEOVER_SECONDS = 8.0
"""The follower role's holder killed: another process follows within this (contended every 2 s)."""

ORPHAN_EXIT_SECONDS = 4.0
"""The supervisor killed: its workers are gone within this."""


@pytest.fixture(scope="module")
def workers_gateway(anvil: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One `credchain run --workers 2` for the module (a start costs seconds): the tests run in file
    order, the one that kills the supervisor last."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield from _gateway(anvil, schema, tmp_path_factory.mktemp("supervision"), workers=2)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not reaped by its new parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _workers(supervisor: int) -> list[int]:
    """The uvicorn worker processes of `supervisor` (not multiprocessing's resource tracker)."""
    return [
        pid
        for pid in _children(supervisor)
        if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]


def _follower_pids() -> set[int]:
    """Process ids of the gateway processes that hold the follower role (their lock connection's
    application_name, `credchain-follower:<pid>`)."""
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE application_name LIKE 'credchain-follower:%'"
                )
            ).scalars()
            return {int(name.rsplit(":", 1)[1]) for name in names}
    finally:
        engine.dispose()


def _wait_for(condition: Any, seconds: float, what: str) -> float:
    """Poll `condition()` until true; the seconds it took (fail after `seconds`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def _readyz(base: str) -> tuple[int, dict[str, Any]]:
    answer = requests.get(f"{base}/readyz", timeout=5)
    return answer.status_code, answer.json()


def test_another_worker_follows_the_head_when_the_followers_process_is_killed(
    workers_gateway: dict[str, Any],
) -> None:
    gateway = workers_gateway
    workers = set(_workers(gateway["pid"]))
    assert len(workers) == 2, workers
    _wait_for(lambda: len(_follower_pids() & workers) == 1, 10, "one worker takes the follower role")
    (holder,) = _follower_pids() & workers
    roles = {_readyz(gateway["base"])[1]["checks"]["index_role"] for _ in range(6)}
    assert roles <= {"follower", "standby"}, roles

    os.kill(holder, signal.SIGKILL)
    killed = time.monotonic()
    chain: Chain = gateway["chain"]
    chain.w3.provider.make_request("anvil_mine", [hex(60)])  # type: ignore[arg-type]  # around the gateway
    head = int(chain.w3.eth.block_number)

    def indexed() -> bool:
        try:
            status, body = _readyz(gateway["base"])
        except requests.RequestException:
            return False
        return status == 200 and body["checks"]["indexed_block"] >= head

    _wait_for(indexed, TAKEOVER_SECONDS, f"block {head} indexed and /readyz 200 without the follower")
    took = time.monotonic() - killed
    followers = _follower_pids()
    assert holder not in followers
    assert len(followers & set(_children(gateway["pid"]))) == 1, followers
    print(f"follower killed: head {head} indexed {took:.2f} s later")


def test_workers_end_with_their_killed_supervisor_and_the_port_serves_again(
    workers_gateway: dict[str, Any], tmp_path: Path
) -> None:
    gateway = workers_gateway

    def serving() -> list[int]:  # a worker still starting exits as soon as its code runs: not timed
        log = gateway["log"].read_text()
        return [pid for pid in _workers(gateway["pid"]) if f"Started server process [{pid}]" in log]

    _wait_for(lambda: len(serving()) == 2, 30, "two workers serve (one may be a replacement)")
    workers = serving()

    os.kill(gateway["pid"], signal.SIGKILL)
    killed = time.monotonic()
    took = _wait_for(lambda: not any(_alive(pid) for pid in workers), ORPHAN_EXIT_SECONDS, "the workers exit")
    with socket.socket() as sock:  # as uvicorn binds it: nobody listens on the port any more
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", gateway["port"]))
    print(f"supervisor killed: workers gone {took:.2f} s later")

    log_path = tmp_path / "restarted.log"
    with log_path.open("wb") as log:
        restarted = subprocess.Popen(
            [*RUN, "--host", "127.0.0.1", "--port", str(gateway["port"]), "--workers", "1"],
            cwd=REPO_ROOT,
            env=gateway["env"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answering(restarted, f"{gateway['base']}/readyz", log_path, 60)
        print(f"restarted and ready {time.monotonic() - killed:.2f} s after the kill")
    finally:
        restarted.terminate()
        restarted.wait(timeout=20)
