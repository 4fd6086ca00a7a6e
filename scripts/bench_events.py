"""Webhook delivery benchmark, on PostgreSQL with a real receiver process (tests/webhooks/receiver.py).

(a) Throughput: `--events` domain events appended to the log for one member with `--subscriptions`
    subscriptions to a local receiver; one dispatcher (`service.webhooks.dispatcher`, one process,
    its asyncio loop and connection pool) delivers them all: deliveries per second, signed, each
    recorded in the delivery log and its cursor moved in SQL (goal >= 2,000/s).
(b) Latency at a sustained write load: anvil (automine) gets `--rate` transactions a second for
    `--seconds` through the ledger client (the core enterprise issues a note to a supplier, the
    supplier accepts it, and again); an index follower applies each block into SQL and, in the same
    transaction, the index store's batch hooks derive the domain events (`note.issued`,
    `note.accepted`, `service.events.derive`) and evaluate the alert rules; the dispatcher, woken by
    PostgreSQL's NOTIFY, posts the supplier's events to its subscription. Per block: block-to-SQL
    latency (from the writer seeing its transaction mined to the index batch's commit) and
    block-to-webhook latency (to the receiver's arrival time), p50/p99, measured in the same run
    (goal: webhook p99 within 100 ms of the index's own p99).

    .venv/bin/python scripts/bench_events.py [--events 20000] [--subscriptions 4] [--rate 20]
        [--seconds 15] [--index-hooks all|derive|none] [--no-check]

`--index-hooks` measures what the index store's batch hooks cost the index (block-to-SQL): `derive`
keeps only the event derivation (no alert rules), `none` neither (no events: no webhooks, so the
webhook figures and the goals are not checked).

Needs PostgreSQL (CREDCHAIN_TEST_PG_URL) and anvil (node_modules). Prints a table, the machine, and
a last line that is one JSON object. Exits 1 if a goal is missed, unless --no-check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from scripts.bench_machine import machine_info  # noqa: E402
from service.api.subscriptions import service as subscriptions  # noqa: E402
from service.api.subscriptions.schemas import SubscriptionIn  # noqa: E402
from service.db.gateway_models import ApiMember  # noqa: E402
from service.db.migrate import upgrade  # noqa: E402
from service.db.session import make_engine  # noqa: E402
from service.events.derive import derive_domain_events  # noqa: E402
from service.events.log import EventDraft, append_events  # noqa: E402
from service.indexer import Indexer, IndexerConfig, http_web3  # noqa: E402
from service.ledger.chain import ANVIL_DEV_KEY, http_chain  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.webhooks.dispatcher import Dispatcher, DispatcherConfig, DispatcherThread, run_loop  # noqa: E402
from service.webhooks.secrets import SecretBox  # noqa: E402
from tests.anvil import start_anvil  # noqa: E402
from tests.consortium import deploy_consortium  # noqa: E402
from tests.webhooks.support import Receiver  # noqa: E402

PG_URL = os.environ.get("CREDCHAIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL_DELIVERIES_PER_SECOND = 2_000
GOAL_P99_GAP_MS = 100.0
MEMBER = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def prepare(url: str, schema: str, address: str) -> tuple[Engine, Settings]:
    upgrade(url, schema)
    engine = make_engine(url, schema=schema, pool_size=24, max_overflow=4)
    with Session(engine) as session:
        session.add(
            ApiMember(
                id=MEMBER,
                name=MEMBER,
                address=address,
                roles="supplier",
                api_key_hash=uuid.uuid4().hex * 2,
                custody="external",
                created_at=datetime.now(UTC),
            )
        )
        session.commit()
    settings = Settings(
        rpc_url="embedded", database_url=url, database_schema=schema, webhook_allow_loopback=True
    )
    return engine, settings


def subscribe(engine: Engine, settings: Settings, url: str) -> None:
    with Session(engine) as session:
        member = session.get(ApiMember, MEMBER)
        assert member is not None
        subscriptions.create(session, settings, member, SubscriptionIn(url=url))


def config(concurrency: int) -> DispatcherConfig:
    return DispatcherConfig(timeout=5.0, concurrency=concurrency, batch=500, poll=0.01, retry_base=0.05)


def throughput(receiver: Receiver, events: int, subs: int, say: Any) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    address = "0x" + "ab" * 20
    engine, settings = prepare(PG_URL, schema, address)
    try:
        for i in range(subs):
            subscribe(engine, settings, receiver.url(f"/throughput/{i}"))
        for start in range(0, events, 1_000):
            drafts = [
                EventDraft(
                    type="note.received",
                    occurred_at=datetime.now(UTC),
                    recipient=address,
                    note_id=start + i + 1,
                    data={"amount": str(1_000 + start + i), "currency": "USD"},
                )
                for i in range(min(1_000, events - start))
            ]
            with engine.begin() as conn:
                append_events(conn, drafts)
        dispatcher = Dispatcher(engine, SecretBox(settings.master_secret.get_secret_value()), config(subs))
        started = time.perf_counter()
        delivered = run_loop(dispatcher.deliver_pending())
        seconds = time.perf_counter() - started
        rate = delivered / seconds
        say(f"throughput: {delivered:,} deliveries in {seconds:.2f} s = {rate:,.0f}/s ({subs} subscriptions)")
        return {"deliveries": delivered, "seconds": round(seconds, 3), "per_second": round(rate, 1)}
    finally:
        engine.dispose()
        drop(schema)


def drop(schema: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


INDEX_HOOKS: dict[str, tuple[Any, ...] | None] = {"all": None, "derive": (derive_domain_events,), "none": ()}
"""`--index-hooks`: the index store's batch hooks (None: its defaults, derivation then alert rules)."""


