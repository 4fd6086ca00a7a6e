"""Indexer ingest benchmark: events per second from a real node into SQL.

One run: start anvil from node_modules, deploy the ledger with a small consortium, produce a
split-heavy workload (roots issued, accepted, split into 100 parts, some children split again into
100 parts), then index it from the deployment block into a fresh PostgreSQL schema (and SQLite),
end to end: eth_getLogs over HTTP, block headers, decoding, SQL writes, one transaction per batch.

Compared with web3.py's naive loop over the same logs, which only fetches and decodes and writes
nothing: `w3.eth.get_logs(...)` per range, then `contract.events[name]().process_log(log)` per log.

    .venv/bin/python scripts/bench_indexer.py [--roots 500] [--resplits 500] [--parts 100] [--no-sqlite]
        [--no-check] [--json-only]

Needs PostgreSQL (CREDCHAIN_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Exits 1 if PostgreSQL ingest is below 10,000 events/s or not faster than the naive loop, unless
--no-check. The last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from eth_utils.crypto import keccak  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from scripts.bench_machine import cpu_model  # noqa: E402
from service.db.migrate import upgrade  # noqa: E402
from service.db.models import Event  # noqa: E402
from service.db.session import make_engine  # noqa: E402
from service.indexer import Indexer, IndexerConfig, http_web3  # noqa: E402
from service.indexer.decode import LogDecoder  # noqa: E402
from service.indexer.source import JsonRpcSource  # noqa: E402
from service.ledger.abi_codec import signature  # noqa: E402
from service.ledger.artifacts import load_artifact  # noqa: E402
from service.ledger.chain import ANVIL_DEV_KEY, http_chain  # noqa: E402
from service.ledger.types import LEDGER_CONTRACT  # noqa: E402
from tests.anvil import start_anvil  # noqa: E402
from tests.consortium import deploy_consortium  # noqa: E402
from tests.workload import split_workload  # noqa: E402

PG_URL = os.environ.get("CREDCHAIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL_EVENTS_PER_SECOND = 10_000
RANGE = 2_000


def naive_web3(rpc_url: str, contract: str, first: int, last: int) -> tuple[int, float]:
    """web3.py's documented way: get_logs per range, process_log per log (no SQL at all)."""
    w3 = http_web3(rpc_url)
    abi = load_artifact(LEDGER_CONTRACT).abi
    ledger = w3.eth.contract(address=w3.to_checksum_address(contract), abi=abi)
    names: dict[bytes, str] = {}
    for entry in abi:
        if entry["type"] == "event":
            names[keccak(text=signature(entry))] = entry["name"]
    count = 0
    started = time.perf_counter()
    for start in range(first, last + 1, RANGE):
        logs = w3.eth.get_logs(
            {"address": ledger.address, "fromBlock": start, "toBlock": min(start + RANGE - 1, last)}
        )
        for log in logs:
            name = names.get(bytes(log["topics"][0]))
            if name is not None:
                ledger.events[name]().process_log(log)
                count += 1
    return count, time.perf_counter() - started


def decode_only(rpc_url: str, contract: str, first: int, last: int) -> tuple[int, float, float]:
    """(events, seconds fetching raw logs, seconds decoding them) with the indexer's own pieces."""
    source = JsonRpcSource(http_web3(rpc_url))
    decoder = LogDecoder(load_artifact(LEDGER_CONTRACT).abi, contract)
    fetched = 0.0
    decoded = 0.0
    count = 0
    for start in range(first, last + 1, RANGE):
        t0 = time.perf_counter()
        logs = source.get_logs(contract, start, min(start + RANGE - 1, last))
        t1 = time.perf_counter()
        count += len(decoder.decode_all(logs))
        decoded += time.perf_counter() - t1
        fetched += t1 - t0
    return count, fetched, decoded


