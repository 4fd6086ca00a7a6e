"""Provenance of a large tree through the gateway: what cycling the notes of one big tree costs the
other reads of the same gateway.

One run: anvil from node_modules, a fresh PostgreSQL schema, `credchain init` and `credchain run
--workers W` as separate processes (as scripts/bench_api.py does). Into the gateway's database goes,
by COPY, a generated tree of --size notes (scripts/bench_provenance.py's `TreeBuilder`: bushy splits,
transfers, a chain of two-way splits to depth 30+) and a small tree of 100 notes, and every address
in them as a member. Then, all reads as the operator (who may see everything):

(a) reference: `--readers` clients read GET /v1/notes/{id} (notes of the small tree) open loop,
    `--rate` requests/s each, for `--seconds` (latency counted from when each request was due);
(b) the same open-loop note reads while `--cyclers` clients read GET /v1/notes/{id}/provenance back
    to back, cycling over the notes of the large tree (each request another note);
(c) the large-tree reads of (b): answer size and latency.

The reference (a) is measured in the same run, just before (b). `--gateway-source DIR` runs the
gateway from another checkout (e.g. the commit before a change, `git archive` into a directory), with
this script's load, so before and after are measured the same way. Prints a table and the machine;
the last line is one JSON object.

    .venv/bin/python scripts/bench_provenance_gateway.py [--size 10000] [--workers 2] [--cyclers 4]
        [--readers 10] [--rate 10] [--seconds 20] [--gateway-source DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

from scripts.bench_api import PG_URL, Gateway, _summary  # noqa: E402
from scripts.bench_machine import machine_info  # noqa: E402
from scripts.bench_provenance import EVENT_COLUMNS, NOTE_COLUMNS, OBLIGOR, TreeBuilder, copy_rows  # noqa: E402
from service.db.gateway_models import ApiMember  # noqa: E402
from service.db.session import make_engine  # noqa: E402
from tests.anvil import start_anvil  # noqa: E402

BIG_ROOT_SEQ = 900_001
SMALL_ROOT_SEQ = 900_002


class Connection:
    """One HTTP/1.1 keep-alive connection; `get` answers (status, body bytes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> tuple[int, int]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status, length

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request(port: int, key: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()


async def run_reads(
    port: int, others: list[bytes], trees: list[bytes], args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float] | None, list[int]]:
    """Open-loop reads of `others` for `args.seconds`, and, if `trees`, `args.cyclers` closed-loop
    clients cycling over `trees` meanwhile. (others' summary, trees' summary, tree answer sizes)."""
    readers = [Connection(port) for _ in range(args.readers)]
    await asyncio.gather(*(c.get(others[i % len(others)]) for i, c in enumerate(readers)))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    interval = 1.0 / args.rate
    samples: list[float] = []
    tree_samples: list[float] = []
    sizes: list[int] = []
    errors = [0, 0]
    done = False
    next_tree = 0

    async def reader(index: int, connection: Connection) -> None:
        due = start + interval * index / args.readers
        k = index
        while due < start + args.seconds:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            status, _ = await connection.get(others[k % len(others)])
            errors[0] += status != 200
            samples.append((loop.time() - due) * 1000)
            due += interval
            k += args.readers

    async def cycler(connection: Connection) -> None:
        nonlocal next_tree
        while not done:
            path = trees[next_tree % len(trees)]
            next_tree += 1
            began = loop.time()
            status, size = await connection.get(path)
            errors[1] += status != 200
            tree_samples.append((loop.time() - began) * 1000)
            sizes.append(size)

    cyclers = [Connection(port) for _ in range(args.cyclers if trees else 0)]
    background = [asyncio.ensure_future(cycler(c)) for c in cyclers]
    await asyncio.gather(*(reader(i, c) for i, c in enumerate(readers)))
    elapsed = loop.time() - start
    done = True
    await asyncio.gather(*background)
    for c in readers + cyclers:
        c.close()
    other = _summary(samples, elapsed, errors[0])
    tree = _summary(tree_samples, elapsed, errors[1]) if trees else None
    return other, tree, sizes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000, help="notes of the large tree")
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    parser.add_argument("--cyclers", type=int, default=4, help="clients cycling the large tree's notes")
    parser.add_argument("--readers", type=int, default=10, help="open-loop clients of the other reads")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s of each open-loop client")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of each phase")
    parser.add_argument(
        "--gateway-source", type=Path, default=REPO_ROOT, help="checkout to run the gateway from"
    )
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    load_before = os.getloadavg()
    node = start_anvil()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    gateway: Gateway | None = None
    tmp = tempfile.TemporaryDirectory()
    result: dict[str, Any] = {"size": args.size, "gateway_source": str(args.gateway_source)}
    try:
        gateway = Gateway(
            node.url,
            schema,
            Path(tmp.name) / "gw.log",
            args.workers,
            None,
            source=args.gateway_source.resolve(),
            ready_seconds=90,
        )
        engine = make_engine(PG_URL, schema=schema)
        rng = random.Random(args.seed)
        big = TreeBuilder(BIG_ROOT_SEQ, rng, first_block=1_000_000, first_event_id=10_000_000).build(
            args.size
        )
        small = TreeBuilder(SMALL_ROOT_SEQ, rng, first_block=2_000_000, first_event_id=20_000_000).build(100)
        for built in (big, small):
            copy_rows(engine, "notes", NOTE_COLUMNS, built.notes)
            copy_rows(engine, "events", EVENT_COLUMNS, built.events)
        addresses = {row[NOTE_COLUMNS.index("holder")] for b in (big, small) for row in b.notes} | {OBLIGOR}
        with engine.connect() as conn:  # every address in the trees is a member, as on a real ledger
            conn.execute(
                insert(ApiMember),
                [
                    {
                        "id": f"m_bench{i:05d}",
                        "name": f"bench member {i}",
                        "address": address,
                        "roles": "supplier",
                        "api_key_hash": uuid.uuid4().hex,
                        "custody": "custodial",
                    }
                    for i, address in enumerate(sorted(addresses))
                ],
            )
            conn.commit()
            conn.execute(text("ANALYZE"))
            conn.commit()
        engine.dispose()
        big_ids = [row[0] for row in big.notes]
        small_ids = [row[0] for row in small.notes]
        rng.shuffle(big_ids)
        key, port = gateway.operator_key, gateway.port
        print(
            f"gateway from {args.gateway_source} at {gateway.base}; trees of {args.size} and 100 notes loaded"
        )

        started = time.perf_counter()
        first = requests.get(
            f"{gateway.base}/v1/notes/{big.deepest_leaf}/provenance",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
        cold_ms = (time.perf_counter() - started) * 1000
        assert first.status_code == 200, first.text[:500]
        body = first.json()
        result["cold_read_ms"] = round(cold_ms, 1)
        result["cold_read_bytes"] = len(first.content)
        result["tree_nodes_in_answer"] = len(body["tree"])
        others = [request(port, key, f"/v1/notes/{n}") for n in small_ids]
        trees = [request(port, key, f"/v1/notes/{n}/provenance") for n in big_ids]
        reference, _, _ = asyncio.run(run_reads(port, others, [], args))
        loaded, cycled, sizes = asyncio.run(run_reads(port, others, trees, args))
        assert cycled is not None
        result.update(
            reference_p50_ms=reference["p50_ms"],
            reference_p99_ms=reference["p99_ms"],
            loaded_p50_ms=loaded["p50_ms"],
            loaded_p99_ms=loaded["p99_ms"],
            p50_ratio=round(loaded["p50_ms"] / reference["p50_ms"], 2),
            tree_reads=cycled["requests"],
            tree_reads_per_s=cycled["per_s"],
            tree_p50_ms=cycled["p50_ms"],
            tree_p99_ms=cycled["p99_ms"],
            tree_answer_bytes_mean=round(sum(sizes) / len(sizes)) if sizes else 0,
            errors=reference["errors"] + loaded["errors"] + cycled["errors"],
            readers=args.readers,
            rate=args.rate,
            cyclers=args.cyclers,
            seconds=args.seconds,
            workers=args.workers,
        )
    finally:
        if gateway is not None:
            gateway.stop()
        node.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        tmp.cleanup()

    offered = args.readers * args.rate
    print()
    print(f"| measure ({args.size:,}-note tree, {args.workers} workers) | value |")
    print("|---|---:|")
    print(
        "| first read of the large tree's deepest leaf: ms / bytes | "
        f"{result['cold_read_ms']:,} / {result['cold_read_bytes']:,} |"
    )
    print(f"| tree nodes in one answer | {result['tree_nodes_in_answer']:,} |")
    print(
        f"| GET /v1/notes/{{id}} alone (reference), {args.readers} clients x {args.rate:g}/s "
        f"({offered:.0f}/s): "
        f"p50 / p99 ms | {result['reference_p50_ms']:.1f} / {result['reference_p99_ms']:.1f} |"
    )
    print(
        f"| GET /v1/notes/{{id}} beside {args.cyclers} clients cycling the tree: p50 / p99 ms | "
        f"{result['loaded_p50_ms']:.1f} / {result['loaded_p99_ms']:.1f} |"
    )
    print(f"| other reads' p50 beside / alone | {result['p50_ratio']:.2f} |")
    print(
        f"| GET /v1/notes/{{id}}/provenance cycling the tree ({args.cyclers} clients back to back): "
        f"p50 / p99 ms, req/s | {result['tree_p50_ms']:.1f} / {result['tree_p99_ms']:.1f}, "
        f"{result['tree_reads_per_s']:.1f} |"
    )
    print(f"| mean provenance answer, bytes | {result['tree_answer_bytes_mean']:,} |")
    machine = machine_info()
    machine["load_before"] = [round(x, 2) for x in load_before]
    print(
        f"machine: {machine['platform']}, {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}; load average before the run {machine['load_before']}"
    )
    result["machine"] = machine
    print(json.dumps(result, sort_keys=True))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
