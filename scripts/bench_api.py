"""Gateway benchmark: write throughput against raw web3.py, and read latency under load.

One run: start anvil from node_modules on a free port, create a fresh PostgreSQL schema, run
`credchain init` and then the gateway (`credchain run`, uvicorn, background indexer) as a separate
process on a free port, as tests/api/test_e2e_http.py does. Through the API: onboard a core
enterprise, a bank (which grants the core a limit) and a few suppliers; issue and accept a pool of
notes (2 N, spread over the suppliers).

(a) N splits through the gateway (POST /v1/notes/{id}/split, each a different active note into 2
    parts), sent by a few concurrent clients (one requests.Session per thread); each answer comes
    after the transaction is mined and indexed.
(b) N equivalent splits with raw web3.py: `LedgerClient.split` signed with the same members' keys
    (their custodial keystores decrypted from the gateway's database), same concurrency.
(c) Read latency of GET /v1/notes/{id}, GET /v1/notes/{id}/provenance and, as the in-run reference,
    GET /healthz, each under 50 concurrent clients.

    .venv/bin/python scripts/bench_api.py [--splits 200] [--writers 4] [--readers 50] [--reads 2000]

Needs PostgreSQL (CREDCHAIN_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Exits 1 if a goal is missed (gateway/raw split ratio >= 0.70, note and provenance p99 < 50 ms),
unless --no-check. The last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from scripts.bench_machine import cpu_model  # noqa: E402
from service.api.keyring import Keyring  # noqa: E402
from service.db.gateway_models import ApiMember  # noqa: E402
from service.db.session import make_engine, make_session_factory  # noqa: E402
from service.ledger.chain import ANVIL_DEV_KEY, http_chain  # noqa: E402
from service.ledger.client import LedgerClient, SplitPart  # noqa: E402
from tests.anvil import free_port, start_anvil  # noqa: E402

PG_URL = os.environ.get("CREDCHAIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MASTER_SECRET = "bench-api-secret"
GOAL_RATIO = 0.70
GOAL_P99_MS = 50.0
FACE = 1_000
SUPPLIERS = 4


def _env(rpc_url: str, schema: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_")}
    env.update(
        CREDCHAIN_RPC_URL=rpc_url,
        CREDCHAIN_DATABASE_URL=PG_URL,
        CREDCHAIN_DATABASE_SCHEMA=schema,
        CREDCHAIN_FUNDER_KEY=ANVIL_DEV_KEY,
        CREDCHAIN_FUNDING_WEI=str(10**18),
        CREDCHAIN_MASTER_SECRET=MASTER_SECRET,
        CREDCHAIN_KEY_KDF_ITERATIONS="1",
        CREDCHAIN_POLL_INTERVAL="0.1",
        CREDCHAIN_WRITE_WAIT_SECONDS="20",
        **extra,
    )
    return env


class Gateway:
    """`credchain init`, then `credchain run` in a subprocess; `stop()` ends it."""

    def __init__(self, rpc_url: str, schema: str, log_path: Path) -> None:
        init = subprocess.run(
            [sys.executable, "-m", "service.cli", "init"],
            cwd=REPO_ROOT,
            env=_env(rpc_url, schema),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"credchain init failed:\n{init.stdout}{init.stderr}")
        contract = re.search(r"^CREDCHAIN_CONTRACT_ADDRESS=(0x[0-9a-fA-F]{40})$", init.stdout, re.M)
        from_block = re.search(r"^CREDCHAIN_FROM_BLOCK=([0-9]+)$", init.stdout, re.M)
        operator_key = re.search(r"operator API key \(shown once\): (\S+)$", init.stdout, re.M)
        if not (contract and from_block and operator_key):
            raise RuntimeError(f"unexpected `credchain init` output:\n{init.stdout}")
        self.contract = contract[1]
        self.operator_key = operator_key[1]
        self.log_path = log_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = _env(
            rpc_url, schema, CREDCHAIN_CONTRACT_ADDRESS=contract[1], CREDCHAIN_FROM_BLOCK=from_block[1]
        )
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "run", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{log_path.read_text()}")
            try:
                if requests.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gateway not ready in time:\n{log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Client:
    """One requests.Session per thread (sessions are not shared between threads)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, key: str | None, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.session.request(method, self.base + path, json=body, headers=headers, timeout=60)

    def ok(self, key: str, method: str, path: str, body: Any = None) -> Any:
        answer = self.call(key, method, path, body)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text}")
        return answer.json()


