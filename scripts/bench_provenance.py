"""Benchmark the provenance queries on PostgreSQL against trees of 10,000 and 100,000 notes.

In a fresh schema (created here, dropped at the end) it builds one tree per size under its own root,
shaped like real splitting: the root splits into parts, most parts split again (2-10 ways), down to
depth ~6-8, plus a chain of two-way splits that makes the deepest leaf 20+ levels deep; about one
event row per note (issue, accept, one NoteSplit per child, transfers on ~5% of notes). Rows go in
with COPY, then ANALYZE. It then times, over many repetitions:

  (a) `ancestors` of the deepest leaf,
  (b) `tree` of the root (every row fetched into NoteRow objects),
  (c) for reference, a plain primary-key select (`WHERE id = ANY(:ids)`) of the same rows as (a) and
      as (b), through the same session and row mapping, so each ratio is measured in the same run;

and, without a reference, `tree_with_events` of the root, `holder_path` of the deepest leaf, the
first page of the tree with its events as the provenance answer reads it (`tree_page` of 200 nodes
and `page_events`) and the tree's summary (`tree_summary`).
It prints a table, the machine, and a last line that is one JSON object. Exits 1 if a goal is missed
(10k tree p95 < 100 ms; ancestors p95 < 5 ms) unless --no-check.

    .venv/bin/python scripts/bench_provenance.py [--database-url URL] [--sizes 10000,100000] [--no-check]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy
from sqlalchemy import BigInteger, Engine, Select, any_, bindparam, create_engine, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from scripts.bench_machine import cpu_model
from service.db.models import Base, Event, Note
from service.db.provenance import (
    NoteRow,
    ancestors,
    ancestors_query,
    holder_path,
    note_row,
    page_events,
    select_notes,
    tree,
    tree_page,
    tree_query,
    tree_summary,
    tree_with_events,
)
from service.db.session import make_engine
from service.domain import INDEX_BITS, MAX_AMOUNT, NoteStatus

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_TREE_10K_P95_MS = 100.0
GOAL_ANCESTORS_P95_MS = 5.0
CHAIN_LEVELS = 24
"""Two-way splits chained below the deepest bushy leaf, so the deepest leaf is 24 levels lower."""

NOTE_COLUMNS = [c.name for c in Note.__table__.columns]
EVENT_COLUMNS = [c.name for c in Event.__table__.columns]
CONTRACT = "0x" + "CC" * 20
OBLIGOR = "0x" + "0B" * 20


@dataclass
class BuiltTree:
    """One generated tree: its rows in table column order and the ids the benchmark asks about."""

    root_id: int
    notes: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    deepest_leaf: int
    deepest_depth: int
    max_bushy_depth: int


@dataclass(frozen=True)
class LoadedTree:
    """What the benchmark keeps of a tree once its rows are in the database (the generated rows are
    dropped so that they do not inflate the cost of the garbage collector during the timings)."""

    size: int
    root_id: int
    events: int
    deepest_leaf: int
    deepest_depth: int


class TreeBuilder:
    """Generates a tree the way the ledger grows one: issue, accept, then splits and transfers."""

    def __init__(self, root_seq: int, rng: random.Random, first_block: int, first_event_id: int) -> None:
        self.root_id = root_seq << INDEX_BITS
        self.rng = rng
        self.block = first_block
        self.event_id = first_event_id
        self.holders = [f"0x{i:040x}" for i in range(1, 51)]
        self.notes: dict[int, dict[str, Any]] = {}
        self.events: list[tuple[Any, ...]] = []
        self.next_index = 0

    def _tx(self) -> None:
        self.block += 1

    def _event(self, name: str, note_id: int, log_index: int, args: dict[str, Any]) -> None:
        self.event_id += 1
        values = {
            "id": self.event_id,
            "block_number": self.block,
            "block_hash": f"0x{self.block:064x}",
            "block_time": 1_700_000_000 + 2 * self.block,
            "tx_hash": f"0x{self.block:062x}{log_index:02x}",
            "log_index": log_index,
            "contract": CONTRACT,
            "name": name,
            "note_id": note_id,
            "root_id": self.root_id,
            "args": json.dumps(args),
        }
        self.events.append(tuple(values[c] for c in EVENT_COLUMNS))

    def _note(self, parent: dict[str, Any] | None, holder: str, amount: int) -> dict[str, Any]:
        note_id = self.root_id | self.next_index
        self.next_index += 1
        note = {
            "id": note_id,
            "root_id": self.root_id,
            "parent_id": None if parent is None else parent["id"],
            "depth": 0 if parent is None else parent["depth"] + 1,
            "holder": holder,
            "obligor": OBLIGOR,
            "amount": amount,
            "currency": "CNY",
            "maturity": 1_800_000_000,
            "document_hash": f"0x{self.root_id:064x}",
            "status": int(NoteStatus.ACTIVE),
            "frozen": False,
            "created_block": self.block,
            "created_tx": f"0x{self.block:064x}",
            "updated_block": self.block,
            "paid_amount": 0,
            "written_off_amount": 0,
        }
        self.notes[note_id] = note
        return note

    def issue(self, amount: int) -> dict[str, Any]:
        self._tx()
        root = self._note(None, self.holders[0], amount)
        args = {
            "noteId": str(root["id"]),
            "obligor": OBLIGOR,
            "holder": root["holder"],
            "amount": str(amount),
        }
        self._event("NoteIssued", root["id"], 0, args)
        self._tx()
        self._event("NoteAccepted", root["id"], 0, {"noteId": str(root["id"]), "holder": root["holder"]})
        return root

    def split(self, parent: dict[str, Any], parts: int) -> list[dict[str, Any]]:
        self._tx()
        weights = [self.rng.randint(1, 10) for _ in range(parts)]
        total = sum(weights)
        amounts = [parent["amount"] * w // total for w in weights]
        amounts[-1] += parent["amount"] - sum(amounts)
        children = []
        for log_index, amount in enumerate(amounts):
            assert amount > 0
            child = self._note(parent, self.rng.choice(self.holders), amount)
            args = {
                "parentId": str(parent["id"]),
                "noteId": str(child["id"]),
                "holder": child["holder"],
                "rootId": str(self.root_id),
                "amount": str(amount),
            }
            self._event("NoteSplit", child["id"], log_index, args)
            children.append(child)
        parent["status"] = int(NoteStatus.SPLIT)
        parent["updated_block"] = self.block
        return children

    def transfer(self, note: dict[str, Any]) -> None:
        self._tx()
        to = self.rng.choice([h for h in self.holders if h != note["holder"]])
        self._event(
            "NoteTransferred", note["id"], 0, {"noteId": str(note["id"]), "from": note["holder"], "to": to}
        )
        note["holder"] = to
        note["updated_block"] = self.block

    def build(self, size: int) -> BuiltTree:
        """A tree of exactly `size` notes: a bushy part, then a chain of two-way splits."""
        root = self.issue(MAX_AMOUNT)
        bushy = size - 1 - 2 * CHAIN_LEVELS
        extra_chain_part = 0
        queue = deque([root])
        last = root
        while bushy > 0:
            if not queue:
                queue.append(last)
            note = queue.popleft()
            if note is not root and self.rng.random() < 0.25:
                if self.rng.random() < 0.2:
                    self.transfer(note)
                continue  # stays a leaf (it may still be split later if the queue runs dry)
            if note is not root and self.rng.random() < 0.05:
                self.transfer(note)
            parts = min(self.rng.randint(2, 10), bushy)
            if parts == 1:  # cannot split into one part: the chain's last split takes three
                extra_chain_part, bushy = 1, 0
                break
            children = self.split(note, parts)
            bushy -= parts
            queue.extend(children)
            last = children[-1]
        max_bushy_depth = max(n["depth"] for n in self.notes.values())
        tip = next(n for n in reversed(self.notes.values()) if n["depth"] == max_bushy_depth)
        for level in range(CHAIN_LEVELS):
            parts = 2 + (extra_chain_part if level == CHAIN_LEVELS - 1 else 0)
            tip = self.split(tip, parts)[0]
        assert len(self.notes) == size, (len(self.notes), size)
        notes = [tuple(n[c] for c in NOTE_COLUMNS) for n in self.notes.values()]
        return BuiltTree(self.root_id, notes, self.events, tip["id"], tip["depth"], max_bushy_depth)


def copy_rows(engine: Engine, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
    finally:
        raw.close()


def load_tree(engine: Engine, root_seq: int, size: int, rng: random.Random, first_block: int) -> LoadedTree:
    """Generates one tree, COPYs its notes and events in, and keeps only what the timings need."""
    generated = TreeBuilder(root_seq, rng, first_block, first_event_id=first_block * 200).build(size)
    copy_rows(engine, "notes", NOTE_COLUMNS, generated.notes)
    copy_rows(engine, "events", EVENT_COLUMNS, generated.events)
    print(
        f"built {label(size)} tree: {len(generated.notes)} notes, {len(generated.events)} events, "
        f"bushy depth {generated.max_bushy_depth}, deepest leaf depth {generated.deepest_depth}",
        flush=True,
    )
    return LoadedTree(
        size, generated.root_id, len(generated.events), generated.deepest_leaf, generated.deepest_depth
    )


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Timing:
    rows: int
    p50: float
    p95: float


def measure(session: Session, call: Callable[[], Sized], reps: int, warmup: int) -> Timing:
    """Times `call` (milliseconds), each in its own transaction, after `warmup` untimed calls."""
    rows = 0
    samples: list[float] = []
    for i in range(warmup + reps):
        start = time.perf_counter()
        result = call()
        elapsed = (time.perf_counter() - start) * 1000
        session.rollback()
        rows = len(result)
        if i >= warmup:
            samples.append(elapsed)
    return Timing(rows, percentile(samples, 0.50), percentile(samples, 0.95))


BY_PRIMARY_KEY = select_notes().where(Note.__table__.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))


def by_primary_key(session: Session, ids: list[int]) -> list[NoteRow]:
    """The reference: the same columns and row mapping as the provenance queries, by primary key."""
    return [note_row(row) for row in session.execute(BY_PRIMARY_KEY, {"ids": ids}).all()]


def tree_nodes_with_events(session: Session, root_id: int) -> list[NoteRow]:
    return tree_with_events(session, root_id).nodes


def first_page_with_events(session: Session, root_id: int, limit: int) -> list[NoteRow]:
    """The first page of the tree as the provenance answer reads it: nodes, then their events."""
    nodes = tree_page(session, root_id, -1, limit + 1)[:limit]
    page_events(session, root_id, nodes)
    return nodes


def explain(session: Session, title: str, stmt: Select[Any]) -> None:
    sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    plan = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).scalars().all()
    session.rollback()
    print(f"-- {title}")
    for line in plan:
        print(f"   {line}")


def machine(engine: Engine) -> dict[str, Any]:
    cpu = cpu_model()
    with engine.connect() as conn:
        server_version = str(conn.execute(text("SHOW server_version")).scalar_one())
        full_version = str(conn.execute(text("SELECT version()")).scalar_one())
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "postgresql": server_version,
        "postgresql_full": full_version,
    }


def label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated tree sizes")
    parser.add_argument("--ancestor-reps", type=int, default=200)
    parser.add_argument("--tree-reps", type=int, default=50)
    parser.add_argument("--events-reps", type=int, default=20)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of (a) and (b)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--no-check", action="store_true", help="report only; never exit non-zero on a goal")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    load_at_start = os.getloadavg()[0]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(args.database_url, schema=schema)
    results: dict[str, Any] = {}
    table: list[tuple[str, str, int, Timing, Timing | None]] = []
    try:
        Base.metadata.create_all(engine)
        rng = random.Random(args.seed)
        built: list[LoadedTree] = []
        first_block = 1000
        setup_start = time.perf_counter()
        for seq, size in enumerate(sizes, start=1):
            loaded = load_tree(engine, seq, size, rng, first_block)
            first_block += 2 * size + 100
            built.append(loaded)
        gc.collect()
        with engine.connect() as conn:
            conn.execute(text("ANALYZE notes"))
            conn.execute(text("ANALYZE events"))
            conn.commit()
        print(f"setup (generate + COPY + ANALYZE): {time.perf_counter() - setup_start:.1f} s", flush=True)

        with Session(engine) as session:
            for t in built:
                size = t.size
                key = label(size)
                path_ids = [n.id for n in ancestors(session, t.deepest_leaf)]
                tree_ids = [n.id for n in tree(session, t.root_id)]
                session.rollback()
                assert len(path_ids) == t.deepest_depth + 1 and len(tree_ids) == size
                if args.explain:
                    explain(session, f"{key}: ancestors of the deepest leaf", ancestors_query(t.deepest_leaf))
                    explain(session, f"{key}: whole tree of the root", tree_query(t.root_id))

                anc = measure(session, partial(ancestors, session, t.deepest_leaf), args.ancestor_reps, 10)
                anc_ref = measure(session, partial(by_primary_key, session, path_ids), args.ancestor_reps, 10)
                whole = measure(session, partial(tree, session, t.root_id), args.tree_reps, 3)
                whole_ref = measure(session, partial(by_primary_key, session, tree_ids), args.tree_reps, 3)
                with_events = measure(
                    session, partial(tree_nodes_with_events, session, t.root_id), args.events_reps, 2
                )
                holders = measure(
                    session, partial(holder_path, session, t.deepest_leaf), args.ancestor_reps, 10
                )
                first_page = measure(
                    session, partial(first_page_with_events, session, t.root_id, 200), args.ancestor_reps, 10
                )
                summary = measure(session, partial(tree_summary, session, t.root_id), args.tree_reps, 3)

                table.append(
                    (key, f"ancestors of deepest leaf (depth {t.deepest_depth})", size, anc, anc_ref)
                )
                table.append((key, "whole tree of the root", size, whole, whole_ref))
                table.append((key, "tree_with_events of the root", size, with_events, None))
                table.append((key, "holder_path of deepest leaf", size, holders, None))
                table.append((key, "first page (200 nodes) with events", size, first_page, None))
                table.append((key, "summary of the tree (by status)", size, summary, None))
                for name, measured, reference in (("ancestors", anc, anc_ref), ("tree", whole, whole_ref)):
                    results[f"{name}_{key}_rows"] = measured.rows
                    results[f"{name}_{key}_p50_ms"] = round(measured.p50, 3)
                    results[f"{name}_{key}_p95_ms"] = round(measured.p95, 3)
                    results[f"{name}_{key}_ref_p50_ms"] = round(reference.p50, 3)
                    results[f"{name}_{key}_ref_p95_ms"] = round(reference.p95, 3)
                    results[f"{name}_{key}_ratio_p50"] = round(measured.p50 / reference.p50, 2)
                    results[f"{name}_{key}_ratio_p95"] = round(measured.p95 / reference.p95, 2)
                results[f"tree_with_events_{key}_p95_ms"] = round(with_events.p95, 3)
                results[f"holder_path_{key}_p95_ms"] = round(holders.p95, 3)
                results[f"first_page_200_{key}_p95_ms"] = round(first_page.p95, 3)
                results[f"summary_{key}_p95_ms"] = round(summary.p95, 3)
                results[f"deepest_leaf_{key}_depth"] = t.deepest_depth
                results[f"events_{key}"] = t.events
        results["machine"] = machine(engine)
        results["machine"]["load_average_1m_at_start"] = round(load_at_start, 2)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    header = f"{'tree size':>9} | {'query':<40} | {'rows':>6} | {'p50 ms':>8} | {'p95 ms':>8} | "
    header += f"{'reference p50/p95 ms':>21} | {'ratio p50/p95':>13}"
    print()
    print(header)
    print("-" * len(header))
    for key, name, _size, timing, ref in table:
        ref_text = f"{ref.p50:.3f} / {ref.p95:.3f}" if ref else "-"
        ratio_text = f"{timing.p50 / ref.p50:.2f} / {timing.p95 / ref.p95:.2f}" if ref else "-"
        print(
            f"{key:>9} | {name:<40} | {timing.rows:>6} | {timing.p50:>8.3f} | {timing.p95:>8.3f} | "
            f"{ref_text:>21} | {ratio_text:>13}"
        )
    print(
        "(reference: SELECT of the same rows by primary key, WHERE id = ANY(:ids), same session and mapping)"
    )
    m = results["machine"]
    print(
        f"machine: {m['platform']}; {m['cpu']}; {m['cores']} cores; PostgreSQL {m['postgresql']}; "
        f"load average (1 min) at start {load_at_start:.2f}, at end {m['load_average_1m']:.2f}"
    )

    failures: list[str] = []
    if "tree_10k_p95_ms" in results and results["tree_10k_p95_ms"] >= GOAL_TREE_10K_P95_MS:
        failures.append(f"whole 10k tree p95 {results['tree_10k_p95_ms']} ms >= {GOAL_TREE_10K_P95_MS} ms")
    for size in sizes:
        key = f"ancestors_{label(size)}_p95_ms"
        if results[key] >= GOAL_ANCESTORS_P95_MS:
            failures.append(f"{key} {results[key]} ms >= {GOAL_ANCESTORS_P95_MS} ms")
    results["goals"] = {"tree_10k_p95_ms": GOAL_TREE_10K_P95_MS, "ancestors_p95_ms": GOAL_ANCESTORS_P95_MS}
    results["goals_met"] = not failures
    print(json.dumps(results, sort_keys=True))
    if failures and not args.no_check:
        print("goal missed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
