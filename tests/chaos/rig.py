"""The chaos rig: a node of its own (anvil), a PostgreSQL schema of its own, and `credchain run
--workers 2` as a separate process group reaching the node through two proxies

    gateway -> TcpProxy (take the node away and back) -> FaultyRpcProxy (black hole, lost
    `eth_sendRawTransaction` answers) -> anvil

with the means to hurt it: kill -9 of the supervisor or of the whole group, restart on the same
port, terminate the gateway's PostgreSQL backends (found by their `application_name`), and revert
blocks. The chain is read directly (web3 on anvil), never through the gateway.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, create_engine, text
from web3 import Web3

from service.db.session import make_engine
from service.indexer.store import IndexStore
from service.ledger.artifacts import load_artifact
from service.ledger.types import LEDGER_CONTRACT
from tests.anvil import REPO_ROOT, AnvilNode, TcpProxy, free_port, start_anvil
from tests.api.test_e2e_http import RUN, _cli, _env, wait_until_answering
from tests.databases import PG_URL
from tests.rpc_faults import Faults, FaultyRpcProxy

NO_FAULTS = Faults(receipt_drop=0, receipt_delay=0, send_answer_drop=0, send_lost=0, reset=0)
READY_SECONDS = 60.0
ORPHAN_SECONDS = 5.0
"""How long the supervisor's workers get to notice its death and exit."""
_ACCESS_BELOW_500 = re.compile(r'"status": [1-4][0-9][0-9],')


def _group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def await_condition(predicate: Any, seconds: float, pause: float = 0.05) -> bool:
    """Poll `predicate` until true (-> True) or `seconds` have passed (-> False)."""
    deadline = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)


