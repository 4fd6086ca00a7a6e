"""Server time of each web console page at the embedded demo's size, against the REST call that
returns the same data, measured in the same run.

One run: the embedded demo as `credchain run` seeds it (in-process chain, SQLite, the demo
consortium), in a temporary directory, behind the gateway on a real port (uvicorn in a thread).
The walkthrough's story is played through the REST API (Acme issues to Gearbox, Gearbox accepts and
splits to Castings, Castings splits to Bearings, First Bank offers on Bearings' piece), plus
`--notes` more notes issued and accepted (a few per supplier). Then each console page is requested
`--requests` times by its member (a signed-in session; one client, back to back, after `--warmup`
requests), and so is its reference: the REST read that returns the same data (the console page
renders it to HTML through the same service). Latency is the client's round trip on the loopback.

Prints the table and the machine; the last line is one JSON object (per page: p50 and p95 in ms,
the reference's p95 and the ratio; the worst page's p95 against the goal of 100 ms).

    .venv/bin/python scripts/bench_console.py [--notes 20] [--requests 200] [--warmup 10] [--no-check]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402
import uvicorn  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from scripts.bench_machine import machine_info  # noqa: E402
from service.api.app import create_app  # noqa: E402
from service.console.auth.routes import DemoMember  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.setup.embedded import embedded_gateway  # noqa: E402
from service.setup.seed import Credential  # noqa: E402
from tests.anvil import free_port  # noqa: E402

GOAL_MS = 100.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


class Client:
    """A member's HTTP session: REST with its API key, the console with a signed-in cookie."""

    def __init__(self, base: str, credential: Credential) -> None:
        self.base = base
        self.credential = credential
        self.rest = requests.Session()
        self.rest.headers["Authorization"] = f"Bearer {credential.api_key}"
        self.web = requests.Session()
        page = self.web.get(f"{base}/console/sign-in")
        found = CSRF.search(page.text)
        assert found is not None
        signed = self.web.post(
            f"{base}/console/sign-in",
            data={"csrf_token": found.group(1), "api_key": credential.api_key, "next": "/console/"},
            allow_redirects=False,
        )
        assert signed.status_code == 303, signed.text

    def post(self, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        answer = self.rest.post(self.base + path, json=body, headers=headers)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)
        return answer.json()


