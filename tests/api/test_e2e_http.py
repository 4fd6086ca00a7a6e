"""End to end over real HTTP: anvil, PostgreSQL (a schema of its own) and the gateway as a separate
process (`credchain init`, then `credchain run` against the node, with its background indexer), the
main story told through requests, and `credchain reconcile` finding SQL and the chain equal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from service.api.problems import ERRORS_BASE, PROBLEM_JSON
from service.ledger.chain import ANVIL_DEV_KEY, Chain
from tests.anvil import REPO_ROOT, free_port
from tests.databases import PG_URL

pytestmark = pytest.mark.integration

RUN = [sys.executable, "-m", "service.cli", "run"]
TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")
NOTE_ID = re.compile(r"^[0-9]+$")
FACE = 1_000_000


def wait_until_answering(
    process: subprocess.Popen[bytes], url: str, log_path: Path, seconds: float, pause: float = 0.1
) -> None:
    """Wait until the gateway `process` answers 200 at `url`; fail the test (with its log) if it
    exits or does not answer within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"gateway exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"gateway not answering {url} in time:\n{log_path.read_text()}")
        time.sleep(pause)


def _env(rpc_url: str, schema: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_")}
    env.update(
        CREDCHAIN_RPC_URL=rpc_url,
        CREDCHAIN_DATABASE_URL=PG_URL,
        CREDCHAIN_DATABASE_SCHEMA=schema,
        CREDCHAIN_FUNDER_KEY=ANVIL_DEV_KEY,
        CREDCHAIN_FUNDING_WEI=str(10**18),
        CREDCHAIN_MASTER_SECRET="e2e-master-secret-0123456789abcdef",
        CREDCHAIN_KEY_KDF_ITERATIONS="1",
        CREDCHAIN_POLL_INTERVAL="0.1",
        CREDCHAIN_WRITE_WAIT_SECONDS="20",
        **extra,
    )
    return env


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def gateway(anvil: Chain, pg_schema: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`credchain init` (deploys, registers the operator), then `credchain run` in the background."""
    yield from _gateway(anvil, pg_schema, tmp_path, workers=1)


@pytest.fixture
def workers_gateway(anvil: Chain, pg_schema: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The same with `credchain run --workers 2`."""
    yield from _gateway(anvil, pg_schema, tmp_path, workers=2)


def _gateway(
    anvil: Chain,
    pg_schema: str,
    tmp_path: Path,
    workers: int,
    run_rpc_url: str | None = None,
    **extra_env: str,
) -> Iterator[dict[str, Any]]:
    """`run_rpc_url`: the node as `credchain run` reaches it (default: anvil itself)."""
    rpc_url = str(anvil.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    init = _cli("init", env=_env(rpc_url, pg_schema))
    assert init.returncode == 0, init.stdout + init.stderr
    contract = re.search(r"^CREDCHAIN_CONTRACT_ADDRESS=(0x[0-9a-fA-F]{40})$", init.stdout, re.M)
    from_block = re.search(r"^CREDCHAIN_FROM_BLOCK=([0-9]+)$", init.stdout, re.M)
    operator_key = re.search(r"operator API key \(shown once\): (\S+)$", init.stdout, re.M)
    relayer_key = re.search(r"^CREDCHAIN_RELAYER_KEY=(0x[0-9a-f]{64})$", init.stdout, re.M)
    assert contract and from_block and operator_key and relayer_key, init.stdout

    env = _env(
        run_rpc_url or rpc_url,
        pg_schema,
        CREDCHAIN_CONTRACT_ADDRESS=contract[1],
        CREDCHAIN_FROM_BLOCK=from_block[1],
        CREDCHAIN_RELAYER_KEY=relayer_key[1],
        **extra_env,
    )
    port = free_port()
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*RUN, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{base}/readyz", log_path, 60)
        yield {
            "base": base,
            "rpc_url": rpc_url,
            "schema": pg_schema,
            "contract": contract[1],
            "from_block": from_block[1],
            "operator_key": operator_key[1],
            "chain": anvil,
            "log": log_path,
            "pid": process.pid,
            "port": port,
            "env": env,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Http:
    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.keys: dict[str, str] = {}

    def call(self, who: str | None, method: str, path: str, body: Any = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return self.session.request(
            method, self.base + path, json=body, params=params or None, headers=headers, timeout=60
        )

    def ok(self, who: str, method: str, path: str, body: Any = None, status: int = 200, **params: Any) -> Any:
        answer = self.call(who, method, path, body, **params)
        assert answer.status_code == status, f"{method} {path}: {answer.status_code} {answer.text}"
        assert answer.headers["content-type"].startswith("application/json")
        return answer.json()


def reconcile_gateway(gateway: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`credchain reconcile` of the gateway's database schema against its contract on the node."""
    return _cli(
        "reconcile",
        "--rpc-url",
        gateway["rpc_url"],
        "--database-url",
        PG_URL,
        "--database-schema",
        gateway["schema"],
        "--contract",
        gateway["contract"],
        "--from-block",
        gateway["from_block"],
        env=_env(gateway["rpc_url"], gateway["schema"]),
    )


def _write_ok(result: dict[str, Any]) -> None:
    assert TX_HASH.match(result["tx_hash"]), result
    assert isinstance(result["block_number"], int) and result["block_number"] > 0
    assert result["indexed"] is True, result


def test_main_story_over_http(gateway: dict[str, Any]) -> None:
    http = Http(gateway["base"])
    http.keys["operator"] = gateway["operator_key"]
    chain: Chain = gateway["chain"]

    assert http.ok("operator", "GET", "/v1/members")["items"][0]["id"] == "operator"
    unauth = http.call(None, "GET", "/v1/members")
    assert unauth.status_code == 401 and unauth.headers["content-type"].startswith(PROBLEM_JSON)

    # the operator onboards the consortium
    ids: dict[str, str] = {}
    addresses: dict[str, str] = {}
    cast = {
        "core": ["core_enterprise"],
        "bank": ["financier"],
        "tier1": ["supplier"],
        "tier2a": ["supplier"],
        "tier2b": ["supplier"],
        "auditor": ["auditor"],
    }
    for name, roles in cast.items():
        member = http.ok("operator", "POST", "/v1/members", {"name": name, "roles": roles}, status=201)
        assert member["name"] == name and member["roles"] == roles and member["status"] == "active"
        assert member["custody"] == "custodial" and member["api_key"].startswith("cc_")
        assert TX_HASH.match(member["tx_hash"]) and re.match(r"^0x[0-9a-fA-F]{40}$", member["address"])
        http.keys[name], ids[name], addresses[name] = member["api_key"], member["id"], member["address"]
    registry = http.ok("tier1", "GET", "/v1/members")["items"]
    assert {m["id"] for m in registry} == {"operator", *ids.values()}

    # core approves the bank as its financier; the bank grants core a limit
    approval = http.ok("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    assert approval["relationship"]["status"] == "approved" and approval["relationship"]["grant"] == "0"
    limit = http.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "5000000"})
    assert TX_HASH.match(limit["tx_hash"])
    assert limit["obligor"] == addresses["core"] and limit["financier"] == addresses["bank"]
    assert limit["grant"] == "5000000" and limit["credit_limit"] == "5000000" and limit["outstanding"] == "0"

    # core issues to tier1; tier1 accepts
    maturity = datetime.fromtimestamp(chain.now() + 90 * 86_400, UTC).isoformat().replace("+00:00", "Z")
    document = "0x" + uuid.uuid4().hex * 2
    issued = http.ok(
        "core",
        "POST",
        "/v1/notes",
        {
            "to": ids["tier1"],
            "amount": str(FACE),
            "currency": "USD",
            "maturity": maturity,
            "document_hash": document,
            "reference": "PO-7",
        },
        status=201,
    )
    _write_ok(issued)
    (root,) = issued["note_ids"]
    assert NOTE_ID.match(root)
    (note,) = issued["notes"]
    assert note["id"] == root == note["root_id"] and note["parent_id"] is None and note["depth"] == 0
    assert note["amount"] == str(FACE) and note["status"] == "pending" and note["reference"] == "PO-7"
    assert note["holder_member"] == ids["tier1"] and note["obligor_member"] == ids["core"]
    assert note["document_hash"] == document and note["created_tx"] == issued["tx_hash"]

    accepted = http.ok("tier1", "POST", f"/v1/notes/{root}/accept")
    _write_ok(accepted)
    assert accepted["note_ids"] == [root] and accepted["notes"][0]["status"] == "active"

    # tier1 splits, passing 600000 to tier2a
    split = http.ok(
        "tier1",
        "POST",
        f"/v1/notes/{root}/split",
        {"parts": [{"to": ids["tier2a"], "amount": "600000"}, {"to": ids["tier1"], "amount": "400000"}]},
    )
    _write_ok(split)
    piece_a, piece_1 = split["note_ids"]
    assert [n["id"] for n in split["notes"]] == [piece_a, piece_1]
    assert [n["amount"] for n in split["notes"]] == ["600000", "400000"]
    assert [n["holder_member"] for n in split["notes"]] == [ids["tier2a"], ids["tier1"]]
    assert all(n["parent_id"] == root and n["root_id"] == root and n["depth"] == 1 for n in split["notes"])

    # a stranger cannot see it; the holder cannot split what it no longer holds
    assert http.call("tier2b", "GET", f"/v1/notes/{piece_a}").status_code == 404
    refused = http.call(
        "tier1",
        "POST",
        f"/v1/notes/{root}/split",
        {"parts": [{"to": ids["tier2a"], "amount": "1"}, {"to": ids["tier1"], "amount": "999999"}]},
    )
    assert refused.status_code == 409 and refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert refused.json()["type"] == ERRORS_BASE + "note-not-active"

    # tier2a splits again, 250000 to tier2b
    again = http.ok(
        "tier2a",
        "POST",
        f"/v1/notes/{piece_a}/split",
        {"parts": [{"to": ids["tier2b"], "amount": "250000"}, {"to": ids["tier2a"], "amount": "350000"}]},
    )
    _write_ok(again)
    piece_b, piece_a2 = again["note_ids"]
    assert [n["amount"] for n in again["notes"]] == ["250000", "350000"]
    assert all(n["parent_id"] == piece_a and n["depth"] == 2 for n in again["notes"])
    assert again["block_number"] > split["block_number"] > accepted["block_number"] > issued["block_number"]

    mine = http.ok("tier2b", "GET", "/v1/notes", holder=ids["tier2b"])["items"]
    assert [n["id"] for n in mine] == [piece_b] and mine[0]["amount"] == "250000"

    # the auditor traces tier2b's piece
    prov = http.ok("auditor", "GET", f"/v1/notes/{piece_b}/provenance")
    assert prov["note_id"] == piece_b and prov["root_id"] == root
    assert [n["id"] for n in prov["ancestors"]] == [root, piece_a, piece_b]
    tree = {n["id"]: n for n in prov["tree"]}
    assert set(tree) == {root, piece_a, piece_1, piece_b, piece_a2}
    parents = {n["id"]: n["parent_id"] for n in prov["tree"]}
    assert parents == {root: None, piece_a: root, piece_1: root, piece_b: piece_a, piece_a2: piece_a}
    assert {n["id"]: n["status"] for n in prov["tree"]} == {
        root: "split",
        piece_a: "split",
        piece_1: "active",
        piece_b: "active",
        piece_a2: "active",
    }
    for node in prov["tree"]:
        assert isinstance(node["amount"], str) and node["amount"].isdigit()
        kids = [n for n in prov["tree"] if n["parent_id"] == node["id"]]
        if kids:
            assert sum(int(k["amount"]) for k in kids) == int(node["amount"])
        for event in node["events"]:
            assert TX_HASH.match(event["tx_hash"]) and event["block_time"]
    leaves = [n for n in prov["tree"] if n["status"] == "active"]
    assert sum(int(n["amount"]) for n in leaves) == int(tree[root]["amount"]) == FACE
    assert [e["name"] for e in tree[root]["events"]][:2] == ["NoteIssued", "NoteAccepted"]
    assert tree[root]["events"][0]["tx_hash"] == issued["tx_hash"]
    assert any(e["tx_hash"] == again["tx_hash"] for e in tree[piece_b]["events"])
    holders = [(s["note_id"], s["event"], s["holder"]) for s in prov["holder_path"]]
    assert holders[0] == (root, "NoteIssued", addresses["tier1"])
    assert holders[-1] == (piece_b, "NoteSplit", addresses["tier2b"])
    assert (piece_a, "NoteSplit", addresses["tier2a"]) in holders

    # SQL and the chain agree
    reconcile = reconcile_gateway(gateway)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert reconcile.stdout.strip().endswith(": 0 differences"), reconcile.stdout
    assert "5 notes" in reconcile.stdout, reconcile.stdout


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def test_several_workers_share_nonces_and_the_index(workers_gateway: dict[str, Any]) -> None:
    """`credchain run --workers 2`: concurrent writes by the same members land in both workers, none
    collides or waits for a poll, every answer is indexed, reads agree, and so do SQL and the chain."""
    gateway = workers_gateway
    assert len(_children(gateway["pid"])) >= 2  # the worker processes (and a resource tracker)
    operator = Http(gateway["base"])
    operator.keys["operator"] = gateway["operator_key"]
    ids: dict[str, str] = {}
    for name, roles in {"core": ["core_enterprise"], "bank": ["financier"], "s1": ["supplier"]}.items():
        member = operator.ok("operator", "POST", "/v1/members", {"name": name, "roles": roles}, status=201)
        operator.keys[name], ids[name] = member["api_key"], member["id"]
        assert member["status"] == "active"
    operator.ok("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    operator.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "10000000"})
    chain: Chain = gateway["chain"]
    maturity = datetime.fromtimestamp(chain.now() + 90 * 86_400, UTC).isoformat().replace("+00:00", "Z")

    def issue_accept_split(i: int) -> list[str]:
        http = Http(gateway["base"])  # a connection of its own: requests spread over the workers
        http.keys = operator.keys
        body = {
            "to": ids["s1"],
            "amount": str(1000 + i),
            "currency": "USD",
            "maturity": maturity,
            "document_hash": "0x" + uuid.uuid4().hex * 2,
        }
        issued = http.ok("core", "POST", "/v1/notes", body, status=201)
        _write_ok(issued)
        (note_id,) = issued["note_ids"]
        _write_ok(http.ok("s1", "POST", f"/v1/notes/{note_id}/accept"))
        parts = [{"to": ids["s1"], "amount": "1"}, {"to": ids["s1"], "amount": str(999 + i)}]
        split = http.ok("s1", "POST", f"/v1/notes/{note_id}/split", {"parts": parts})
        _write_ok(split)
        assert [n["status"] for n in split["notes"]] == ["active", "active"]
        trace = http.ok("s1", "GET", f"/v1/notes/{split['note_ids'][1]}/provenance")
        assert [n["id"] for n in trace["ancestors"]] == [note_id, split["note_ids"][1]]
        return [note_id, *split["note_ids"]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        trees = list(pool.map(issue_accept_split, range(8)))
    listed = operator.ok("s1", "GET", "/v1/notes", limit=200)["items"]
    assert sorted(n["id"] for n in listed) == sorted(i for tree in trees for i in tree)
    w3 = chain.w3
    for who in ("core", "s1"):
        address = operator.ok("operator", "GET", f"/v1/members/{ids[who]}")["address"]
        assert w3.eth.get_transaction_count(address, "pending") == w3.eth.get_transaction_count(address)
    reconcile = reconcile_gateway(gateway)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert "24 notes" in reconcile.stdout, reconcile.stdout
    log = gateway["log"].read_text()
    assert "died" not in log, log  # no worker was killed by the supervisor's healthcheck and replaced
