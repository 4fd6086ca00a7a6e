"""The write path against a real node (anvil) and PostgreSQL, as gateway worker processes run it: a
write is indexed by its own request (no background indexer needed, no polling step), several
gateway processes share nonces and the index through PostgreSQL advisory locks, and the follower
indexes blocks that did not come through the gateway."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from service.api.app import create_app
from service.api.context import AppContext, build_context
from service.db.locks import ProcessLocks
from service.db.migrate import upgrade
from service.db.models import Member
from service.db.session import make_engine
from service.domain import MemberStatus, Role
from service.indexer.reconcile import reconcile
from service.ledger.chain import ANVIL_DEV_KEY, Chain
from service.ledger.client import LedgerClient
from service.ledger.jsonrpc import PromptReceipts
from service.ledger.keyring import Keyring
from service.ledger.nonces import SharedNonces
from service.settings import Settings
from service.setup.bootstrap import deploy, register_operator
from tests.databases import PG_URL

pytestmark = pytest.mark.integration

SECRET = "write-path-master-secret-0123456789abcdef"


@dataclass
class Ledger:
    settings: Settings
    operator_key: str
    operator_keystore: dict[str, object]


@pytest.fixture
def ledger(anvil: Chain, pg_schema: str) -> Ledger:
    """A ledger deployed on anvil with a custodial operator registered in a fresh schema (what
    `credchain init` does)."""
    upgrade(PG_URL, pg_schema)
    deployment = deploy(anvil, Keyring(SECRET, 1), 10**18)
    engine = make_engine(PG_URL, schema=pg_schema)
    with Session(engine) as session:
        operator_key = register_operator(session, deployment.operator.address, deployment.keystore)
    engine.dispose()
    settings = Settings(
        rpc_url=str(anvil.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        database_url=PG_URL,
        database_schema=pg_schema,
        contract_address=deployment.contract_address,
        from_block=deployment.block_number,
        master_secret=SecretStr(SECRET),
        key_kdf_iterations=1,
        funder_key=SecretStr(ANVIL_DEV_KEY),
        funding_wei=10**18,
        poll_interval=0.05,
        write_wait_seconds=30,
    )
    return Ledger(settings, operator_key, deployment.keystore)


class Api:
    """A TestClient over one gateway context (one "worker process")."""

    def __init__(self, context: AppContext, keys: dict[str, str], *, follow: bool = False) -> None:
        self.context = context
        self.keys = keys
        self.client = TestClient(create_app(context, manage_indexer=follow))
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.context.close()

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        answer = self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.keys[who]}"}
        )
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()


def _onboard(api: Api, ids: dict[str, str], **cast: str) -> None:
    for name, role in cast.items():
        member = api.call("operator", "POST", "/v1/members", {"name": name, "roles": [role]})
        api.keys[name], ids[name] = member["api_key"], member["id"]
        assert member["status"] == "active", member  # read from the index: it is applied already


def _race(n: int, job: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result(timeout=120) for f in [pool.submit(one, i) for i in range(n)]]


def test_a_write_is_indexed_by_its_own_request_without_a_background_indexer(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = build_context(ledger.settings)
    assert context.follower is None and not context.sync_indexing
    api = Api(context, {"operator": ledger.operator_key})
    try:
        batches: list[int] = []
        original = context.indexer.sync_once

        def counted(until: int | None = None) -> Any:
            batches.append(1)
            return original(until)

        monkeypatch.setattr(context.indexer, "sync_once", counted)
        ids: dict[str, str] = {}
        _onboard(api, ids, supplier="supplier")
        assert context.follower is None  # nothing ran in the background
        assert 1 <= len(batches) <= 3, batches  # applied at once, not polled for
        head = int(context.chain.w3.eth.block_number)
        assert context.indexer.last_block() == head
    finally:
        api.close()


def test_two_gateway_processes_share_nonces_and_the_index(ledger: Ledger, anvil: Chain) -> None:
    """Two contexts (as two worker processes: own engines, own ledger clients and nonce managers,
    own indexers) on one database: twelve concurrent issues by one obligor through both leave no
    nonce collision or gap, and the index agrees with the chain."""
    first = Api(build_context(ledger.settings), {"operator": ledger.operator_key})
    second = Api(build_context(ledger.settings), first.keys)
    try:
        assert isinstance(first.context.ledger.nonces, SharedNonces)
        ids: dict[str, str] = {}
        _onboard(first, ids, core="core_enterprise", bank="financier", s1="supplier")
        first.call("core", "POST", "/v1/credit-relationships", {"financier": ids["bank"]})
        second.call("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": "1000000"})
        maturity = datetime.fromtimestamp(anvil.now() + 90 * 86_400, UTC).isoformat()

        def issue(i: int) -> Any:
            body = {
                "to": ids["s1"],
                "amount": str(1000 + i),
                "currency": "USD",
                "maturity": maturity,
                "document_hash": "0x" + uuid.uuid4().hex * 2,
            }
            return (first if i % 2 else second).call("core", "POST", "/v1/notes", body)

        answers = _race(12, issue)
        assert all(a["indexed"] for a in answers)
        assert len({a["note_ids"][0] for a in answers}) == 12
        core = next(a["notes"][0]["obligor"] for a in answers)
        w3 = anvil.w3
        # the core's approval of the bank, then the twelve issues
        assert w3.eth.get_transaction_count(core, "pending") == w3.eth.get_transaction_count(core) == 13
        listed = second.call("core", "GET", "/v1/notes?limit=200")["items"]
        assert sorted(n["amount"] for n in listed) == sorted(str(1000 + i) for i in range(12))
        report = reconcile(w3, first.context.engine, ledger.settings.contract_address or "")
        assert report.clean, [str(d) for d in report]
    finally:
        first.close()
        second.close()


def test_process_locks_exclude_across_engines_per_scope_and_name(pg_schema: str) -> None:
    engines = [make_engine(PG_URL, schema=pg_schema) for _ in range(3)]
    mine, theirs = ProcessLocks(engines[0], "db:s:0xabc"), ProcessLocks(engines[1], "db:s:0xabc")
    elsewhere = ProcessLocks(engines[2], "db:s:0xdef")
    try:
        with mine.hold("indexer") as held:
            assert held
            with theirs.hold("indexer", timeout=0.2) as other:
                assert not other
            with theirs.hold("indexer", timeout=0) as other:
                assert not other
            with theirs.hold("nonce:0x1") as other:
                assert other
            with elsewhere.hold("indexer", timeout=0) as other:
                assert other
        with theirs.hold("indexer", timeout=5) as other:
            assert other
        with pytest.raises(RuntimeError), mine.hold("indexer"):
            raise RuntimeError("released on the way out")
        with theirs.hold("indexer", timeout=5) as other:
            assert other
    finally:
        for engine in engines:
            engine.dispose()


def test_the_follower_indexes_blocks_sent_around_the_gateway(ledger: Ledger, anvil: Chain) -> None:
    context = build_context(ledger.settings)
    api = Api(context, {"operator": ledger.operator_key}, follow=True)
    try:
        assert context.follower is not None
        operator = context.keyring.account(
            LedgerClient(anvil.w3, ledger.settings.contract_address or "").operator(),
            ledger.operator_keystore,
        )
        outsider = "0x" + os.urandom(20).hex()
        direct = LedgerClient(anvil.w3, ledger.settings.contract_address or "")
        block = direct.onboard_member(operator, outsider, Role.AUDITOR).block_number
        deadline = time.monotonic() + 30
        while context.indexer.last_block() < block and time.monotonic() < deadline:
            time.sleep(0.02)
        with Session(context.engine) as session:
            row = session.get(Member, anvil.w3.to_checksum_address(outsider))
            assert row is not None and row.status == MemberStatus.ACTIVE
    finally:
        api.close()


def test_prompt_receipts_asks_again_soon_then_gives_up_without_spinning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    clock = iter(range(10_000))
    monkeypatch.setattr(time, "monotonic", lambda: next(clock) * 0.005)  # 5 ms pass per look
    answers: list[Any] = [None, None, None, {"status": 1}]
    calls: list[str] = []

    def node(method: Any, params: Any) -> Any:
        calls.append(method)
        return {"result": answers.pop(0) if method == "eth_getTransactionReceipt" else "0x1"}

    ask = PromptReceipts(None).wrap_make_request(node)  # type: ignore[arg-type]
    assert ask("eth_getTransactionReceipt", ["0xab"]) == {"result": {"status": 1}}
    assert pauses == [0.001, 0.002, 0.004]  # 1, 2, 4 ms: no fixed 100 ms wait
    assert ask("eth_blockNumber", []) == {"result": "0x1"} and len(pauses) == 3  # others untouched

    pauses.clear()
    answers[:] = [None] * 100
    assert ask("eth_getTransactionReceipt", ["0xcd"]) == {"result": None}  # not mined: web3 waits on
    assert 5 <= len(pauses) <= 20 and max(pauses) <= PromptReceipts.LONGEST_PAUSE
    assert sum(1 for m in calls if m == "eth_getTransactionReceipt") <= 30