def play_story(base: str, clients: dict[str, Client], notes: int, now: int) -> dict[str, str]:
    """The walkthrough through the REST API, and `notes` more notes issued and accepted."""
    ids = {name: c.credential.id for name, c in clients.items()}
    maturity = (datetime.fromtimestamp(now, UTC) + timedelta(days=120)).isoformat().replace("+00:00", "Z")

    def issue(to: str, amount: str, n: int) -> str:
        body = {
            "to": ids[to],
            "amount": amount,
            "currency": "USD",
            "maturity": maturity,
            "document_hash": "0x" + (0xC0501E000 + n).to_bytes(32, "big").hex(),
            "reference": f"INV-BENCH-{n:05d}",
        }
        note_id: str = clients["acme"].post("/v1/notes", body)["note_ids"][0]
        clients[to].post(f"/v1/notes/{note_id}/accept")
        return note_id

    root = issue("gearbox", "100000000", 0)
    split1 = clients["gearbox"].post(
        f"/v1/notes/{root}/split",
        {
            "parts": [
                {"to": ids["gearbox"], "amount": "60000000"},
                {"to": ids["castings"], "amount": "40000000"},
            ]
        },
    )
    piece = split1["note_ids"][-1]
    split2 = clients["castings"].post(
        f"/v1/notes/{piece}/split",
        {
            "parts": [
                {"to": ids["castings"], "amount": "25000000"},
                {"to": ids["bearings"], "amount": "15000000"},
            ]
        },
    )
    leaf = split2["note_ids"][-1]
    deadline = (datetime.fromtimestamp(now, UTC) + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    clients["bank"].post(f"/v1/notes/{leaf}/discount-offers", {"rate": "0.045", "deadline": deadline})
    suppliers = ("gearbox", "castings", "bearings")
    for n in range(notes):
        issue(suppliers[n % 3], str(1_000_000 + n * 100), n + 1)
    return {"root": root, "leaf": leaf}


def pages(story: dict[str, str], ids: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(member, console page, REST reference, label): each page and the REST read of its data."""
    root, leaf = story["root"], story["leaf"]
    return [
        ("gearbox", "/console/", f"/v1/settlement-tokens/USD/accounts/{ids['gearbox']}", "start page"),
        ("gearbox", "/console/notes", f"/v1/notes?holder={ids['gearbox']}", "supplier notes"),
        ("gearbox", f"/console/notes/{root}", f"/v1/notes/{root}", "note page"),
        ("bearings", "/console/offers", "/v1/discount-offers", "offers received"),
        ("bearings", "/console/payments", "/v1/events?types=payment.received,note.discounted", "payments"),
        (
            "bearings",
            "/console/evidence",
            f"/v1/members/{ids['bearings']}/credit-score",
            "evidence and score",
        ),
        (
            "bank",
            f"/console/notes/{leaf}/offer?rate=4.5",
            f"/v1/quotes/discount?note={leaf}&rate=0.045",
            "quote",
        ),
        ("bank", "/console/holdings", f"/v1/notes?holder={ids['bank']}", "holdings"),
        ("bank", "/console/credit-limits", "/v1/credit-relationships", "credit limits"),
        ("acme", "/console/issue", "/v1/members", "issue form"),
        ("acme", "/console/calendar", f"/v1/notes?obligor={ids['acme']}", "maturity calendar"),
        ("operator", "/console/members", "/v1/members", "members"),
        ("auditor", "/console/search?q=INV-BENCH-00001", "/v1/notes?reference=INV-BENCH-00001", "search"),
    ]


def measure(session: requests.Session, url: str, count: int, warmup: int) -> tuple[list[float], int]:
    errors = 0
    for _ in range(warmup):
        session.get(url)
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        answer = session.get(url, allow_redirects=False)
        samples.append((time.perf_counter() - began) * 1000)
        errors += answer.status_code != 200
    return samples, errors


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notes", type=int, default=20, help="notes issued and accepted beyond the story")
    parser.add_argument("--requests", type=int, default=200, help="requests of each page and reference")
    parser.add_argument("--warmup", type=int, default=10, help="requests of each before measuring")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a page misses the goal")
    args = parser.parse_args()
    load_before = os.getloadavg()
    tmp = tempfile.TemporaryDirectory()
    var = Path(tmp.name)
    settings = Settings(
        rpc_url="embedded",
        database_url=f"sqlite:///{var / 'demo.sqlite'}",
        master_secret=SecretStr("bench-secret"),
        key_kdf_iterations=1,
        alert_interval_seconds=0,
    )
    context, _key, seeded = embedded_gateway(settings, seed=True, credentials_path=var / "credentials.json")
    assert seeded is not None
    demo = [DemoMember(c.id, c.name, tuple(c.roles)) for c in seeded.values()]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(context, console_demo=demo), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the gateway did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    try:
        clients = {name: Client(base, credential) for name, credential in seeded.items()}
        story = play_story(base, clients, args.notes, context.chain.now())
        ids = {name: c.credential.id for name, c in clients.items()}
        for who, page, reference, label in pages(story, ids):
            client = clients[who]
            console, console_errors = measure(client.web, base + page, args.requests, args.warmup)
            rest, rest_errors = measure(client.rest, base + reference, args.requests, args.warmup)
            rows.append(
                {
                    "page": page,
                    "label": label,
                    "member": who,
                    "p50_ms": percentile(console, 0.5),
                    "p95_ms": percentile(console, 0.95),
                    "reference": reference,
                    "reference_p95_ms": percentile(rest, 0.95),
                    "ratio": round(percentile(console, 0.95) / max(percentile(rest, 0.95), 0.01), 2),
                    "errors": console_errors + rest_errors,
                }
            )
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        context.close()
        tmp.cleanup()
    machine = machine_info()
    print(f"{'page':<44} {'member':<9} {'p50 ms':>8} {'p95 ms':>8} {'REST p95':>9} {'ratio':>6}  reference")
    for row in rows:
        print(
            f"{row['page'][:44]:<44} {row['member']:<9} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} "
            f"{row['reference_p95_ms']:>9.2f} {row['ratio']:>6.2f}  {row['reference'][:60]}"
        )
    worst = max(rows, key=lambda r: r["p95_ms"])
    load_after = os.getloadavg()
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}, "
        f"Python {machine['python']}; load {load_before[0]:.2f} -> {load_after[0]:.2f}"
    )
    print(f"worst page p95: {worst['p95_ms']} ms ({worst['page']}); goal {GOAL_MS:.0f} ms")
    met = worst["p95_ms"] < GOAL_MS
    result = {
        "notes": args.notes,
        "requests": args.requests,
        "pages": rows,
        "worst_p95_ms": worst["p95_ms"],
        "goal_ms": GOAL_MS,
        "goal_met": met,
        "errors": sum(r["errors"] for r in rows),
        "machine": machine,
        "load": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    print(json.dumps(result))
    return 0 if met or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