@dataclass
class Rig:
    node: AnvilNode
    schema: str
    tmp_path: Path
    app_name: str = field(default_factory=lambda: f"credchain-chaos-{uuid.uuid4().hex[:8]}")
    findings: list[str] = field(default_factory=list)
    """What the rig itself saw go wrong (workers outliving their supervisor, a failed restart)."""

    def __post_init__(self) -> None:
        self.w3 = Web3(Web3.HTTPProvider(self.node.url, request_kwargs={"timeout": 30}))
        self.faulty = FaultyRpcProxy(self.node.url, seed=14, faults=NO_FAULTS).start()
        self.tcp = TcpProxy(self.faulty.port)
        self.tcp.up()
        self.admin: Engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        self.index_engine = make_engine(PG_URL, schema=self.schema)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp_path / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # ------------------------------------------------------------------ set-up
    def init(self) -> None:
        """`credchain init` against the node itself (deploys, registers the operator)."""
        init = _cli("init", env=_env(self.node.url, self.schema))
        assert init.returncode == 0, init.stdout + init.stderr
        out = init.stdout
        contract = re.search(r"^CREDCHAIN_CONTRACT_ADDRESS=(0x[0-9a-fA-F]{40})$", out, re.M)
        from_block = re.search(r"^CREDCHAIN_FROM_BLOCK=([0-9]+)$", out, re.M)
        operator_key = re.search(r"operator API key \(shown once\): (\S+)$", out, re.M)
        relayer_key = re.search(r"^CREDCHAIN_RELAYER_KEY=(0x[0-9a-f]{64})$", out, re.M)
        assert contract and from_block and operator_key and relayer_key, out
        self.contract = Web3.to_checksum_address(contract[1])
        self.from_block = from_block[1]
        self.operator_key = operator_key[1]
        self.relayer = self.w3.eth.account.from_key(relayer_key[1]).address
        self.ledger = self.w3.eth.contract(address=self.contract, abi=load_artifact(LEDGER_CONTRACT).abi)
        self.env = _env(
            self.tcp.url,
            self.schema,
            CREDCHAIN_CONTRACT_ADDRESS=self.contract,
            CREDCHAIN_FROM_BLOCK=self.from_block,
            CREDCHAIN_RELAYER_KEY=relayer_key[1],
            CREDCHAIN_IDEMPOTENCY_LEASE_SECONDS="3",
            CREDCHAIN_RATE_LIMIT_READS="0",
            CREDCHAIN_RATE_LIMIT_EXPENSIVE="0",
            CREDCHAIN_RATE_LIMIT_WRITES="0",
        )
        # the gateway's connections give themselves away by name (see `terminate_backends`)
        self.env["CREDCHAIN_DATABASE_URL"] = f"{PG_URL}?application_name={self.app_name}"
        self.index = IndexStore(self.index_engine, self.contract)

    # ------------------------------------------------------------------ the gateway process
    def spawn(self) -> subprocess.Popen[bytes]:
        """`credchain run --workers 2` on this rig's port, a process group of its own."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== chaos rig: start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*RUN, "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def start(self) -> None:
        wait_until_answering(self.spawn(), f"{self.base}/readyz", self.log_path, READY_SECONDS)

    def _group_gone(self, pgid: int, seconds: float) -> bool:
        return await_condition(lambda: not _group_pids(pgid), seconds)

    def kill_supervisor(self) -> None:
        """kill -9 of `credchain run` alone, then restart on the same port. Workers that outlive it
        (and a restart refused because they hold the port) are findings; they are then killed so
        the run can go on."""
        assert self.process is not None
        pgid = self.process.pid
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        if not self._group_gone(pgid, ORPHAN_SECONDS):
            orphans = _group_pids(pgid)
            self.findings.append(
                f"kill -9 of the supervisor left {len(orphans)} process(es) of its group alive "
                f"{ORPHAN_SECONDS:.0f} s later"
            )
            restarted = self.spawn()
            exited = await_condition(lambda: restarted.poll() is not None, 20)
            tail = self.log_tail(15)
            if exited:
                in_use = "address already in use" in tail.lower()
                self.findings.append(
                    f"restart after kill -9 of the supervisor exited with {restarted.returncode}"
                    + (" (address already in use)" if in_use else "")
                )
            else:
                self.findings.append("restart after kill -9 of the supervisor: it did not exit within 20 s")
                os.killpg(restarted.pid, signal.SIGKILL)
                restarted.wait(timeout=10)
                self._group_gone(restarted.pid, 10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            assert self._group_gone(pgid, 10), f"orphans of group {pgid} survive SIGKILL"
        self.start()

    def kill_group(self) -> None:
        """kill -9 of the whole process group, then restart on the same port."""
        assert self.process is not None
        pgid = self.process.pid
        os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self._group_gone(pgid, 10), f"processes of group {pgid} survive SIGKILL"
        self.start()

    def stop(self) -> None:
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        if not self._group_gone(pgid, 5):  # a request stuck on the node would hold it for a minute
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self._group_gone(pgid, 10)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        self.tcp.down()
        self.faulty.stop()
        self.index_engine.dispose()
        self.admin.dispose()

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` of the gateway's log, leaving out the access log of answers below 500."""
        text_ = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        kept = [
            line
            for line in text_.splitlines()
            if '"logger": "credchain.access"' not in line or not _ACCESS_BELOW_500.search(line)
        ]
        return "\n".join(kept[-lines:])

    # ------------------------------------------------------------------ faults
    def terminate_backends(self) -> int:
        """pg_terminate_backend of every backend of the gateway's connections; how many."""
        with self.admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": self.app_name},
                ).all()
            )

    def rpc(self, method: str, *params: Any) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = requests.post(self.node.url, json=request, timeout=30).json()
        assert "error" not in answer, f"{method}: {answer}"
        return answer["result"]

    # ------------------------------------------------------------------ the chain, read directly
    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def index_caught_up(self, seconds: float = 30) -> bool:
        """Wait until the index's checkpoint is the chain's head block (by number and hash)."""

        def caught_up() -> bool:
            checkpoint = self.index.checkpoint()
            if checkpoint is None:
                return False
            head = self.w3.eth.get_block("latest")
            return bool(
                checkpoint.last_block == head["number"]
                and checkpoint.last_block_hash.lower().removeprefix("0x") == bytes(head["hash"]).hex()
            )

        return await_condition(caught_up, seconds, pause=0.1)


def start_rig(tmp_path: Path) -> Rig:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - environment without PostgreSQL
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    finally:
        admin.dispose()
    started = time.monotonic()
    rig = Rig(start_anvil(), schema, tmp_path)
    try:
        rig.init()
        initialised = time.monotonic()
        rig.start()
        print(
            f"chaos rig: anvil and init {initialised - started:.1f} s, "
            f"credchain run ready {time.monotonic() - initialised:.1f} s"
        )
    except BaseException:
        rig.close()
        rig.node.stop()
        drop_schema(schema)
        raise
    return rig


def drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


__all__ = ["NO_FAULTS", "Rig", "await_condition", "drop_schema", "start_rig"]
