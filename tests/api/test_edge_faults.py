"""Faults at the gateway's edge (issue 14, items 1, 2 and 6), on anvil and PostgreSQL: the gateway
(in-process, behind a TestClient) reaches its node through a switch that can refuse connections
(node down) or accept them and never answer (black hole), then `tests.rpc_faults.FaultyRpcProxy`
(which can drop the answer to `eth_sendRawTransaction` after forwarding it); it reaches PostgreSQL
through a `TcpProxy` that can be taken down, under an application_name of its own so that its
backends (and no other test's) can be terminated.

Whatever fails, no answer is a bare 500 or text/plain: a node fault is a 503 `ledger-unavailable`,
a database fault a 503 `database-unavailable`, both with Retry-After; a write that was mined is
never answered as failed nor sent again: the retry with its Idempotency-Key answers it.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from web3 import Web3

from service.api.app import create_app
from service.api.context import AppContext, build_context
from service.api.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS
from service.db.locks import ProcessLocks
from service.db.session import make_engine
from service.ledger.chain import ANVIL_DEV_KEY, Chain, http_chain
from service.settings import Settings
from service.setup.bootstrap import bootstrap_gateway
from tests.anvil import TcpProxy
from tests.databases import PG_URL
from tests.rpc_faults import Faults, FaultyRpcProxy

pytestmark = pytest.mark.integration

NODE_TIMEOUT = 2.0
"""The gateway's node timeout here: a black-holed request is given up after this."""
DAY = 86_400
FACE = 1_000_000
PG_PORT = 5432


class NodeSwitch(TcpProxy):
    """A `TcpProxy` to the node that can also be a black hole: connections are accepted (by the
    kernel: the listener is never accepted from) and never answered."""

    _hole: socket.socket | None = None

    def blackhole(self) -> None:
        self.down()
        hole = socket.socket()
        hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hole.bind(("127.0.0.1", self.port))
        hole.listen(128)
        self._hole = hole

    def up(self) -> None:
        if self._hole is not None:
            self._hole.close()
            self._hole = None
        if self._listener is None:
            super().up()


