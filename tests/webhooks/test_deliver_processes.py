"""`credchain deliver` processes on one PostgreSQL: killed with SIGKILL at random points (seeded),
nothing is lost and nothing arrives out of order (duplicates only after a kill, by `webhook-id`);
two dispatchers never serve one subscription at once; SIGTERM stops one cleanly; its error paths."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.db.session import make_engine
from tests.databases import PG_URL, TestDatabase
from tests.webhooks.conftest import Hooks, make_hooks
from tests.webhooks.support import Receiver, verified, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_hooks(pg_schema: str) -> Iterator[Hooks]:
    engine = make_engine(PG_URL, schema=pg_schema)
    try:
        yield make_hooks(TestDatabase("postgresql", PG_URL, pg_schema, engine))
    finally:
        engine.dispose()


def deliver(hooks: Hooks, *extra: str, name: str = "deliver") -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CREDCHAIN_DATABASE_URL": hooks.db.url,
        "CREDCHAIN_DATABASE_SCHEMA": hooks.db.schema or "",
        "CREDCHAIN_WEBHOOK_RETRY_BASE_SECONDS": "0.02",
        "CREDCHAIN_WEBHOOK_RETRY_MAX_SECONDS": "0.2",
        "CREDCHAIN_WEBHOOK_MAX_FAILURES": "100000",
        "CREDCHAIN_WEBHOOK_BATCH": "50",
        "CREDCHAIN_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "deliver", "--name", name, *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def never_ahead(seqs: list[int], first: int) -> None:
    """Each event received is at most the one after the highest received before it: nothing was
    skipped, even for a while."""
    highest = first - 1
    for seq in seqs:
        assert seq <= highest + 1, f"{seq} arrived before {highest + 1}"
        highest = max(highest, seq)


def test_sigkill_of_credchain_deliver_at_random_points_loses_nothing_and_keeps_order(
    pg_hooks: Hooks, receiver: Receiver
) -> None:
    receiver.control(delay=0.001)  # slow enough that the kills fall inside the deliveries
    sub_id, secret = pg_hooks.subscribe(receiver.url())
    sent = pg_hooks.append(2_000)
    rng = random.Random(16)
    kills = 0
    positions = []
    for _ in range(5):
        seen = len(receiver.records())
        process = deliver(pg_hooks)
        wait_for(lambda seen=seen: len(receiver.records()) > seen, timeout=60)  # it delivers
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills += 1
        positions.append(pg_hooks.subscription(sub_id).cursor)
    interrupted = [p for p in positions if sent[0] <= p < sent[-1]]
    assert len(set(interrupted)) >= 3, positions  # killed mid-way, at different points
    process = deliver(pg_hooks)
    try:
        wait_for(lambda: pg_hooks.subscription(sub_id).cursor == sent[-1], timeout=120)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    bodies = verified(receiver.records(), secret)
    seqs = [int(b["id"].removeprefix("evt_")) for b in bodies]
    assert sorted(set(seqs)) == sent  # every event, none missing
    never_ahead(seqs, sent[0])
    # duplicates only from the rounds a kill interrupted: at most one batch (50) each
    assert len(seqs) - len(sent) <= kills * 50


def test_two_dispatchers_on_one_postgresql_never_serve_one_subscription_at_once(
    pg_hooks: Hooks, receiver: Receiver
) -> None:
    receiver.control(delay=0.002)  # each request takes a while: overlapping would show
    subs = [pg_hooks.subscribe(receiver.url(f"/hook/{name}")) for name in "abcd"]
    sent = pg_hooks.append(300)
    first, second = deliver(pg_hooks, name="one"), deliver(pg_hooks, name="two")
    try:
        wait_for(lambda: all(pg_hooks.subscription(sid).cursor == sent[-1] for sid, _ in subs), timeout=120)
    finally:
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0
    records = receiver.records()
    for (_, secret), name in zip(subs, "abcd", strict=True):
        mine = [r for r in records if r["path"] == f"/hook/{name}"]
        assert max(r["overlap"] for r in mine) == 1  # one request at a time per subscription
        seqs = [int(b["id"].removeprefix("evt_")) for b in verified(mine, secret)]
        assert seqs == sent  # in order, once each (nobody crashed)


def test_credchain_deliver_refuses_a_database_without_the_webhook_tables(pg_schema: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "deliver",
            "--database-url",
            PG_URL,
            "--database-schema",
            pg_schema,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no webhook tables" in result.stderr


def test_credchain_deliver_says_the_database_is_unavailable(tmp_path: Path) -> None:
    closed = Receiver(tmp_path / "unused").port  # nothing listens there
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "deliver",
            "--database-url",
            f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "database unavailable" in result.stderr


def test_credchain_deliver_refuses_an_unknown_log_format() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "deliver", "--log-format", "xml"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--log-format" in result.stderr