def latency(receiver: Receiver, rate: float, seconds: float, say: Any, hooks: str = "all") -> dict[str, Any]:
    node = start_anvil()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        chain = http_chain(node.url, funder_key=ANVIL_DEV_KEY)
        consortium = deploy_consortium(chain)
        first = int(chain.w3.eth.block_number) + 1
        holder = consortium.suppliers[0]
        engine, settings = prepare(PG_URL, schema, holder.address)
        subscribe(engine, settings, receiver.url("/latency"))

        indexer = Indexer(
            http_web3(node.url),
            engine,
            IndexerConfig(contract=consortium.ledger.address, from_block=first, poll_interval=0.005),
        )  # its store's default batch hooks: the domain events derived, then the alert rules
        chosen = INDEX_HOOKS[hooks]
        if chosen is not None:
            indexer.store.batch_hooks = chosen
        indexer.run_until(int(chain.w3.eth.block_number))  # the set-up's own blocks, before timing
        committed: dict[int, float] = {}
        stop = threading.Event()

        def follow() -> None:
            while not stop.is_set():
                result = indexer.sync_once()
                now = time.time()
                if result.first_block is not None and result.last_block is not None:
                    for block in range(result.first_block, result.last_block + 1):
                        committed[block] = now
                else:
                    time.sleep(0.002)

        box = SecretBox(settings.master_secret.get_secret_value())
        dispatch = DispatcherThread(Dispatcher(engine, box, config(4)))
        dispatch.start()
        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        mined: dict[int, float] = {}
        interval = 1.0 / rate
        started = time.monotonic()
        count = int(rate * seconds)
        pending: list[int] = []
        for i in range(count):
            if pending:  # every other transaction: the supplier accepts the note issued before
                result = consortium.ledger.accept(holder, pending.pop())
            else:
                result = consortium.ledger.issue(
                    consortium.core,
                    holder.address,
                    1_000 + i,
                    "USD",
                    consortium.maturity(),
                    consortium.next_document(),
                )
                pending.extend(result.created_note_ids())
            mined[result.block_number] = time.time()
            pause = started + (i + 1) * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        load_seconds = time.monotonic() - started
        deadline = time.monotonic() + (60 if hooks != "none" else 0)
        while time.monotonic() < deadline:
            arrived = arrivals(receiver, "/latency")
            if all(block in arrived for block in mined):
                break
            time.sleep(0.05)
        stop.set()
        follower.join(10)
        dispatch.stop()
        arrived = arrivals(receiver, "/latency")
        sql_ms = [(committed[b] - t) * 1000 for b, t in mined.items() if b in committed]
        hook_ms = [(arrived[b] - t) * 1000 for b, t in mined.items() if b in arrived]
        result_ = {
            "blocks": len(mined),
            "achieved_tx_per_second": round(len(mined) / load_seconds, 1),
            "sql_p50_ms": round(percentile(sql_ms, 50), 1),
            "sql_p99_ms": round(percentile(sql_ms, 99), 1),
            "webhook_p50_ms": round(percentile(hook_ms, 50), 1),
            "webhook_p99_ms": round(percentile(hook_ms, 99), 1),
            "webhook_mean_ms": round(statistics.fmean(hook_ms), 1) if hook_ms else None,
            "delivered_blocks": len(hook_ms),
        }
        result_["p99_gap_ms"] = round(result_["webhook_p99_ms"] - result_["sql_p99_ms"], 1)
        result_["p99_ratio"] = round(result_["webhook_p99_ms"] / max(result_["sql_p99_ms"], 0.001), 2)
        say(
            f"latency: {len(mined)} blocks at {result_['achieved_tx_per_second']} tx/s; SQL p50/p99 "
            f"{result_['sql_p50_ms']}/{result_['sql_p99_ms']} ms, webhook {result_['webhook_p50_ms']}/"
            f"{result_['webhook_p99_ms']} ms"
        )
        engine.dispose()
        return result_
    finally:
        node.stop()
        drop(schema)


