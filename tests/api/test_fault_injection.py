"""Fault injection on anvil: the gateway (a separate process, PostgreSQL) reaches its node through
`tests.rpc_faults.FaultyRpcProxy`, which drops and delays receipt polls, drops the answer to
`eth_sendRawTransaction` after forwarding it, loses some before forwarding and resets connections,
at random with a seeded RNG. Clients write money and notes with Idempotency-Keys (deposits, issue,
accept, split, transfer, a discount offer and its acceptance) and retry on every 5xx, 409
in-use and connection error until they get a final answer. Afterwards every action took effect
exactly once: the chain's state and events, SQL and the clients' own records agree, no deposit was
minted twice, and `credchain reconcile` reports 0 differences.

Size: `CREDCHAIN_FAULT_ROUNDS` (default 2) rounds of the two client stories run side by side;
`CREDCHAIN_FAULT_SEED` (default 12) seeds the proxy's RNG.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3

from service.ledger.chain import Chain
from service.ledger.client import LedgerClient
from tests.api.test_e2e_http import Http, _gateway, reconcile_gateway
from tests.rpc_faults import FaultyRpcProxy

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("CREDCHAIN_FAULT_ROUNDS", "2"))
SEED = int(os.environ.get("CREDCHAIN_FAULT_SEED", "12"))
DAY = 86_400
FACE = 90_000
PRICE = 54_000
SETUP_DEPOSIT = {"bank": 10_000_000, "core": 1_000_000}
DEPOSITED = Web3.keccak(text="Deposited(address,uint256,bytes32)")
RETRY_FOR_SECONDS = 180.0


@pytest.fixture
def proxy(anvil: Chain) -> Iterator[FaultyRpcProxy]:
    faulty = FaultyRpcProxy(str(anvil.w3.provider.endpoint_uri), seed=SEED).start()  # type: ignore[attr-defined]
    try:
        yield faulty
    finally:
        faulty.stop()


@pytest.fixture
def faulty_gateway(
    anvil: Chain, pg_schema: str, tmp_path: Path, proxy: FaultyRpcProxy
) -> Iterator[dict[str, Any]]:
    yield from _gateway(
        anvil,
        pg_schema,
        tmp_path,
        workers=1,
        run_rpc_url=proxy.url,
        CREDCHAIN_IDEMPOTENCY_LEASE_SECONDS="5",
    )


@dataclass
class Client:
    """A client that retries a write with its Idempotency-Key until the answer is final."""

    base: str
    keys: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    attempts: int = 0
    answers: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(key, path, final answer) of every write."""

    def write(
        self, who: str, method: str, path: str, body: Any = None, *, key: str, status: int = 200
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.keys[who]}", "Idempotency-Key": key}
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            assert time.monotonic() < deadline, f"{method} {path} ({key}): no final answer in time"
            self.attempts += 1
            try:
                answer = self.session.request(
                    method, self.base + path, json=body, headers=headers, timeout=90
                )
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if answer.status_code >= 500 or (
                answer.status_code == 409
                and answer.json().get("type", "").endswith("/idempotency-key-in-use")
            ):
                time.sleep(min(float(answer.headers.get("Retry-After", "1")), 1.0))
                continue
            assert answer.status_code == status, (
                f"{method} {path} ({key}): {answer.status_code} {answer.text}"
            )
            result: dict[str, Any] = answer.json()
            self.answers.append((key, path, result))
            return result


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def test_every_idempotent_write_takes_effect_once_through_a_faulty_node(
    faulty_gateway: dict[str, Any], proxy: FaultyRpcProxy
) -> None:
    chain: Chain = faulty_gateway["chain"]
    http = Http(faulty_gateway["base"])
    http.keys["operator"] = faulty_gateway["operator_key"]
    ids: dict[str, str] = {}
    cast = {
        "core": ["core_enterprise"],
        "bank": ["financier"],
        "s1": ["supplier"],
        "s2": ["supplier"],
        "s3": ["supplier"],
        "auditor": ["auditor"],
    }
    for name, roles in cast.items():
        member = http.ok("operator", "POST", "/v1/members", {"name": name, "roles": roles}, status=201)
        http.keys[name], ids[name] = member["api_key"], member["id"]
    http.ok("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]}, status=201)
    http.ok("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": str(FACE * ROUNDS)})
    http.ok("operator", "POST", "/v1/settlement-tokens", {"currency": "USD"}, status=201)
    for who, amount in SETUP_DEPOSIT.items():
        body = {"member": ids[who], "amount": str(amount), "reference": f"setup {who}"}
        http.ok("operator", "POST", "/v1/settlement-tokens/USD/deposits", body)
        http.ok(who, "PUT", "/v1/settlement-tokens/USD/allowance", {"amount": str(amount)})

    run = uuid.uuid4().hex[:8]
    money = Client(http.base, http.keys)
    notes = Client(http.base, http.keys)
    deposits: list[tuple[str, int]] = []

    def money_story(r: int) -> None:
        for who in ("s1", "core"):
            amount = 1_000 + r
            body = {"member": ids[who], "amount": str(amount), "reference": f"r{r} {who} {run}"}
            money.write("operator", "POST", "/v1/settlement-tokens/USD/deposits", body, key=f"dep-{r}-{who}")
            deposits.append((who, amount))

    def notes_story(r: int) -> dict[str, str]:
        maturity = chain.now() + 90 * DAY
        issued = notes.write(
            "core",
            "POST",
            "/v1/notes",
            {
                "to": ids["s1"],
                "amount": str(FACE),
                "currency": "USD",
                "maturity": _iso(maturity),
                "document_hash": "0x" + uuid.uuid4().hex * 2,
            },
            key=f"issue-{r}",
            status=201,
        )
        (root,) = issued["note_ids"]
        notes.write("s1", "POST", f"/v1/notes/{root}/accept", key=f"accept-{r}")
        split = notes.write(
            "s1",
            "POST",
            f"/v1/notes/{root}/split",
            {
                "parts": [
                    {"to": ids["s1"], "amount": str(FACE // 3)},
                    {"to": ids["s2"], "amount": str(FACE - FACE // 3)},
                ]
            },
            key=f"split-{r}",
        )
        kept, piece = split["note_ids"]
        notes.write("s2", "POST", f"/v1/notes/{piece}/transfer", {"to": ids["s3"]}, key=f"transfer-{r}")
        offer = notes.write(
            "bank",
            "POST",
            f"/v1/notes/{piece}/discount-offers",
            {"price": str(PRICE), "deadline": _iso(chain.now() + 5 * DAY)},
            key=f"offer-{r}",
            status=201,
        )["offer"]
        notes.write("s3", "POST", f"/v1/discount-offers/{offer['id']}/accept", key=f"take-{r}")
        return {"root": root, "kept": kept, "piece": piece}

    proxy.enabled = True
    trees = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for r in range(ROUNDS):
            money_done = pool.submit(money_story, r)
            built = pool.submit(notes_story, r)
            money_done.result()
            trees.append(built.result())
    proxy.enabled = False
    faults = dict(proxy.counts)
    assert sum(faults.values()) > 0, faults

    # every write answered once: distinct transactions, each mined successfully
    answers = money.answers + notes.answers
    hashes = [a["tx_hash"] for _, _, a in answers]
    assert len(set(hashes)) == len(hashes) == 2 * ROUNDS + 6 * ROUNDS
    for tx_hash in hashes:
        assert chain.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1

    # money: one mint per deposit (chain events), balances as the clients' records say
    token = http.ok("auditor", "GET", "/v1/settlement-tokens")["items"][0]["token"]
    minted = chain.w3.eth.get_logs({"address": token, "fromBlock": 0, "topics": ["0x" + DEPOSITED.hex()]})
    assert len(minted) == len(SETUP_DEPOSIT) + len(deposits)
    expected = {
        "core": SETUP_DEPOSIT["core"] + sum(a for w, a in deposits if w == "core"),
        "bank": SETUP_DEPOSIT["bank"] - PRICE * ROUNDS,
        "s1": sum(a for w, a in deposits if w == "s1"),
        "s3": PRICE * ROUNDS,
        "s2": 0,
    }
    for who, balance in expected.items():
        account = http.ok("auditor", "GET", f"/v1/settlement-tokens/USD/accounts/{ids[who]}")
        assert int(account["balance"]) == balance, (who, account, faults)
    supply = sum(expected.values())
    assert sum(int.from_bytes(bytes(log["data"])[:32], "big") for log in minted) == supply

    # notes: one root per issue on the chain and in SQL, each piece where the clients put it
    ledger = LedgerClient(chain.w3, faulty_gateway["contract"])
    assert ledger.root_count() == ROUNDS
    listed = http.ok("auditor", "GET", "/v1/notes", limit=200)["items"]
    assert len(listed) == 3 * ROUNDS
    for tree in trees:
        assert ledger.get_note(int(tree["root"])).amount == FACE
        piece = http.ok("auditor", "GET", f"/v1/notes/{tree['piece']}")
        assert piece["holder_member"] == ids["bank"] and piece["status"] == "active"
        kept = http.ok("auditor", "GET", f"/v1/notes/{tree['kept']}")
        assert kept["holder_member"] == ids["s1"]

    # SQL and the chain agree
    reconcile = reconcile_gateway(faulty_gateway)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert reconcile.stdout.strip().endswith(": 0 differences"), reconcile.stdout
    print(f"faults injected: {faults}; attempts: {money.attempts + notes.attempts} for {len(answers)} writes")