def index_into(
    url: str, schema: str | None, rpc_url: str, contract: str, first: int, last: int, max_range: int | None
) -> dict[str, Any]:
    upgrade(url, schema)
    engine = make_engine(url, schema=schema)
    indexer = Indexer(
        http_web3(rpc_url),
        engine,
        IndexerConfig(contract=contract, from_block=first)
        if max_range is None
        else IndexerConfig(contract=contract, from_block=first, initial_range=max_range, max_range=max_range),
    )
    started = time.perf_counter()
    indexer.run_until(last, retry=False)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        stored = int(conn.execute(select(func.count()).select_from(Event)).scalar_one())
    engine.dispose()
    return {
        "events": stored,
        "batches": indexer.stats.batches,
        "seconds": round(seconds, 3),
        "events_per_second": round(stored / seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # 500 roots issued, accepted and split into 100, plus 500 re-splits into 100: ~101,000 events.
    parser.add_argument("--roots", type=int, default=500)
    parser.add_argument("--resplits", type=int, default=500)
    parser.add_argument("--parts", type=int, default=100)
    parser.add_argument(
        "--max-range",
        type=int,
        default=None,
        help="blocks per batch (default: the indexer's adaptive ranges)",
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    say = (lambda *a: None) if args.json_only else print

    node = start_anvil()
    try:
        chain = http_chain(node.url, funder_key=ANVIL_DEV_KEY)
        first = int(chain.w3.eth.block_number) + 1
        consortium = deploy_consortium(chain)
        contract = consortium.ledger.address
        t0 = time.perf_counter()
        workload = split_workload(consortium, args.roots, args.parts, args.resplits)
        last = int(chain.w3.eth.block_number)
        elapsed = time.perf_counter() - t0
        say(f"workload: ~{workload.events} events in blocks {first}..{last} ({elapsed:.1f} s)")

        naive_count, naive_seconds = naive_web3(node.url, contract, first, last)
        say(f"web3 get_logs + process_log: {naive_count} events in {naive_seconds:.2f} s")
        raw_count, fetch_seconds, decode_seconds = decode_only(node.url, contract, first, last)
        say(f"raw eth_getLogs: {fetch_seconds:.2f} s; LogDecoder: {decode_seconds:.2f} s, {raw_count} events")

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        try:
            pg = index_into(PG_URL, schema, node.url, contract, first, last, args.max_range)
        finally:
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
        say(f"PostgreSQL: {pg['events']} events in {pg['seconds']} s = {pg['events_per_second']} events/s")
        sqlite: dict[str, Any] | None = None
        if not args.no_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                sqlite = index_into(
                    f"sqlite:///{tmp}/bench.sqlite", None, node.url, contract, first, last, args.max_range
                )
            rate = sqlite["events_per_second"]
            say(f"SQLite: {sqlite['events']} events in {sqlite['seconds']} s = {rate} events/s")
    finally:
        node.stop()

    naive_rate = naive_count / naive_seconds
    rows = [
        ("web3 get_logs + process_log (reference, no SQL)", naive_seconds, naive_rate),
        ("indexer into PostgreSQL (fetch, decode, SQL)", pg["seconds"], pg["events_per_second"]),
    ]
    if sqlite is not None:
        rows.append(
            ("indexer into SQLite (fetch, decode, SQL)", sqlite["seconds"], sqlite["events_per_second"])
        )
    if not args.json_only:
        print(f"\n| path | {naive_count:,} events: seconds | events/s | seconds / reference |")
        print("|---|---:|---:|---:|")
        for label, seconds, rate in rows:
            print(f"| {label} | {seconds:.2f} | {rate:,.0f} | {seconds / naive_seconds:.3f} |")
        machine = f"{platform.platform()}, {cpu_model()}, {os.cpu_count()} cores"
        print(f"machine: {machine}, Python {platform.python_version()}")
    result = {
        "events": naive_count,
        "naive_s": round(naive_seconds, 3),
        "index_s": pg["seconds"],
        "events_per_s": pg["events_per_second"],
        "ratio": round(pg["seconds"] / naive_seconds, 3),
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "naive_web3": {"seconds": round(naive_seconds, 3), "events_per_second": round(naive_rate)},
        "raw_fetch_seconds": round(fetch_seconds, 3),
        "decode_seconds": round(decode_seconds, 3),
        "decode_events_per_second": round(raw_count / decode_seconds) if decode_seconds else None,
        "postgresql": pg,
        "sqlite": sqlite,
        "speedup_vs_naive": round(pg["events_per_second"] / naive_rate, 1),
    }
    print(json.dumps(result))
    if args.no_check:
        return 0
    ok = pg["events_per_second"] >= GOAL_EVENTS_PER_SECOND and pg["events_per_second"] > naive_rate
    ok = ok and pg["events"] == naive_count
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
