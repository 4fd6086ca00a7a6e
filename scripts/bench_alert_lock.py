"""How long an index batch waits for the event sequence's lock while the alert scheduler evaluates,
with the scheduler holding the lock for its whole evaluation (as before: the node's balances read
under it) and with `evaluate_briefly` (the lock only to compare and write), on PostgreSQL.

The database (a fresh schema, migrated) holds `--obligors` obligors, each with a payable note
maturing within the funding-shortfall window, so every evaluation asks the node for one balance and
one allowance per obligor; a node round-trip is stood in for by `--rtt-ms` of sleep per pair (the
same order as one eth_call to a local anvil). Meanwhile an "index batch" loop appends ten domain
events per transaction through `append_events`, as the indexer's batch hook does, and its latency
(begin to commit) is measured for `--seconds` in each mode.

    .venv/bin/python scripts/bench_alert_lock.py [--obligors 200] [--rtt-ms 2] [--seconds 10]

Prints a table and a last line that is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from service.alerts.evaluator import evaluate, evaluate_briefly  # noqa: E402
from service.alerts.rules import CONFIG, CREDIT, MEMBERS, NOTES  # noqa: E402
from service.db.migrate import upgrade  # noqa: E402
from service.db.session import make_engine  # noqa: E402
from service.domain import NoteStatus, Role  # noqa: E402
from service.events.log import EventDraft, append_events  # noqa: E402
from tests.databases import PG_URL  # noqa: E402

DAY = 86_400
NOW = 1_900_000_000


def _seed(engine: Any, obligors: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(CONFIG).values(contract="0x" + "1e" * 20, max_tenor=365 * DAY, grace_period=DAY))
        holder = "0x" + "51" * 20
        conn.execute(
            insert(MEMBERS).values(
                address=holder, roles=int(Role.SUPPLIER), status=1, onboarded_block=1, updated_block=1
            )
        )
        for i in range(obligors):
            obligor = f"0x{i + 1:040x}"
            conn.execute(
                insert(MEMBERS).values(
                    address=obligor,
                    roles=int(Role.CORE_ENTERPRISE),
                    status=1,
                    onboarded_block=1,
                    updated_block=1,
                )
            )
            conn.execute(
                insert(CREDIT).values(
                    obligor=obligor, credit_limit=10**12, outstanding=1_000, updated_block=1
                )
            )
            note_id = (i + 1) << 32
            conn.execute(
                insert(NOTES).values(
                    id=note_id,
                    root_id=note_id,
                    parent_id=None,
                    depth=0,
                    holder=holder,
                    obligor=obligor,
                    amount=1_000,
                    currency="USD",
                    maturity=NOW + 3 * DAY,
                    document_hash=f"0x{note_id:064x}",
                    status=int(NoteStatus.ACTIVE),
                    frozen=False,
                    created_block=1,
                    created_tx="0x" + "00" * 32,
                    updated_block=1,
                    paid_amount=0,
                    written_off_amount=0,
                )
            )


def _measure(engine: Any, seconds: float, scheduler: Callable[[], object]) -> dict[str, Any]:
    stop = threading.Event()
    evaluations: list[float] = []

    def schedule() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            scheduler()
            evaluations.append(time.perf_counter() - started)

    thread = threading.Thread(target=schedule, daemon=True)
    thread.start()
    latencies: list[float] = []
    at = datetime.now(UTC)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        with engine.begin() as conn:
            append_events(conn, [EventDraft("note.accepted", at, {}) for _ in range(10)])
        latencies.append(time.perf_counter() - started)
        time.sleep(0.01)
    stop.set()
    thread.join()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "batches": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "max_ms": round(ms[-1], 1),
        "evaluations": len(evaluations),
        "evaluation_ms": round(statistics.median(evaluations) * 1000, 1) if evaluations else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--obligors", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    def funds(address: str, currency: str) -> tuple[int, int]:
        time.sleep(2 * args.rtt_ms / 1000)  # balanceOf and allowance: two round-trips
        return (0, 0)

    def chain_funds() -> Callable[[str, str], tuple[int, int]]:
        seen: dict[tuple[str, str], tuple[int, int]] = {}

        def read(address: str, currency: str) -> tuple[int, int]:
            if (address, currency) not in seen:
                seen[(address, currency)] = funds(address, currency)
            return seen[(address, currency)]

        return read

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, schema=schema)
    try:
        upgrade(PG_URL, schema)
        _seed(engine, args.obligors)

        def whole() -> object:
            with engine.begin() as conn:
                return evaluate(conn, NOW, funds=chain_funds())

        results = {
            "idle": _measure(engine, args.seconds, lambda: time.sleep(0.05)),
            "lock for the whole evaluation": _measure(engine, args.seconds, whole),
            "lock to write only (evaluate_briefly)": _measure(
                engine, args.seconds, lambda: evaluate_briefly(engine, NOW, funds=chain_funds())
            ),
        }
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    print(
        f"index batch latency while the scheduler evaluates ({args.obligors} obligors, {args.rtt_ms} ms rtt)"
    )
    print(f"{'scheduler':40} {'batches':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'eval ms':>8}")
    for name, r in results.items():
        print(
            f"{name:40} {r['batches']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} "
            f"{'' if r['evaluation_ms'] is None or name == 'idle' else r['evaluation_ms']:>8}"
        )
    print(json.dumps({"obligors": args.obligors, "rtt_ms": args.rtt_ms, "results": results}))


if __name__ == "__main__":
    main()
