"""The indexer against a real node (anvil, a separate process) and SQLite / PostgreSQL: killed with
SIGKILL at random points and restarted, reorganisations of several depths, the node going away and
coming back, and the `credchain` commands."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from service.cli import app
from service.db.models import Checkpoint, DiscountOffer, Note, Payment, PaymentClaim, SettlementToken
from service.domain import MAX_SETTLE_BATCH, NoteStatus, Role
from service.indexer import Indexer, IndexerConfig, http_web3
from service.indexer.source import BlockHeader, RpcLog
from service.ledger.chain import Chain
from service.ledger.client import SettlementTokenClient
from service.ledger.errors import LedgerUnavailable
from service.ledger.types import SplitPart
from tests.anvil import REPO_ROOT, TcpProxy
from tests.consortium import DAY, Consortium, deploy_consortium
from tests.databases import TestDatabase
from tests.indexer.helpers import (
    WrappedSource,
    assert_reconciled,
    chain_log_count,
    dump,
    event_count,
    notes,
    wipe_index,
)
from tests.workload import split_workload

pytestmark = pytest.mark.integration


def _deploy(anvil: Chain) -> tuple[Consortium, int]:
    """A fresh consortium on the shared node, and its deployment block."""
    first = int(anvil.w3.eth.block_number) + 1
    return deploy_consortium(anvil), first


def _forget_nonces(c: Consortium) -> None:
    for account in (c.operator, c.core, c.bank, c.auditor, c.outsider, *c.suppliers):
        c.ledger.nonces.forget(account.address)


def _checkpoint(db: TestDatabase) -> int | None:
    with db.engine.connect() as conn:
        return conn.execute(select(Checkpoint.last_block)).scalar()


def test_sigkill_at_random_points_loses_and_doubles_nothing(
    anvil: Chain, index_db: TestDatabase, tmp_path: Any
) -> None:
    c, first = _deploy(anvil)
    split_workload(c, roots=12, parts=40, resplits=12)
    head = int(anvil.w3.eth.block_number)
    env = dict(
        os.environ, CREDCHAIN_RPC_URL=anvil.w3.provider.endpoint_uri, CREDCHAIN_CONTRACT=c.ledger.address
    )  # type: ignore[attr-defined]
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "index",
        "--database-url",
        index_db.url,
        "--from-block",
        str(first),
        "--until-block",
        str(head),
        "--max-range",
        "1",
        "--poll-interval",
        "0.05",
        "--log-level",
        "WARNING",
    ]
    if index_db.schema:
        command += ["--database-schema", index_db.schema]
    rng = random.Random(1234)
    kills = 0
    for _ in range(4):
        seen = _checkpoint(index_db)
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while _checkpoint(index_db) == seen and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.04))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        _, stderr = process.communicate(timeout=30)
        if process.returncode == 0:
            break
        assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert kills >= 3
    final = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, timeout=60)
    assert final.returncode == 0, final.stderr.decode()

    assert _checkpoint(index_db) == head
    assert event_count(index_db) == chain_log_count(anvil.w3, c.ledger.address)
    assert_reconciled(anvil.w3, index_db, c.ledger.address)


def _old_branch(c: Consortium, base: int, other: int) -> list[Callable[[], Any]]:
    """One transaction (one block on anvil) each, touching every kind of state."""
    ledger, op = c.ledger, c.operator
    s0, s1, s2 = c.suppliers
    return [
        lambda: ledger.split(s0, base, [SplitPart(s1.address, 600), SplitPart(s2.address, 400)]),
        lambda: c.issue(5_000, to=s1),
        lambda: ledger.freeze(op, other, b"dispute"),
        lambda: ledger.suspend_member(op, s2.address),
        lambda: ledger.set_credit_limit(c.bank, c.core.address, 777_777_777),
        lambda: ledger.set_max_tenor(op, 100 * DAY),
        lambda: ledger.onboard_member(op, c.outsider.address, Role.SUPPLIER),
        lambda: ledger.transfer_operator(op, s1.address),
        lambda: ledger.unfreeze(op, other),
        lambda: ledger.reinstate_member(op, s2.address),
        lambda: c.issue(6_000, to=s0),
        lambda: ledger.set_member_roles(op, c.auditor.address, Role.AUDITOR | Role.FINANCIER),
    ]


def _new_branch(c: Consortium, anvil: Chain, base: int) -> list[Callable[[], Any]]:
    ledger = c.ledger
    s0, _, s2 = c.suppliers
    mine: Callable[[], Any] = lambda: anvil.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # noqa: E731
    return [
        lambda: ledger.transfer(s0, base, s2.address),
        lambda: c.issue(7_000, to=s2),
        lambda: ledger.reject(s2, 3 << 32),
        lambda: ledger.withdraw_financier(c.core, c.bank.address),
    ] + [mine] * 20


@pytest.mark.parametrize(("old_blocks", "new_blocks"), [(1, 2), (4, 1), (12, 14)])
def test_reorgs_are_rolled_back_and_reapplied(
    anvil: Chain, index_db: TestDatabase, old_blocks: int, new_blocks: int
) -> None:
    c, first = _deploy(anvil)
    base = c.active_note(1_000)
    other = c.active_note(2_000, to=c.suppliers[1])
    indexer = Indexer(
        http_web3(anvil.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        index_db.engine,
        IndexerConfig(contract=c.ledger.address, from_block=first, keep_blocks=32, poll_interval=0.05),
    )
    indexer.run_until(retry=False)
    snapshot = anvil.snapshot()
    fork = int(anvil.w3.eth.block_number)

    for op in _old_branch(c, base, other)[:old_blocks]:
        op()
    assert int(anvil.w3.eth.block_number) == fork + old_blocks
    indexer.run_until(retry=False)
    old_events = event_count(index_db)
    assert_reconciled(anvil.w3, index_db, c.ledger.address)

    anvil.revert(snapshot)
    _forget_nonces(c)
    for op in _new_branch(c, anvil, base)[:new_blocks]:
        op()
    assert int(anvil.w3.eth.block_number) == fork + new_blocks
    indexer.run_until(retry=False)

    assert indexer.stats.reorgs == 1
    assert indexer.stats.events_rolled_back == old_events - event_count(index_db) + _events_after(
        anvil, c, fork
    )
    assert event_count(index_db) == chain_log_count(anvil.w3, c.ledger.address)
    assert notes(index_db)[base].holder == c.suppliers[2].address
    assert_reconciled(anvil.w3, index_db, c.ledger.address)


def _rows(db: TestDatabase, model: type[Any]) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(select(model)).all())


def test_a_reorg_that_removes_a_discount_and_a_payment(anvil: Chain, index_db: TestDatabase) -> None:
    c, first = _deploy(anvil)
    ledger, op, core, bank = c.ledger, c.operator, c.core, c.bank
    s0, s1, _ = c.suppliers
    c.fund_tokens(bank, 10**9)
    c.fund_tokens(core, 10**9)
    root = c.active_note(1_000_000, to=s0, days=3)
    kept, sold = ledger.split(
        s0, root, [SplitPart(s0.address, 600_000), SplitPart(s1.address, 400_000)]
    ).created_note_ids()
    url = anvil.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    config = IndexerConfig(contract=ledger.address, from_block=first, keep_blocks=32, poll_interval=0.05)
    indexer = Indexer(http_web3(url), index_db.engine, config)
    indexer.run_until(retry=False)
    snapshot = anvil.snapshot()

    # The abandoned branch: a discount, a partial payment, a pending claim, a grace period, a token.
    offer = ledger.offer_discount(bank, sold, 390_000, anvil.now() + DAY).offer_id()
    ledger.accept_discount_offer(s1, offer)
    ledger.set_grace_period(op, DAY)
    eur = SettlementTokenClient.deploy(ledger, op, "EUR")
    ledger.set_settlement_token(op, "EUR", eur.address)
    anvil.advance_time(4 * DAY)
    ledger.pay(core, kept, 100_000)
    ledger.claim_payment(core, sold, 50_000, "CHQ-OLD")
    indexer.run_until(retry=False)
    assert_reconciled(anvil.w3, index_db, ledger.address)
    assert [(o.id, o.status) for o in _rows(index_db, DiscountOffer)] == [(offer, "accepted")]
    assert len(_rows(index_db, Payment)) == 1 and len(_rows(index_db, PaymentClaim)) == 1

    # The branch that wins: no discount; the obligor settles the whole tree at maturity.
    anvil.revert(snapshot)
    _forget_nonces(c)
    anvil.advance_time(4 * DAY)
    ledger.settle_root(core, root, 0, MAX_SETTLE_BATCH)
    indexer.run_until(retry=False)

    assert indexer.stats.reorgs == 1
    rows = notes(index_db)
    assert rows[sold].holder == s1.address
    assert [(rows[n].status, rows[n].paid_amount) for n in (kept, sold)] == [
        (NoteStatus.SETTLED, 600_000),
        (NoteStatus.SETTLED, 400_000),
    ]
    assert _rows(index_db, DiscountOffer) == [] and _rows(index_db, PaymentClaim) == []
    assert sorted((p.note_id, p.amount, p.remaining) for p in _rows(index_db, Payment)) == [
        (kept, 600_000, 0),
        (sold, 400_000, 0),
    ]
    assert [t.currency for t in _rows(index_db, SettlementToken)] == ["USD"]
    assert event_count(index_db) == chain_log_count(anvil.w3, ledger.address)
    assert_reconciled(anvil.w3, index_db, ledger.address)

    after_reorg = dump(index_db)
    wipe_index(index_db)
    Indexer(http_web3(url), index_db.engine, config).run_until(retry=False)
    assert dump(index_db) == after_reorg


def _events_after(anvil: Chain, c: Consortium, block: int) -> int:
    return len(
        anvil.w3.eth.get_logs({"address": c.ledger.address, "fromBlock": block + 1, "toBlock": "latest"})
    )


class FlakySource(WrappedSource):
    """A node connection that drops one request in three, at random, mid-batch included."""

    def __init__(self, inner: Any, seed: int) -> None:
        super().__init__(inner)
        self.rng = random.Random(seed)
        self.failures = 0

    def _maybe_fail(self) -> None:
        if self.rng.random() < 0.33:
            self.failures += 1
            raise LedgerUnavailable("connection reset by peer")

    def block_number(self) -> int:
        self._maybe_fail()
        return super().block_number()

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        self._maybe_fail()
        return super().get_logs(address, from_block, to_block)

    def get_headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader | None]:
        self._maybe_fail()
        return super().get_headers(numbers)


def test_node_outages_write_nothing_and_are_waited_out(anvil: Chain, index_db: TestDatabase) -> None:
    c, first = _deploy(anvil)
    split_workload(c, roots=3, parts=20, resplits=2)
    port = urlparse(anvil.w3.provider.endpoint_uri).port  # type: ignore[attr-defined]
    assert port is not None
    proxy = TcpProxy(port)
    config = IndexerConfig(
        contract=c.ledger.address, from_block=first, max_range=4, poll_interval=0.05, max_backoff=0.1
    )
    indexer = Indexer(http_web3(proxy.url, timeout=2), index_db.engine, config)

    # Node down before anything was indexed: the error surfaces, nothing is written.
    with pytest.raises(LedgerUnavailable):
        indexer.sync_once()
    with pytest.raises(LedgerUnavailable):
        indexer.run_until(retry=False)
    assert _checkpoint(index_db) is None and event_count(index_db) == 0

    # Embedded mode: the thread waits the outage out, catches up, goes on following the head.
    indexer.start()
    time.sleep(0.3)
    assert indexer.stats.errors > 0 and _checkpoint(index_db) is None
    proxy.up()
    _wait_for(lambda: _checkpoint(index_db) == int(anvil.w3.eth.block_number))
    proxy.down()
    errors = indexer.stats.errors
    root = c.active_note(1_000)
    c.ledger.split(
        c.suppliers[0], root, [SplitPart(c.suppliers[1].address, 1), SplitPart(c.suppliers[2].address, 999)]
    )
    _wait_for(lambda: indexer.stats.errors > errors)
    assert root not in notes(index_db)
    proxy.up()
    _wait_for(lambda: _checkpoint(index_db) == int(anvil.w3.eth.block_number))
    indexer.stop()
    proxy.down()
    assert notes(index_db)[root + 1].amount == 1
    assert_reconciled(anvil.w3, index_db, c.ledger.address)

    # A connection that drops requests mid-batch: retried until done, never half-applied.
    c.ledger.transfer(c.suppliers[1], root + 1, c.suppliers[2].address)
    split_workload(c, roots=2, parts=10)
    flaky = Indexer(
        anvil.w3, index_db.engine, config, source=FlakySource(indexer.source.__class__(anvil.w3), 7)
    )
    flaky.run_until(timeout=60)
    assert isinstance(flaky.source, FlakySource) and flaky.source.failures > 0
    assert event_count(index_db) == chain_log_count(anvil.w3, c.ledger.address)
    assert_reconciled(anvil.w3, index_db, c.ledger.address)


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_cli_index_and_reconcile(anvil: Chain, index_db: TestDatabase) -> None:
    c, first = _deploy(anvil)
    root = c.active_note(1_000)
    url = anvil.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    common = ["--rpc-url", url, "--database-url", index_db.url, "--contract", c.ledger.address]
    if index_db.schema:
        common += ["--database-schema", index_db.schema]
    runner = CliRunner()
    head = int(anvil.w3.eth.block_number)
    done = runner.invoke(app, ["index", *common, "--from-block", str(first), "--until-block", str(head)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["reconcile", *common, "--from-block", str(first)])
    assert done.exit_code == 0, done.output
    assert "0 differences" in done.output

    with index_db.engine.begin() as conn:
        conn.execute(update(Note).where(Note.id == root).values(status=1))
    done = runner.invoke(app, ["reconcile", *common, "--no-events"])
    assert done.exit_code == 1
    assert f"note {root}: status is 1 in SQL, 2 on chain" in done.output

    missing = runner.invoke(app, ["index", "--rpc-url", url, "--database-url", index_db.url], env={})
    assert missing.exit_code != 0