def _parallel(jobs: Sequence[Callable[[], Any]], workers: int) -> tuple[list[Any], float]:
    """Run `jobs` on `workers` threads; (results in order, wall seconds)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: job(), jobs))
    return results, time.perf_counter() - started


def _latency(client: Client, key: str, paths: Sequence[str], count: int, readers: int) -> dict[str, float]:
    """`count` GETs cycling over `paths` from `readers` threads; p50/p99/mean in ms and req/s."""

    def one(i: int) -> float:
        path = paths[i % len(paths)]
        t0 = time.perf_counter()
        answer = client.call(key, "GET", path)
        elapsed = time.perf_counter() - t0
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text}")
        return elapsed * 1000

    # warm every reader's connection first
    _parallel([lambda i=i: one(i) for i in range(readers)], readers)
    samples, seconds = _parallel([lambda i=i: one(i) for i in range(count)], readers)
    samples.sort()
    return {
        "p50_ms": round(samples[len(samples) // 2], 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "max_ms": round(samples[-1], 2),
        "per_s": round(count / seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=int, default=200, help="splits per path (gateway and raw)")
    parser.add_argument("--writers", type=int, default=4, help="concurrent write clients")
    parser.add_argument("--readers", type=int, default=50, help="concurrent read clients")
    parser.add_argument("--reads", type=int, default=2000, help="requests per read endpoint")
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    n: int = args.splits
    run_started = time.perf_counter()

    node = start_anvil()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    gateway: Gateway | None = None
    tmp = tempfile.TemporaryDirectory()
    try:
        t0 = time.perf_counter()
        gateway = Gateway(node.url, schema, Path(tmp.name) / "gateway.log")
        started = time.perf_counter() - t0
        print(f"anvil at {node.url}; gateway at {gateway.base}; schema {schema} ({started:.1f} s)")
        http = Client(gateway.base)
        op = gateway.operator_key

        # ---------------------------------------------------------------- consortium
        t0 = time.perf_counter()
        keys: dict[str, str] = {}
        ids: dict[str, str] = {}
        cast = {"core": ["core_enterprise"], "bank": ["financier"]}
        cast.update({f"sup{i}": ["supplier"] for i in range(SUPPLIERS)})
        for name, roles in cast.items():
            member = http.ok(op, "POST", "/v1/members", {"name": name, "roles": roles})
            keys[name], ids[name] = member["api_key"], member["id"]
        http.ok(keys["bank"], "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": str(10**15)})
        suppliers = [f"sup{i}" for i in range(SUPPLIERS)]

        # ---------------------------------------------------------------- note pool (2 N notes)
        now = int(http_chain(node.url).now())
        maturity = datetime.fromtimestamp(now + 90 * 86_400, UTC).isoformat().replace("+00:00", "Z")

        def issue(i: int) -> tuple[str, str]:
            holder = suppliers[i % SUPPLIERS]
            body = {
                "to": ids[holder],
                "amount": str(FACE),
                "currency": "USD",
                "maturity": maturity,
                "document_hash": "0x" + uuid.uuid4().hex * 2,
            }
            (note_id,) = http.ok(keys["core"], "POST", "/v1/notes", body)["note_ids"]
            http.ok(keys[holder], "POST", f"/v1/notes/{note_id}/accept")
            return holder, note_id

        pool, seconds = _parallel([lambda i=i: issue(i) for i in range(2 * n)], args.writers)
        print(
            f"setup: {len(cast)} members, {len(pool)} notes issued and accepted via the API ({seconds:.1f} s)"
        )
        gateway_notes, raw_notes = pool[:n], pool[n:]

        # ---------------------------------------------------------------- (a) gateway splits
        def gateway_split(holder: str, note_id: str) -> list[str]:
            other = suppliers[(suppliers.index(holder) + 1) % SUPPLIERS]
            body = {"parts": [{"to": ids[other], "amount": "600"}, {"to": ids[holder], "amount": "400"}]}
            result = http.ok(keys[holder], "POST", f"/v1/notes/{note_id}/split", body)
            if not result["indexed"] or len(result["note_ids"]) != 2:
                raise RuntimeError(f"split of {note_id}: {result}")
            return list(result["note_ids"])

        children, gw_seconds = _parallel(
            [lambda h=h, i=i: gateway_split(h, i) for h, i in gateway_notes], args.writers
        )
        gw_rate = n / gw_seconds
        print(f"(a) gateway: {n} splits in {gw_seconds:.2f} s = {gw_rate:.1f} splits/s")

        # ---------------------------------------------------------------- (b) raw web3 splits
        engine = make_engine(PG_URL, schema=schema)
        keyring = Keyring(MASTER_SECRET, 1)
        with make_session_factory(engine)() as session:
            rows = session.scalars(
                select(ApiMember).where(ApiMember.id.in_([ids[s] for s in suppliers]))
            ).all()
            accounts = {row.id: keyring.account(row.address, row.encrypted_key or {}) for row in rows}
        engine.dispose()
        chain = http_chain(node.url)
        ledger = LedgerClient(chain.w3, gateway.contract)
        address = {s: accounts[ids[s]].address for s in suppliers}

        def raw_split(holder: str, note_id: str) -> int:
            other = suppliers[(suppliers.index(holder) + 1) % SUPPLIERS]
            parts = [SplitPart(to=address[other], amount=600), SplitPart(to=address[holder], amount=400)]
            result = ledger.split(accounts[ids[holder]], int(note_id), parts)
            if len(result.created_note_ids()) != 2:
                raise RuntimeError(f"raw split of {note_id}: {result}")
            return result.block_number

        _, raw_seconds = _parallel([lambda h=h, i=i: raw_split(h, i) for h, i in raw_notes], args.writers)
        raw_rate = n / raw_seconds
        ratio = gw_rate / raw_rate
        print(f"(b) raw web3 LedgerClient: {n} splits in {raw_seconds:.2f} s = {raw_rate:.1f} splits/s")

        # ---------------------------------------------------------------- (c) read latency
        # each child's first part went to the next supplier; read as that holder
        reader = suppliers[1]
        readable = [
            kids[0] for (holder, _), kids in zip(gateway_notes, children, strict=True) if holder == "sup0"
        ]
        note_paths = [f"/v1/notes/{c}" for c in readable]
        prov_paths = [f"/v1/notes/{c}/provenance" for c in readable]
        key = keys[reader]
        note_lat = _latency(http, key, note_paths, args.reads, args.readers)
        print(f"(c) GET /v1/notes/{{id}}: {note_lat}")
        prov_lat = _latency(http, key, prov_paths, args.reads, args.readers)
        print(f"(c) GET /v1/notes/{{id}}/provenance: {prov_lat}")
        health_lat = _latency(http, key, ["/healthz"], args.reads, args.readers)
        print(f"(c) GET /healthz: {health_lat}")
    finally:
        if gateway is not None:
            gateway.stop()
        node.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        tmp.cleanup()

    print("\n| measure | value | goal |")
    print("|---|---:|---|")
    print(
        f"| gateway splits/s ({args.writers} clients, {n} splits, answered when indexed) | {gw_rate:.1f} | |"
    )
    print(f"| raw web3 LedgerClient splits/s ({args.writers} threads) | {raw_rate:.1f} | |")
    print(f"| ratio gateway / raw | {ratio:.3f} | >= {GOAL_RATIO} |")
    for label, lat, goal in (
        ("GET /v1/notes/{id}", note_lat, f"p99 < {GOAL_P99_MS:.0f} ms"),
        ("GET /v1/notes/{id}/provenance", prov_lat, f"p99 < {GOAL_P99_MS:.0f} ms"),
        ("GET /healthz (reference)", health_lat, ""),
    ):
        print(
            f"| {label}, {args.readers} clients: p50 / p99 ms ({lat['per_s']:.0f} req/s) "
            f"| {lat['p50_ms']:.1f} / {lat['p99_ms']:.1f} | {goal} |"
        )
    machine = {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    cores = f"{machine['cpus']} cores"
    print(f"machine: {machine['platform']}, {machine['cpu']}, {cores}, Python {machine['python']}")
    print(f"total run: {time.perf_counter() - run_started:.1f} s")
    misses = []
    if ratio < GOAL_RATIO:
        misses.append(f"gateway/raw split ratio {ratio:.3f} < {GOAL_RATIO}")
    if note_lat["p99_ms"] >= GOAL_P99_MS:
        misses.append(f"GET /v1/notes/{{id}} p99 {note_lat['p99_ms']} ms >= {GOAL_P99_MS} ms")
    if prov_lat["p99_ms"] >= GOAL_P99_MS:
        misses.append(f"GET /v1/notes/{{id}}/provenance p99 {prov_lat['p99_ms']} ms >= {GOAL_P99_MS} ms")
    for miss in misses:
        print(f"goal missed: {miss}")
    result = {
        "gateway_splits_per_s": round(gw_rate, 2),
        "raw_splits_per_s": round(raw_rate, 2),
        "ratio": round(ratio, 3),
        "note_p50_ms": note_lat["p50_ms"],
        "note_p99_ms": note_lat["p99_ms"],
        "provenance_p50_ms": prov_lat["p50_ms"],
        "provenance_p99_ms": prov_lat["p99_ms"],
        "healthz_p50_ms": health_lat["p50_ms"],
        "healthz_p99_ms": health_lat["p99_ms"],
        "machine": machine,
    }
    print(json.dumps(result))
    return 0 if args.no_check or not misses else 1


if __name__ == "__main__":
    sys.exit(main())