@dataclass
class Edge:
    client: TestClient
    context: AppContext
    chain: Chain
    """anvil, reached directly (not through the faults)."""
    node: NodeSwitch
    rpc: FaultyRpcProxy
    database: TcpProxy
    application_name: str
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    note: str = ""
    offer: str = ""
    _docs: list[int] = field(default_factory=lambda: [0])

    def call(self, who: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.keys[who]}", **headers}
        )

    def ok(self, who: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        answer = self.call(who, method, path, body)
        assert answer.status_code == status, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def issue_body(self) -> dict[str, Any]:
        self._docs[0] += 1
        maturity = datetime.fromtimestamp(self.chain.now() + 90 * DAY, UTC)
        return {
            "to": self.ids["s1"],
            "amount": str(FACE),
            "currency": "USD",
            "maturity": maturity.isoformat().replace("+00:00", "Z"),
            "document_hash": "0x" + uuid.uuid4().bytes.hex().rjust(64, "0"),
            "reference": f"invoice {self._docs[0]}",
        }

    def offer_body(self, price: int) -> dict[str, Any]:
        deadline = datetime.fromtimestamp(self.chain.now() + 2 * DAY, UTC)
        return {"price": str(price), "deadline": deadline.isoformat().replace("+00:00", "Z")}

    def terminate_backends(self) -> int:
        """Terminate every PostgreSQL backend of the gateway; how many there were."""
        return _terminate(self.application_name)

    def nonce(self, who: str) -> int:
        return int(self.chain.w3.eth.get_transaction_count(Web3.to_checksum_address(self.addresses[who])))


def _terminate(application_name: str) -> int:
    """Terminate the PostgreSQL backends connected as `application_name`; how many there were."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            terminated = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = :name"
                ),
                {"name": application_name},
            )
            return len(terminated.all())
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def edge(anvil: Chain) -> Iterator[Edge]:
    """One gateway for the module (its setup costs a few seconds of anvil transactions)."""
    node_url = str(anvil.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    quiet = Faults(receipt_drop=0, receipt_delay=0, send_answer_drop=1.0, send_lost=0, reset=0)
    rpc = FaultyRpcProxy(node_url, seed=14, faults=quiet).start()
    node = NodeSwitch(rpc.port)
    node.up()
    database = TcpProxy(PG_PORT)
    database.up()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    application_name = f"credchain-edge-{schema}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    relayer = Account.create()
    anvil.fund(relayer.address, 10**18)
    settings = Settings(
        rpc_url=node.url,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{database.port}/test"
        f"?application_name={application_name}",
        database_schema=schema,
        master_secret=SecretStr("edge-faults-master-secret-0123456789abcdef"),
        key_kdf_iterations=1,
        funder_key=SecretStr(ANVIL_DEV_KEY),
        funding_wei=10**18,
        poll_interval=0.1,
        write_wait_seconds=10,
        node_timeout_seconds=NODE_TIMEOUT,
        readiness_timeout_seconds=2,
        idempotency_lease_seconds=2,
        relayer_key=SecretStr(relayer.key.to_0x_hex()),
        rate_limit_writes="0",
        rate_limit_reads="0",
        rate_limit_expensive="0",
        rate_limit_unauthenticated="0",
    )
    settings, operator_key = bootstrap_gateway(
        settings, http_chain(node.url, ANVIL_DEV_KEY, timeout=NODE_TIMEOUT), None
    )
    context = build_context(settings)
    try:
        with TestClient(create_app(context)) as client:
            edge = Edge(client, context, anvil, node, rpc, database, application_name)
            edge.keys["operator"] = operator_key
            _onboard(edge)
            yield edge
    finally:
        context.close()
        rpc.stop()
        node.down()
        database.down()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _onboard(edge: Edge) -> None:
    edge.addresses["operator"] = edge.context.ledger.operator()
    self_custodied = Account.create()
    cast: dict[str, dict[str, Any]] = {
        "core": {"roles": ["core_enterprise"]},
        "s1": {"roles": ["supplier"]},
        "bank": {"roles": ["financier"]},
        "self": {"roles": ["supplier"], "address": self_custodied.address},
    }
    for name, extra in cast.items():
        member = edge.ok("operator", "POST", "/v1/members", {"name": name, **extra}, status=201)
        edge.keys[name], edge.ids[name], edge.addresses[name] = (
            member["api_key"],
            member["id"],
            member["address"],
        )
    edge.ok("core", "POST", "/v1/credit-relationships", {"financier": edge.ids["bank"]}, status=201)
    edge.ok("bank", "POST", "/v1/credit-limits", {"obligor": edge.ids["core"], "amount": str(100 * FACE)})
    edge.ok("operator", "POST", "/v1/settlement-tokens", {"currency": "USD"}, status=201)
    deposit = {"member": edge.ids["bank"], "amount": str(10 * FACE), "reference": "setup bank"}
    edge.ok("operator", "POST", "/v1/settlement-tokens/USD/deposits", deposit)
    edge.ok("bank", "PUT", "/v1/settlement-tokens/USD/allowance", {"amount": str(10 * FACE)})
    edge.note = edge.ok("core", "POST", "/v1/notes", edge.issue_body(), status=201)["note_ids"][0]
    edge.ok("s1", "POST", f"/v1/notes/{edge.note}/accept")
    offer = edge.ok(
        "bank", "POST", f"/v1/notes/{edge.note}/discount-offers", edge.offer_body(FACE // 2), status=201
    )
    edge.offer = offer["offer"]["id"]


def _node_requests(edge: Edge) -> list[tuple[str, str, str, Any]]:
    """A request of every write kind and the reads that need the node, each valid as the gateway's
    state stands (so only the node's absence can fail it)."""
    note, ids = edge.note, edge.ids
    calldata = edge.context.ledger.calls.encode("accept", (int(note),))
    return [
        ("operator", "POST", "/v1/members", {"name": "late", "roles": ["supplier"]}),
        ("core", "POST", "/v1/notes", edge.issue_body()),
        ("s1", "POST", f"/v1/notes/{note}/split", {"parts": [{"to": ids["s1"], "amount": "1"}] * 2}),
        ("s1", "POST", f"/v1/notes/{note}/transfer", {"to": ids["core"]}),
        ("operator", "POST", f"/v1/notes/{note}/freeze", None),
        ("bank", "POST", "/v1/credit-limits", {"obligor": ids["core"], "amount": str(101 * FACE)}),
        ("bank", "POST", f"/v1/notes/{note}/discount-offers", edge.offer_body(FACE // 3)),
        ("s1", "POST", f"/v1/discount-offers/{edge.offer}/accept", None),
        (
            "operator",
            "POST",
            "/v1/settlement-tokens/USD/deposits",
            {"member": ids["bank"], "amount": "5", "reference": "down"},
        ),
        ("bank", "PUT", "/v1/settlement-tokens/USD/allowance", {"amount": str(11 * FACE)}),
        ("core", "POST", f"/v1/notes/{note}/settle", {}),
        ("self", "POST", "/v1/relay/prepare", {"data": calldata}),
        ("bank", "GET", f"/v1/quotes/discount?note={note}&rate=0.05", None),
        ("bank", "GET", f"/v1/settlement-tokens/USD/accounts/{ids['bank']}", None),
        ("core", "GET", "/v1/transactions/0x" + "ab" * 32, None),  # the fate of a transaction
    ]


def _index_reads(edge: Edge) -> list[tuple[str, str, str, Any]]:
    """Reads answered from the index alone: they need no node."""
    return [
        ("s1", "GET", f"/v1/notes/{edge.note}", None),
        ("bank", "GET", "/v1/discount-offers", None),
    ]


def _assert_unavailable(answer: Any, slug: str, what: str) -> None:
    assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text}"
    assert answer.headers["content-type"] == PROBLEM_JSON, what
    assert answer.json()["type"] == f"https://credchain.dev/errors/{slug}", f"{what}: {answer.text}"
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS), what


def _all_at_once(edge: Edge, requests: list[tuple[str, str, str, Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(lambda r: edge.call(*r), requests))


def test_with_the_node_down_every_write_and_node_read_answers_503_and_index_reads_answer(
    edge: Edge,
) -> None:
    requests, reads = _node_requests(edge), _index_reads(edge)
    edge.node.down()
    try:
        answers = _all_at_once(edge, requests + reads)
    finally:
        edge.node.up()
    for (_, method, path, _), answer in zip(requests, answers, strict=False):
        _assert_unavailable(answer, "ledger-unavailable", f"{method} {path}")
    for (_, method, path, _), answer in zip(reads, answers[len(requests) :], strict=True):
        assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"


def test_with_the_node_black_holed_every_write_and_node_read_answers_503_within_its_timeout(
    edge: Edge,
) -> None:
    requests = _node_requests(edge)
    edge.node.blackhole()
    started = time.monotonic()
    try:
        answers = _all_at_once(edge, requests)
    finally:
        elapsed = time.monotonic() - started
        edge.node.up()
    for (_, method, path, _), answer in zip(requests, answers, strict=True):
        _assert_unavailable(answer, "ledger-unavailable", f"{method} {path}")
    assert elapsed < 3 * NODE_TIMEOUT + 2


def test_readiness_with_the_node_black_holed_answers_503_within_3_seconds(edge: Edge) -> None:
    edge.node.blackhole()
    started = time.monotonic()
    try:
        answer = edge.client.get("/readyz")
    finally:
        elapsed = time.monotonic() - started
        edge.node.up()
    assert answer.status_code == 503 and answer.json()["checks"]["node"].startswith("error")
    assert elapsed < 3.0
    assert edge.client.get("/readyz").status_code == 200


def _database_requests(edge: Edge, round_: int) -> list[tuple[str, str, str, Any, dict[str, str]]]:
    """Reads and writes (each write with an Idempotency-Key of its own) that all use the database."""
    note, ids = edge.note, edge.ids
    run = uuid.uuid4().hex[:8]
    deposit = {"member": ids["bank"], "amount": str(7 + round_), "reference": f"pg {run}"}
    limit = {"obligor": ids["core"], "amount": str(102 * FACE + round_)}
    return [
        ("s1", "GET", f"/v1/members/{ids['s1']}", None, {}),
        ("s1", "GET", f"/v1/notes/{note}", None, {}),
        ("bank", "GET", f"/v1/settlement-tokens/USD/accounts/{ids['bank']}", None, {}),
        ("core", "POST", "/v1/notes", edge.issue_body(), {"Idempotency-Key": f"pg-issue-{run}"}),
        ("bank", "POST", "/v1/credit-limits", limit, {"Idempotency-Key": f"pg-limit-{run}"}),
        (
            "operator",
            "POST",
            "/v1/settlement-tokens/USD/deposits",
            deposit,
            {"Idempotency-Key": f"pg-dep-{run}"},
        ),
    ]


def test_while_the_gateways_database_backends_are_terminated_requests_answer_or_503_and_recover(
    edge: Edge,
) -> None:
    requests = _database_requests(edge, 0)
    writers = ("core", "bank", "operator")
    nonces = {who: edge.nonce(who) for who in writers}
    stop = threading.Event()
    terminated = []

    def terminate_repeatedly() -> None:
        while not stop.is_set():
            terminated.append(edge.terminate_backends())
            stop.wait(0.05)

    def final(request: tuple[str, str, str, Any, dict[str, str]], answer: Any) -> Any:
        who, method, path, body, headers = request
        what = f"{method} {path}"
        assert answer.status_code < 500 or answer.status_code == 503, (
            f"{what}: {answer.status_code} {answer.text}"
        )
        if answer.status_code == 503:
            _assert_unavailable(answer, "database-unavailable", what)
            answer = _until_final(edge, who, method, path, body, headers)
        assert answer.status_code in (200, 201), f"{what}: {answer.status_code} {answer.text}"
        return answer

    killer = threading.Thread(target=terminate_repeatedly)
    killer.start()
    try:
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            answers = list(pool.map(lambda r: edge.call(r[0], r[1], r[2], r[3], **r[4]), requests))
    finally:
        stop.set()
        killer.join()
    assert sum(terminated) > 0
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        list(pool.map(final, requests, answers))
    sent = {who: edge.nonce(who) - nonces[who] for who in writers}
    assert sent == dict.fromkeys(writers, 1)  # each write happened, once
    assert edge.client.get("/readyz").status_code == 200


def _until_final(
    edge: Edge, who: str, method: str, path: str, body: Any, headers: dict[str, str], seconds: float = 30
) -> Any:
    """The answer to the request retried (same key) while it is a 503 or its key is in use."""
    deadline = time.monotonic() + seconds
    while True:
        answer = edge.call(who, method, path, body, **headers)
        in_use = answer.status_code == 409 and answer.json()["type"].endswith("/idempotency-key-in-use")
        if not (answer.status_code == 503 or in_use) or time.monotonic() > deadline:
            return answer
        time.sleep(float(answer.headers.get("retry-after", "1")))


def test_a_mined_write_whose_answer_hits_a_database_fault_is_answered_on_retry_without_a_second_transaction(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexed = edge.context.wait_indexed

    def index_then_lose_the_database(block: int) -> bool:
        done = indexed(block)
        edge.database.down()  # the answer is read back from SQL next
        return done

    monkeypatch.setattr(edge.context, "wait_indexed", index_then_lose_the_database)
    body, key = edge.issue_body(), {"Idempotency-Key": f"answer-{uuid.uuid4().hex}"}
    nonce = edge.nonce("core")
    try:
        first = edge.call("core", "POST", "/v1/notes", body, **key)
    finally:
        monkeypatch.undo()
        edge.database.up()
    _assert_unavailable(first, "database-unavailable", "POST /v1/notes")
    sent = first.json()["tx_hashes"]
    assert len(sent) == 1 and edge.chain.w3.eth.get_transaction_receipt(sent[0])["status"] == 1
    assert edge.nonce("core") == nonce + 1  # it was mined
    retry = _until_final(edge, "core", "POST", "/v1/notes", body, key)
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == sent[0]
    assert edge.nonce("core") == nonce + 1  # and never sent again
    assert _until_final(edge, "core", "POST", "/v1/notes", body, key).json() == retry.json()


def test_a_lost_answer_to_send_raw_transaction_is_503_and_the_retry_resolves_the_same_transaction(
    edge: Edge,
) -> None:
    body, key = edge.issue_body(), {"Idempotency-Key": f"lost-{uuid.uuid4().hex}"}
    nonce = edge.nonce("core")
    edge.rpc.enabled = True
    try:
        first = edge.call("core", "POST", "/v1/notes", body, **key)
    finally:
        edge.rpc.enabled = False
    _assert_unavailable(first, "ledger-unavailable", "POST /v1/notes")
    sent = first.json()["tx_hashes"]
    assert len(sent) == 1
    retry = _until_final(edge, "core", "POST", "/v1/notes", body, key)
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == sent[0]
    assert edge.nonce("core") == nonce + 1
    assert edge.rpc.counts["send_answer_dropped"] == 1


def test_locks_are_had_again_after_their_connections_backends_were_terminated(pg_schema: str) -> None:
    name = f"credchain-locks-{pg_schema}"
    engine = make_engine(
        PG_URL, schema=pg_schema, pool_pre_ping=False, connect_args={"application_name": name}
    )
    locks = ProcessLocks(engine, f"test:{pg_schema}", dedicated=["indexer"])
    try:
        for lock in ("indexer", "nonce:0x1"):
            with locks.hold(lock) as held:
                assert held
        assert _terminate(name) == 2  # the indexer's kept connection and the pooled one
        for lock in ("indexer", "nonce:0x1"):
            with locks.hold(lock, timeout=5) as held:
                assert held
    finally:
        locks.close()
        engine.dispose()