def arrivals(receiver: Receiver, path: str) -> dict[int, float]:
    """The first arrival time of each block's events at `path`."""
    first: dict[int, float] = {}
    for record in receiver.records():
        if record["path"] != path:
            continue
        block = json.loads(record["body"])["ledger"]["block_number"]
        if block is not None and block not in first:
            first[block] = record["arrived"]
    return first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--subscriptions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="write transactions per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the write load lasts")
    parser.add_argument("--index-hooks", choices=sorted(INDEX_HOOKS), default="all")
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    say = (lambda *a: None) if args.json_only else print

    with tempfile.TemporaryDirectory() as tmp:
        receiver = Receiver(Path(tmp) / "requests.jsonl").start()
        try:
            thru = throughput(receiver, args.events, args.subscriptions, say)
            lat = latency(receiver, args.rate, args.seconds, say, args.index_hooks)
        finally:
            receiver.stop()

    machine = machine_info()
    if not args.json_only:
        print("\n| measure | value | goal |")
        print("|---|---:|---|")
        label = f"one dispatcher, deliveries/s ({thru['deliveries']:,} events)"
        print(f"| {label} | {thru['per_second']:,.0f} | >= 2,000 |")
        print(f"| block-to-SQL p50 / p99 (ms) | {lat['sql_p50_ms']} / {lat['sql_p99_ms']} | |")
        print(f"| block-to-webhook p50 / p99 (ms) | {lat['webhook_p50_ms']} / {lat['webhook_p99_ms']} | |")
        print(f"| webhook p99 - SQL p99 (ms); ratio | {lat['p99_gap_ms']}; {lat['p99_ratio']} | <= 100 ms |")
        cores = f"{machine['cores']} cores"
        print(f"machine: {machine['platform']}, {machine['cpu']}, {cores}, Python {machine['python']}")
    ok = thru["per_second"] >= GOAL_DELIVERIES_PER_SECOND and lat["p99_gap_ms"] <= GOAL_P99_GAP_MS
    ok = ok and lat["delivered_blocks"] == lat["blocks"]
    result = {
        "throughput": thru,
        "latency": lat,
        "events_source": "the index store's batch hooks: service.events.derive, then service.alerts",
        "index_hooks": args.index_hooks,
        "goals_met": ok,
        "machine": {**machine, "postgresql": True},
    }
    print(json.dumps(result))
    return 0 if ok or args.no_check or args.index_hooks != "all" else 1


if __name__ == "__main__":
    sys.exit(main())
